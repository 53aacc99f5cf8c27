"""Operator accounts: only password hashes are stored (in Redis, so every web process sees them)."""

from __future__ import annotations

import secrets

from redis import Redis
from werkzeug.security import check_password_hash, generate_password_hash

from opscentre.core import keys

DEFAULT_OPERATOR = "operator"


def ensure_operator(redis: Redis, username: str = DEFAULT_OPERATOR) -> str | None:
    """Create the operator with a random password if absent. Returns the password once
    (the caller prints it), or None when the operator already exists."""
    password = secrets.token_urlsafe(12)
    created = redis.hsetnx(keys.OPERATORS, username, generate_password_hash(password))
    return password if created else None


def set_password(redis: Redis, username: str, password: str) -> None:
    redis.hset(keys.OPERATORS, username, generate_password_hash(password))


def verify(redis: Redis, username: str, password: str) -> bool:
    stored = redis.hget(keys.OPERATORS, username)
    return bool(stored) and check_password_hash(stored.decode(), password)


def exists(redis: Redis, username: str) -> bool:
    return bool(redis.hexists(keys.OPERATORS, username))
