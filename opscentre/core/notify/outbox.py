"""The durable outbox: every notification the alert engine decides on, in a Redis stream.

Evaluations append (in the same transaction as the alert changes that caused them); each
channel reads the stream through its own consumer group, so a notification is delivered at
least once per channel even if a worker dies between reading and acknowledging it: entries
pending for longer than CLAIM_AFTER_MS are claimed again by the next delivery run. This is
the seam the SMS and webhook channels plug into.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from redis import Redis
from redis.exceptions import ResponseError

from opscentre.core import keys

RETENTION_S = 7 * 86400
CLAIM_AFTER_MS = 60_000


def enqueue(pipe, notification: dict[str, Any], wall_now: float) -> None:
    """Add one notification to the outbox (on a pipeline, so it commits with its cause)."""
    record = {"id": "n-" + secrets.token_hex(6), **notification}
    pipe.xadd(keys.OUTBOX, {"d": orjson.dumps(record)}, minid=int((wall_now - RETENTION_S) * 1000))


def read(redis: Redis, channel: str, consumer: str, count: int = 100,
         block_ms: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Entries for this channel: first any left pending too long by a dead consumer, then new ones
    (waiting up to `block_ms` for one when there are none, so a long-running reader sees a
    notification the moment it is written)."""
    group = keys.outbox_group(channel)
    try:
        redis.xgroup_create(keys.OUTBOX, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    _next, claimed, *_ = redis.xautoclaim(keys.OUTBOX, group, consumer, CLAIM_AFTER_MS, start_id="0-0", count=count)
    fresh = redis.xreadgroup(group, consumer, {keys.OUTBOX: ">"}, count=count,
                             block=None if claimed else block_ms) or []
    entries = list(claimed) + [entry for _stream, items in fresh for entry in items]
    return [(entry_id.decode() if isinstance(entry_id, bytes) else entry_id, orjson.loads(fields[b"d"]))
            for entry_id, fields in entries if fields]


def acknowledge(redis: Redis, channel: str, entry_ids: list[str]) -> None:
    if entry_ids:
        redis.xack(keys.OUTBOX, keys.outbox_group(channel), *entry_ids)


def recent(redis: Redis, count: int = 50) -> list[dict[str, Any]]:
    return [orjson.loads(fields[b"d"]) for _id, fields in redis.xrevrange(keys.OUTBOX, count=count)]
