"""Operator accounts: only password hashes are stored (in Redis, so every web process sees them),
with each account's role (core/roles.py). A new password or a disabled account ends every session
of that operator (core/sessions.py); a new role counts from the next request (it is read on each
checked action). An account without a stored role was made before roles existed: it is an admin
(the first-start account), and `migrate_roles` writes that down."""

from __future__ import annotations

import secrets
from functools import cache

from redis import Redis
from werkzeug.security import check_password_hash, generate_password_hash

from opscentre.core import keys, sessions
from opscentre.core.roles import Role, stored_role

DEFAULT_OPERATOR = "operator"
MAX_USERNAME = 64
MIN_PASSWORD, MAX_PASSWORD = 8, 256
USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")

# Account and role in one step: a sign-in never sees the account without its role.
_ADD = """if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]); redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]); return 1"""
_SET_ROLE = """if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]); return 1"""
# The console never loses its last enabled admin (who else could add one from the console?): the
# check and the change in one step, so two admins demoting each other at once cannot both win.
# KEYS: accounts, roles, disabled; ARGV: name, the role it would have, whether it would be disabled.
_KEEP_AN_ADMIN = """
local function enabled_admin(name)
  local role = redis.call('HGET', KEYS[2], name)
  return (not role or role == 'admin') and redis.call('SISMEMBER', KEYS[3], name) == 0
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if enabled_admin(ARGV[1]) and (ARGV[2] ~= 'admin' or ARGV[3] == '1') then
  local admins = 0
  for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
    if enabled_admin(name) then admins = admins + 1 end
  end
  if admins <= 1 then return -1 end
end
if ARGV[3] == '1' then redis.call('SADD', KEYS[3], ARGV[1]) else redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 1"""
LAST_ADMIN = "{name} is the last enabled admin: make another account admin first"


class AccountError(ValueError):
    """A refused account change, said in one line."""


def check_username(username: str) -> str:
    username = (username or "").strip()
    if not username or len(username) > MAX_USERNAME or not set(username) <= USERNAME_CHARS:
        raise AccountError(f"a username is 1 to {MAX_USERNAME} characters: letters, digits and . _ @ -")
    return username


def check_password(password: str) -> str:
    if not (password or "").strip():
        raise AccountError("the password is empty")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"a password holds at most {MAX_PASSWORD} characters")
    return password


def ensure_operator(redis: Redis, username: str = DEFAULT_OPERATOR) -> str | None:
    """Create the first-start account (an admin) with a random password if absent. Returns the
    password once (the caller prints it), or None when the account already exists."""
    password = secrets.token_urlsafe(12)
    created = redis.eval(_ADD, 2, keys.OPERATORS, keys.OPERATOR_ROLES, username, generate_password_hash(password),
                         Role.ADMIN.value)
    migrate_roles(redis)
    return password if created else None


def add(redis: Redis, username: str, password: str, role: Role) -> None:
    """A new account with its role; AccountError when the name is taken or the input is bad."""
    username, password = check_username(username), check_password(password)
    if not redis.eval(_ADD, 2, keys.OPERATORS, keys.OPERATOR_ROLES, username, generate_password_hash(password),
                      Role(role).value):
        raise AccountError(f"user {username!r} already exists (change it with `users passwd` / `users role`)")


def exists(redis: Redis, username: str) -> bool:
    return bool(redis.hexists(keys.OPERATORS, username))


def role_of(redis: Redis, username: str) -> Role | None:
    """The account's role, or None when there is no such account."""
    pipe = redis.pipeline(transaction=False)
    pipe.hexists(keys.OPERATORS, username)
    pipe.hget(keys.OPERATOR_ROLES, username)
    known, raw = pipe.execute()
    return stored_role(raw) if known else None


def set_role(redis: Redis, username: str, role: Role, keep_an_admin: bool = False) -> None:
    """The account's new role; with `keep_an_admin` (the admin actions, core/user_admin.py) an
    AccountError instead when it would leave no enabled admin."""
    if keep_an_admin:
        done = redis.eval(_KEEP_AN_ADMIN, 3, keys.OPERATORS, keys.OPERATOR_ROLES, keys.OPERATORS_DISABLED,
                          username, Role(role).value, "0")
    else:
        done = redis.eval(_SET_ROLE, 2, keys.OPERATORS, keys.OPERATOR_ROLES, username, Role(role).value)
    if done == -1:
        raise AccountError(LAST_ADMIN.format(name=username))
    if not done:
        raise AccountError(f"no user {username!r}")


def migrate_roles(redis: Redis) -> list[str]:
    """Write `admin` for every account that has no role yet (made before roles existed); their names."""
    names = [n.decode() for n in redis.hkeys(keys.OPERATORS)]
    have = redis.hmget(keys.OPERATOR_ROLES, names) if names else []
    migrated = [n for n, r in zip(names, have) if r is None and redis.hsetnx(keys.OPERATOR_ROLES, n, Role.ADMIN.value)]
    return migrated


def accounts(redis: Redis) -> list[dict]:
    """Every account: username, role, disabled — sorted by name (never a hash)."""
    pipe = redis.pipeline(transaction=False)
    pipe.hkeys(keys.OPERATORS)
    pipe.hgetall(keys.OPERATOR_ROLES)
    pipe.smembers(keys.OPERATORS_DISABLED)
    names, roles, disabled = pipe.execute()
    return [{"username": n.decode(), "role": stored_role(roles.get(n)).value, "disabled": n in disabled}
            for n in sorted(names)]


def set_password(redis: Redis, username: str, password: str) -> int:
    """Set the password and end the operator's sessions; returns how many were ended."""
    redis.hset(keys.OPERATORS, username, generate_password_hash(password))
    return sessions.end_all(redis, username)


def change_password(redis: Redis, username: str, password: str) -> int:
    """`set_password` for an existing account only, the password checked first."""
    check_password(password)
    if not exists(redis, username):
        raise AccountError(f"no user {username!r}")
    return set_password(redis, username, password)


def disable(redis: Redis, username: str, keep_an_admin: bool = False) -> int:
    """Refuse the operator's sign-ins from now on and end their sessions; returns how many. With
    `keep_an_admin`, an AccountError instead for no such account or the last enabled admin."""
    if keep_an_admin:
        done = redis.eval(_KEEP_AN_ADMIN, 3, keys.OPERATORS, keys.OPERATOR_ROLES, keys.OPERATORS_DISABLED,
                          username, "", "1")
        if done == -1:
            raise AccountError(LAST_ADMIN.format(name=username))
        if not done:
            raise AccountError(f"no user {username!r}")
    else:
        redis.sadd(keys.OPERATORS_DISABLED, username)
    return sessions.end_all(redis, username)


def enable(redis: Redis, username: str) -> None:
    redis.srem(keys.OPERATORS_DISABLED, username)


@cache
def dummy_hash() -> str:
    """A hash made the way real ones are, checked for unknown users so that a sign-in costs the
    same whether or not the user exists. The web app computes it at start (not at the first
    unknown user, which would be slower once)."""
    return generate_password_hash(secrets.token_urlsafe(16))


def _account(redis: Redis, username: str) -> tuple[bytes | None, bool]:
    pipe = redis.pipeline(transaction=False)
    pipe.hget(keys.OPERATORS, username)
    pipe.sismember(keys.OPERATORS_DISABLED, username)
    stored, disabled = pipe.execute()
    return stored, bool(disabled)


def verify(redis: Redis, username: str, password: str) -> bool:
    """Whether the password is the user's (and the user is enabled); the check costs ~150 ms of CPU."""
    stored, disabled = _account(redis, username)
    matches = check_password_hash(stored.decode() if stored else dummy_hash(), password)
    return bool(stored) and matches and not disabled


def sign_in(redis: Redis, username: str, password: str, address: str | None, now: float,
            lifetimes: sessions.Lifetimes) -> str | None:
    """Check the password and open a session: its id, or None when refused.

    A new password or a disable that lands during the check wins: both change the account before
    ending its sessions, so a session opened after that end is caught by reading the account
    again, and one opened before it is ended by it."""
    stored, disabled = _account(redis, username)
    matches = check_password_hash(stored.decode() if stored else dummy_hash(), password)
    if not (stored and matches and not disabled):
        return None
    session_id = sessions.create(redis, username, address, now, lifetimes)
    if _account(redis, username) != (stored, disabled):
        sessions.end(redis, session_id)
        return None
    return session_id

