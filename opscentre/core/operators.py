"""Operator accounts: only password hashes are stored (in Redis, so every web process sees them).
A new password or a disabled account ends every session of that operator (core/sessions.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import cache

from redis import Redis
from werkzeug.security import check_password_hash, generate_password_hash

from opscentre.core import keys, sessions

DEFAULT_OPERATOR = "operator"


def ensure_operator(redis: Redis, username: str = DEFAULT_OPERATOR) -> str | None:
    """Create the operator with a random password if absent. Returns the password once
    (the caller prints it), or None when the operator already exists."""
    password = secrets.token_urlsafe(12)
    created = redis.hsetnx(keys.OPERATORS, username, generate_password_hash(password))
    return password if created else None


def set_password(redis: Redis, username: str, password: str) -> int:
    """Set the password and end the operator's sessions; returns how many were ended."""
    redis.hset(keys.OPERATORS, username, generate_password_hash(password))
    return sessions.end_all(redis, username)


def disable(redis: Redis, username: str) -> int:
    """Refuse the operator's sign-ins from now on and end their sessions; returns how many."""
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


def _call(fn: Callable, *args):
    return fn(*args)


def _account(redis: Redis, username: str) -> tuple[bytes | None, bool]:
    pipe = redis.pipeline(transaction=False)
    pipe.hget(keys.OPERATORS, username)
    pipe.sismember(keys.OPERATORS_DISABLED, username)
    stored, disabled = pipe.execute()
    return stored, bool(disabled)


def verify(redis: Redis, username: str, password: str, run: Callable = _call) -> bool:
    """Whether the password is the user's (and the user is enabled). `run(check, hash, password)`
    runs the password check (~150 ms of CPU), e.g. off a server's event loop."""
    stored, disabled = _account(redis, username)
    matches = run(check_password_hash, stored.decode() if stored else dummy_hash(), password)
    return bool(stored) and matches and not disabled


def sign_in(redis: Redis, username: str, password: str, address: str | None, now: float,
            lifetimes: sessions.Lifetimes, run: Callable = _call) -> str | None:
    """Check the password and open a session: its id, or None when refused.

    A new password or a disable that lands during the check wins: both change the account before
    ending its sessions, so a session opened after that end is caught by reading the account
    again, and one opened before it is ended by it."""
    stored, disabled = _account(redis, username)
    matches = run(check_password_hash, stored.decode() if stored else dummy_hash(), password)
    if not (stored and matches and not disabled):
        return None
    session_id = sessions.create(redis, username, address, now, lifetimes)
    if _account(redis, username) != (stored, disabled):
        sessions.end(redis, session_id)
        return None
    return session_id

