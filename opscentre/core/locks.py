"""Short Redis locks held by one process at a time (a feed's poll, the evaluation): taken with
SET NX EX and a random token, released or renewed only by their holder.

A token starts with the run id of the Redis server that granted it. Redis keeps the lock
across a restart (AOF) or a failover (replication), but the holder lost its connection then
and its work failed: a lock granted by an earlier server is void and is taken over, instead of
skipping every poll of the feed until the lock expires (minutes). Within one server's run the
lock is exclusive; a value without a run id (someone else's) counts as held until it expires.

A holder that dies while Redis lives on (a worker SIGKILLed mid-poll: the `worker-kill` drill)
cannot release its lock, so a lock that guards long work is a lease: taken for LEASE_S and
renewed by a thread of its holder while the work runs (`Lease`). Its holder's death leaves it
at most LEASE_S, however long the work may take.
"""

from __future__ import annotations

import logging
import secrets
import threading

import redis as redis_errors
from redis import Redis

log = logging.getLogger("opscentre.locks")

LEASE_S = 15  # a dead holder's lease lapses within this; renewed every LEASE_S / 3 while held

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


class Lease:
    """`with Lease(redis, key) as lease:` — lease.token is None when someone else holds the
    lock; otherwise it is held, renewed every LEASE_S / 3 by a daemon thread, and released on
    exit. A renewal that cannot reach Redis is tried again at the next turn (meanwhile the
    lease may lapse: the work then runs unguarded, as after a restart of Redis)."""

    def __init__(self, redis: Redis, key: str, seconds: int = LEASE_S):
        self.redis, self.key, self.seconds = redis, key, seconds
        self.token: str | None = None
        self._done = threading.Event()

    def __enter__(self) -> Lease:
        self.token = acquire(self.redis, self.key, self.seconds)
        if self.token is not None:
            threading.Thread(target=self._renew, daemon=True, name=f"lease {self.key}").start()
        return self

    def _renew(self) -> None:
        while not self._done.wait(self.seconds / 3):
            try:
                renew(self.redis, self.key, self.token, self.seconds)
            except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
                log.debug("lease %s not renewed: %s", self.key, exc)

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self.token is not None:
            release(self.redis, self.key, self.token)
