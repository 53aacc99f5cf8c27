"""Transactions that take effect once, even when redis-py re-sends them.

When the connection drops after a MULTI/EXEC was sent and before its reply came back, redis-py's
retry sends the whole transaction again, and Redis runs it twice (`opscentre drill net-cut`). A
HSET, SET or DEL run twice leaves the same state; an XADD or an INCR does not (a second audit
entry, stage history record or outbox message; a version counted twice). So a transaction here
starts by claiming a fresh write id (INCR of its own key: 1 on the first run) and runs each of its
XADDs and INCRs through ONCE_LUA, which does nothing when the claim is past 1 — an INCR then
answers the counter's current value, as the first run did. core/store.py's poll writes do the
same with their own scripts (the same claim keys).
"""

from __future__ import annotations

import uuid
from typing import Any

from redis import Redis

from opscentre.core import keys

CLAIM_TTL_S = 600  # longer than any retry of the same transaction

# KEYS: the claim, the key written. ARGV: the command (XADD or INCR), then its arguments.
ONCE_LUA = """
if redis.call('GET', KEYS[1]) ~= '1' then
  if ARGV[1] == 'INCR' then return tonumber(redis.call('GET', KEYS[2]) or '0') end
  return false
end
return redis.call(ARGV[1], KEYS[2], unpack(ARGV, 2))
"""


class OncePipeline:
    """A transaction pipeline whose XADDs and INCRs take effect once; every other command is the
    pipeline's own (they are idempotent: HSET, SET, DEL...). `execute()` answers as the plain
    pipeline would, the claim's own replies left out."""

    def __init__(self, redis: Redis, pipe=None):
        self._pipe = pipe if pipe is not None else redis.pipeline(transaction=True)
        self._script = redis.register_script(ONCE_LUA)
        self._claim: str | None = None

    def claim(self) -> OncePipeline:
        """Queue the claim: first thing in the transaction (after MULTI, under WATCH)."""
        self._claim = keys.write_once(uuid.uuid4().hex)
        self._pipe.incr(self._claim)
        self._pipe.expire(self._claim, CLAIM_TTL_S)
        return self

    def xadd(self, name: str, fields: dict, maxlen: int | None = None, approximate: bool = True,
             minid: int | str | None = None) -> OncePipeline:
        args: list[Any] = ["XADD"]
        if maxlen is not None:
            args += ["MAXLEN", "~" if approximate else "=", maxlen]
        elif minid is not None:
            args += ["MINID", minid]
        args.append("*")
        for field, value in fields.items():
            args += [field, value]
        self._script(keys=[self._claim_key(), name], args=args, client=self._pipe)
        return self

    def incr(self, name: str) -> OncePipeline:
        self._script(keys=[self._claim_key(), name], args=["INCR"], client=self._pipe)
        return self

    def _claim_key(self) -> str:
        if self._claim is None:
            raise RuntimeError("claim() first: the claim opens the transaction")
        return self._claim

    def execute(self) -> list:
        replies = self._pipe.execute()
        return replies[2:] if self._claim is not None else replies

    def __getattr__(self, name: str):
        return getattr(self._pipe, name)

    def __enter__(self) -> OncePipeline:
        return self

    def __exit__(self, *exc) -> None:
        self._pipe.reset()
