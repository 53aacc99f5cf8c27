"""Operator sessions kept in Redis, so that signing out, a new password or a disabled account
ends them in every web process and every browser (a signed cookie only names its session).

A session is a hash `keys.session(id)` {user, created_at, last_seen, address} whose TTL is the
idle timeout, refreshed by each request but never past created_at + the absolute lifetime;
`keys.operator_sessions(user)` holds the user's session ids so that all of them can be ended.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from redis import Redis

from opscentre.core import keys
from opscentre.core.errors import ConfigError

DEFAULT_HOURS = 12.0
DEFAULT_IDLE_MINUTES = 60.0

# One round trip per console request, and no half record re-created by a request that races a
# sign-out (an HSET on a deleted key would bring it back without its user).
TOUCH_LUA = """
local created = redis.call('HGET', KEYS[1], 'created_at')
if not created then return false end
local left = tonumber(ARGV[3]) - (tonumber(ARGV[1]) - tonumber(created))
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('HSET', KEYS[1], 'last_seen', ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(math.min(tonumber(ARGV[2]), left) * 1000))
return redis.call('HGET', KEYS[1], 'user')
"""


@dataclass(frozen=True)
class Lifetimes:
    absolute_s: float  # from sign-in; activity does not extend it
    idle_s: float  # without a request for this long, the session ends

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Lifetimes:
        """OPSCENTRE_SESSION_HOURS (default 12) and OPSCENTRE_SESSION_IDLE_MINUTES (default 60)."""
        env = os.environ if env is None else env
        problems: list[str] = []

        def positive(name: str, default: float) -> float:
            raw = (env.get(name) or "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = 0.0
            if not value > 0:
                problems.append(f"{name}={raw!r}: expected a number > 0")
            return value

        lifetimes = cls(absolute_s=positive("OPSCENTRE_SESSION_HOURS", DEFAULT_HOURS) * 3600,
                        idle_s=positive("OPSCENTRE_SESSION_IDLE_MINUTES", DEFAULT_IDLE_MINUTES) * 60)
        if problems:
            raise ConfigError(problems)
        return lifetimes


def create(redis: Redis, user: str, address: str | None, now: float, lifetimes: Lifetimes) -> str:
    """A new session for `user`; returns its id (random, 256 bits)."""
    session_id = secrets.token_urlsafe(32)
    key = keys.session(session_id)
    pipe = redis.pipeline(transaction=True)
    pipe.hset(key, mapping={"user": user, "created_at": now, "last_seen": now, "address": address or ""})
    pipe.pexpire(key, int(min(lifetimes.idle_s, lifetimes.absolute_s) * 1000))
    pipe.sadd(keys.operator_sessions(user), session_id)
    pipe.expire(keys.operator_sessions(user), int(lifetimes.absolute_s) + 1)
    pipe.execute()
    return session_id


def touch(redis: Redis, session_id: str, now: float, lifetimes: Lifetimes) -> str | None:
    """The session's user, its idle timeout restarted; None when the session has ended (signed out,
    revoked, idle too long, or older than the absolute lifetime)."""
    user = redis.register_script(TOUCH_LUA)(
        keys=[keys.session(session_id)], args=[repr(now), int(lifetimes.idle_s * 1000), repr(lifetimes.absolute_s)])
    return user.decode() if user else None


def end(redis: Redis, session_id: str) -> None:
    key = keys.session(session_id)
    user = redis.hget(key, "user")
    pipe = redis.pipeline(transaction=True)
    pipe.delete(key)
    if user:
        pipe.srem(keys.operator_sessions(user.decode()), session_id)
    pipe.execute()


def end_all(redis: Redis, user: str) -> int:
    """End every session of `user`; returns how many were still alive. A session created while
    this runs is not in the ids read, and stays listed for the next call."""
    ids = redis.smembers(keys.operator_sessions(user))
    if not ids:
        return 0
    pipe = redis.pipeline(transaction=True)
    pipe.delete(*[keys.session(i.decode()) for i in ids])
    pipe.srem(keys.operator_sessions(user), *ids)
    ended, _ = pipe.execute()
    return ended
