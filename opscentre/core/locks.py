"""Short Redis locks held by one process at a time (a feed's poll, the evaluation): taken with
SET NX EX and a random token, released or renewed only by their holder."""

from __future__ import annotations

import secrets

from redis import Redis

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"


def acquire(redis: Redis, key: str, seconds: int) -> str | None:
    """The holder's token, or None when someone else holds the lock."""
    token = secrets.token_hex(8)
    return token if redis.set(key, token, nx=True, ex=seconds) else None


def release(redis: Redis, key: str, token: str) -> None:
    """Let go — only if still ours (a slow holder's lock may have expired and been retaken)."""
    redis.eval(_RELEASE, 1, key, token)


def renew(redis: Redis, key: str, token: str, seconds: int) -> None:
    redis.eval(_RENEW, 1, key, token, seconds)
