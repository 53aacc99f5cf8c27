"""The account changes an admin makes, each with its audit entry: one implementation for
`opscentre users ...` (actor "cli") and the console's Users page (actor: the signed-in admin).

Who may call these is the caller's check (the CLI runs as the machine's user; the page's callbacks
are guarded by Action.USERS). What these add to core/operators.py: the audit entry, a password
generated when none is given (returned once, never stored but as its hash), and the rule that a
change never leaves the console without an enabled admin (a role change or a disable that would
is refused, atomically, in operators.py).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

import orjson
from redis import Redis

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.roles import Role

SIGN_INS_LOOKED_AT = 10_000  # the newest audit entries read for each user's last sign-in


def generated_password() -> str:
    return secrets.token_urlsafe(12)


def _record(redis: Redis, actor: str, action: str, username: str, details: dict[str, Any]) -> None:
    AlertStore(redis).record(actor, action, username, details, time.time())


def add_user(redis: Redis, actor: str, username: str, role: Role, password: str | None = None) -> str:
    """A new account; returns its password (the one given, or a generated one to show once).
    AccountError for a bad or taken name, or a bad password."""
    password = generated_password() if password is None else password
    operators.add(redis, username, password, Role(role))
    _record(redis, actor, "user-added", username.strip(), {"role": Role(role).value})
    return password


def change_role(redis: Redis, actor: str, username: str, role: Role) -> Role | None:
    """The account's role before; AccountError for no such account or the last enabled admin."""
    before = operators.role_of(redis, username)
    operators.set_role(redis, username, Role(role), keep_an_admin=True)
    _record(redis, actor, "role-changed", username, {"before": before and before.value, "role": Role(role).value})
    return before


def disable_user(redis: Redis, actor: str, username: str) -> int:
    """Sign-ins refused and sessions ended (how many); AccountError for no such account or the
    last enabled admin."""
    ended = operators.disable(redis, username, keep_an_admin=True)
    _record(redis, actor, "user-disabled", username, {"sessions_ended": ended})
    return ended


def enable_user(redis: Redis, actor: str, username: str) -> None:
    if not operators.exists(redis, username):
        raise operators.AccountError(f"no user {username!r}")
    operators.enable(redis, username)
    _record(redis, actor, "user-enabled", username, {})


def reset_password(redis: Redis, actor: str, username: str, password: str | None = None) -> tuple[str, int]:
    """(the new password — given, or generated to show once —, how many sessions it ended)."""
    if not operators.exists(redis, username):
        raise operators.AccountError(f"no user {username!r} (add it with `opscentre users add {username}`)")
    password = generated_password() if password is None else password
    ended = operators.change_password(redis, username, password)
    _record(redis, actor, "password-set", username, {"sessions_ended": ended})
    return password, ended


def last_sign_ins(redis: Redis, usernames: Iterable[str], look_at: int = SIGN_INS_LOOKED_AT) -> dict[str, float]:
    """When each user last signed in (unix s), from the newest `look_at` audit entries: a user
    not found there is left out (older, or never)."""
    wanted, found = set(usernames), {}
    for _id, fields in redis.xrevrange(keys.AUDIT, count=look_at):
        entry = orjson.loads(fields[b"d"])
        actor = entry.get("actor")
        if entry.get("action") == "signed-in" and actor in wanted and actor not in found:
            found[actor] = float(entry["at"])
            if len(found) == len(wanted):
                break
    return found
