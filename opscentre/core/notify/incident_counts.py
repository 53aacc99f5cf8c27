"""Per-incident delivery counts: how many of an incident's messages are in each state, by channel.

A hash per incident (keys.incident_delivery_counts), field "{channel}:{state}" -> count. It is
written only beside a delivery's own change — by the Lua script that adds new deliveries, and by
the writes every transition applies (delivery_store._writes, under WATCH/MULTI or in the batch
compare-and-set script) — so a count moves exactly when a delivery's state does: a delivery added
twice (skipped) or an outcome recorded twice (no change) counts once, and the counts never drift
from the deliveries. The hash expires `ttl` after its last change (the store passes the longest
retention of a delivery).

The console reads the incidents and their counts together in one round trip
(`IncidentsWithCounts`).
"""

from __future__ import annotations

from collections.abc import Iterable

from redis import Redis

from opscentre.core import keys
from opscentre.core.notify.deliveries import Delivery

Counts = dict[str, dict[str, int]]  # channel -> state -> how many


def field(channel: str, state: str) -> str:
    return f"{channel}:{state}"


def add_writes(d: Delivery, ttl: int) -> list[list[str]]:
    """The commands that count a new delivery (none when it belongs to no incident)."""
    if not d.incident_id or not d.counted:
        return []
    key = keys.incident_delivery_counts(d.incident_id)
    return [["HINCRBY", key, field(d.channel, d.state.value), "1"], ["EXPIRE", key, str(ttl)]]


def change_writes(before: Delivery, after: Delivery, ttl: int) -> list[list[str]]:
    """The commands that move a delivery's count from its old state to its new one (none for a
    delivery stored before the counts existed: it was never counted, so it is never moved)."""
    if not after.incident_id or not before.counted or before.state is after.state:
        return []
    key = keys.incident_delivery_counts(after.incident_id)
    return [["HINCRBY", key, field(before.channel, before.state.value), "-1"],
            ["HINCRBY", key, field(after.channel, after.state.value), "1"], ["EXPIRE", key, str(ttl)]]


def parse(raw: dict[bytes, bytes] | Iterable) -> Counts:
    """A counts hash (as HGETALL returns it, a dict or a flat list) as channel -> state -> n > 0."""
    pairs = raw.items() if isinstance(raw, dict) else zip(list(raw)[::2], list(raw)[1::2], strict=True)
    out: Counts = {}
    for name, value in pairs:
        n = int(value)
        if n > 0:
            channel, _, state = (name.decode() if isinstance(name, bytes) else name).partition(":")
            out.setdefault(channel, {})[state] = n
    return out


def read(redis: Redis, incident_ids: Iterable[str]) -> dict[str, Counts]:
    """Each incident's counts, in one round trip (an incident with no deliveries: {})."""
    ids = list(incident_ids)
    pipe = redis.pipeline(transaction=False)
    for incident_id in ids:
        pipe.hgetall(keys.incident_delivery_counts(incident_id))
    return {i: parse(raw) for i, raw in zip(ids, pipe.execute(), strict=True)}


# KEYS[1]: the incidents hash; ARGV[1]: the counts keys' prefix. Returns id, JSON, counts (flat), ...
# (The counts keys are named from the incidents found, so they cannot be declared beforehand: fine
# on a single Redis or under Sentinel, which is all RQ supports.)
_WITH_INCIDENTS = """
local raw = redis.call('hgetall', KEYS[1])
local out = {}
for i = 1, #raw, 2 do
  out[#out + 1] = raw[i]
  out[#out + 1] = raw[i + 1]
  out[#out + 1] = redis.call('hgetall', ARGV[1] .. raw[i])
end
return out
"""


class IncidentsWithCounts:
    """Every stored incident (its JSON) with its delivery counts, in one round trip."""

    def __init__(self, redis: Redis):
        self._script = redis.register_script(_WITH_INCIDENTS)

    def __call__(self) -> list[tuple[str, bytes, Counts]]:
        flat = self._script(keys=[keys.INCIDENTS], args=[keys.incident_delivery_counts("")])
        return [((i.decode() if isinstance(i, bytes) else i), raw, parse(counts))
                for i, raw, counts in zip(flat[::3], flat[1::3], flat[2::3], strict=True)]
