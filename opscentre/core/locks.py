"""Short Redis locks held by one process at a time (a feed's poll, the evaluation): taken with
SET NX EX and a random token, released or renewed only by their holder.

A token starts with the run id of the Redis server that granted it. Redis keeps the lock
across a restart (AOF) or a failover (replication), but the holder lost its connection then
and its work failed: a lock granted by an earlier server is void and is taken over, instead of
skipping every poll of the feed until the lock expires (minutes). Within one server's run the
lock is exclusive; a value without a run id (someone else's) counts as held until it expires.
"""

from __future__ import annotations

import secrets

from redis import Redis

_ACQUIRE = """
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
local held = redis.call('GET', KEYS[1])
if held then
    local granted_by = string.match(held, '^(%x+):')
    if granted_by == nil or granted_by == run_id then return false end
end
local token = run_id .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'EX', ARGV[2])
return token
"""
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"


def acquire(redis: Redis, key: str, seconds: int) -> str | None:
    """The holder's token, or None when someone else holds the lock."""
    token = redis.eval(_ACQUIRE, 1, key, secrets.token_hex(8), seconds)
    return token.decode() if isinstance(token, bytes) else token


def release(redis: Redis, key: str, token: str) -> None:
    """Let go — only if still ours (a slow holder's lock may have expired and been retaken)."""
    redis.eval(_RELEASE, 1, key, token)


def renew(redis: Redis, key: str, token: str, seconds: int) -> None:
    redis.eval(_RENEW, 1, key, token, seconds)
