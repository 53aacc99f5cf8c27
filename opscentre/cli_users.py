"""`opscentre users add|passwd|role|disable|enable|list`: console accounts and their roles.

The command runs as the machine's user (whoever can reach Redis), not as a role. A password is
read from stdin when stdin is not a terminal (one line); with nothing on stdin, or at a
terminal, a random one is made and printed once. Only its hash is kept. Every change is in the
audit stream with actor `cli` (core/user_admin.py: the same actions as the console's Users page,
which also refuse to leave no enabled admin). `opscentre set-password --user NAME` is the older
name of `users passwd NAME`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import orjson

from opscentre.core.roles import ORDER, Role, may, parse_role

ROLES_HELP = ("viewer: sees everything, changes nothing; operator: acknowledge, notes, silence, resolve; "
              "supervisor: also the stage by hand, approvals of mass sends (two-person rule), retries; "
              "admin: also users, recipients, webhooks. Each role may do what the ones before it may.")


def _role(text: str) -> Role:
    try:
        return parse_role(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    c = command("users", "console accounts and their roles: add, passwd, role, disable, enable, list")
    c.description = ("Console accounts and their roles. " + ROLES_HELP + " A password is read from stdin "
                     "(one line) when stdin is not a terminal, else made at random and printed once. An account "
                     "made before roles existed (the first-start 'operator') is an admin. "
                     "`opscentre set-password --user NAME` is the same as `users passwd NAME`.")
    sub = c.add_subparsers(dest="users_action", required=True, metavar="ACTION")
    a = sub.add_parser("add", help="add an account (password from stdin, or generated)")
    a.add_argument("username")
    a.add_argument("--role", type=_role, default=Role.OPERATOR, help=f"one of {', '.join(ORDER)} (default operator)")
    a = sub.add_parser("passwd", help="set an account's password (stdin, or generated); ends its sessions")
    a.add_argument("username")
    a = sub.add_parser("role", help="change an account's role (counts from its next action)")
    a.add_argument("username")
    a.add_argument("role", type=_role, help=", ".join(ORDER))
    a = sub.add_parser("disable", help="refuse an account's sign-ins and end its sessions")
    a.add_argument("username")
    a = sub.add_parser("enable", help="let a disabled account sign in again")
    a.add_argument("username")
    a = sub.add_parser("list", help="every account with its role and whether it is disabled")
    a.add_argument("--json", action="store_true")


def _fail(message: str) -> int:
    print(f"opscentre: {message}", file=sys.stderr)
    return 1


def _password(username: str) -> tuple[str, bool]:
    """(password, generated): one line of stdin when it is not a terminal; at a terminal or on an
    empty stdin (EOF), a random one. A blank line is kept as given (and refused as too short)."""
    line = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.readline()
    if line:
        return line.rstrip("\r\n"), False
    from opscentre.core.user_admin import generated_password

    return generated_password(), True


def cmd_users(args) -> int:
    from opscentre.cli import _store
    from opscentre.core import operators, user_admin

    redis = _store().redis
    action, name = args.users_action, getattr(args, "username", "")
    try:
        if action == "list":
            return _list(operators.accounts(redis), args.json)
        if action == "add":
            operators.check_username(name)
            if operators.exists(redis, name):  # (before asking for a password; add() checks again, atomically)
                return _fail(f"user {name!r} already exists (change it with `users passwd` / `users role`)")
            password, generated = _password(name)
            user_admin.add_user(redis, "cli", name, args.role, password)
            _show_generated(name, password, generated)
            print(f"user {name} added as {args.role.value}")
            return 0
        if action == "passwd":
            return cmd_passwd(redis, name)
        if action == "role":
            before = user_admin.change_role(redis, "cli", name, args.role)
            print(f"user {name} is now {args.role.value} (from {before.value if before else '-'})")
            return 0
        if action == "disable":
            ended = user_admin.disable_user(redis, "cli", name)
            print(f"user {name} disabled; {ended} signed-in session(s) ended")
        else:
            user_admin.enable_user(redis, "cli", name)
            print(f"user {name} enabled")
        return 0
    except operators.AccountError as exc:
        return _fail(str(exc))


def cmd_passwd(redis, name: str) -> int:
    from opscentre.core import operators, user_admin

    if not operators.exists(redis, name):
        return _fail(f"no user {name!r} (add it with `opscentre users add {name}`)")
    password, generated = _password(name)
    password, ended = user_admin.reset_password(redis, "cli", name, password)
    _show_generated(name, password, generated)
    print(f"password of {name} updated; {ended} signed-in session(s) ended")
    return 0


def cmd_set_password(args) -> int:
    """`opscentre set-password --user NAME`: the older name of `users passwd NAME`."""
    from opscentre.cli import _store
    from opscentre.core import operators

    redis = _store().redis
    try:
        return cmd_passwd(redis, args.user)
    except operators.AccountError as exc:
        return _fail(str(exc))


def _show_generated(name: str, password: str, generated: bool) -> None:
    if generated:
        print(f"new password for {name}: {password}  (shown once: only its hash is kept)")


def _list(rows: list[dict], as_json: bool) -> int:
    if as_json:
        sys.stdout.buffer.write(orjson.dumps([{**r, "may": may(Role(r["role"]))} for r in rows]) + b"\n")
        return 0
    for r in rows:
        print(f"{r['username']:<24} {r['role']:<10} {'disabled' if r['disabled'] else 'enabled'}")
    print(f"{len(rows)} user(s)")
    return 0


COMMANDS = {"users": cmd_users, "set-password": cmd_set_password}
