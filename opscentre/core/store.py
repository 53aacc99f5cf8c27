"""The only module that talks to Redis about domain data. Layout: docs/data-model.md.

Writes are shaped for throughput: per batch of one kind, one HSET with every entity's latest
value and one XADD holding the whole batch as columns, all of a poll in one pipeline (one
round trip). Reads return plain dicts; callers (layers, dashboard, CLI) never build keys.
"""

from __future__ import annotations

import operator
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from itertools import repeat
from typing import Any, NamedTuple

import orjson
from redis import Redis

from opscentre.core import keys
from opscentre.core.connection import BulkCommand, use_bulk_packing
from opscentre.core.models import Entity, Event, FeedStatus, ForecastSeries, ObservationBatch
from opscentre.core.write_once import ONCE_LUA

# Counters kept per feed for /metrics (HINCRBY'd, never reset).
METRIC_FIELDS = ("polls", "failures", "observations_stored", "observations_rejected", "items_skipped", "events_stored",
                 "forecast_steps_stored", "parse_errors", "not_modified", "poll_seconds_sum", "bytes")


# One batch -> every entity's latest value (HSET, in chunks) and one history entry (XADD of the
# batch as columns JSON, through the write's claim: ONCE_LUA). The latest values are formatted
# here, in the worker, not unpacked inside Redis: Redis is one thread shared by every worker, so
# what it does per reading is what stops workers from scaling out (`opscentre bench scale`: a Lua
# script decoding the columns and building each value cost Redis ~2 µs a reading, 8x the HSET).
LATEST_CHUNK = 10_000  # fields per HSET (a large city's batch: ~100,000)
HSET_BULK = BulkCommand(b"HSET")  # its arguments packed in one call (core/connection.py)


def latest_values(batch: ObservationBatch) -> list[bytes]:
    """Each reading's value in the latest hash: JSON [value, observed_at, source], the numbers as
    the history's columns hold them. Built by C calls, not a Python loop per reading: the rows as
    one JSON array, cut at the row boundaries ('],[' is found only there, as long as the source's
    JSON holds none)."""
    source = orjson.dumps(batch.source)
    if b"],[" in source:
        return [b"[%b,%b]" % (orjson.dumps(v)[1:-1], source) for v in zip(batch.values, batch.observed_at)]
    rows = orjson.dumps(list(zip(batch.values, batch.observed_at, repeat(batch.source))))
    return rows[1:-1].replace(b"],[", b"]\x00[").split(b"\x00")


# A write's counters, once: the feed's metrics (HINCRBY / HINCRBYFLOAT), and by its flags
# 'f' consecutive_failures + 1, 'e' the registry's version + 1, 'v' the store's version + 1 and
# the update published. Skipped, like a batch, when the claim is past 1 (a re-sent transaction).
# KEYS: claim, metrics hash, health hash, version, entities version.
# ARGV: channel, message, flags, count of integer pairs, then name/amount pairs (integers first).
COUNT_ONCE_LUA = """
if redis.call('GET', KEYS[1]) ~= '1' then return 0 end
local flags = ARGV[3]
local ints = tonumber(ARGV[4])
local i = 5
for _ = 1, ints do
  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i < #ARGV do
  redis.call('HINCRBYFLOAT', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
if string.find(flags, 'f', 1, true) then redis.call('HINCRBY', KEYS[3], 'consecutive_failures', 1) end
if string.find(flags, 'e', 1, true) then redis.call('INCR', KEYS[5]) end
if string.find(flags, 'v', 1, true) then
  redis.call('INCR', KEYS[4])
  redis.call('PUBLISH', ARGV[1], ARGV[2])
end
return 1
"""

# History entries per XRANGE when a reader starts a kind's window (Store.history_through): a
# batch of a large city's poll holds ~100,000 readings (~3 MB of JSON), so a page is ~25 MB.
HISTORY_PAGE = 8

# How long a write's claim outlives it: far past redis-py's last retry of the same transaction
# (core/connection.py: 3 retries, 3 s connect and 10 s socket timeouts, backoff capped at 2 s).
# The next write of the same Store deletes it sooner, in its own transaction.
WRITE_ONCE_TTL_S = 600


class HistoryEntry(NamedTuple):
    """One stored batch as its history stream entry holds it."""

    entry_id: str
    ids: list[str]
    values: list[float]
    times: list[float]


class HistoryTail(NamedTuple):
    entries: list[HistoryEntry]
    oldest_id: str | None  # the stream's (None: empty)
    newest_id: str | None


class LatestSnapshot(NamedTuple):
    latest: dict[str, tuple[float, float, str]]  # entity id -> (value, observed_at, source)
    newest_id: str | None  # the stream's newest entry when the snapshot was taken


def _entries(reply: list) -> list[HistoryEntry]:
    out = []
    for entry_id, fields in reply:
        columns = orjson.loads(fields[b"d"])
        out.append(HistoryEntry(entry_id.decode(), columns["e"], columns["v"], columns["t"]))
    return out


def _first_id(reply: list) -> str | None:
    return reply[0][0].decode() if reply else None


class Store:
    def __init__(self, redis: Redis):
        self.redis = redis
        self._owners: dict[str, str] = {}  # entity id -> source that registered it (cache)
        self._entities_cache: tuple[tuple[int, int], dict[str, dict[str, Any]]] | None = None
        # entity id -> the Entity object last checked against the registry: feeds hand back the
        # same validated object while a description does not change, so it needs no new check
        self._checked: dict[str, Entity] = {}
        # source -> its entity list last found all registered to it and unchanged (all_checked)
        self._all_checked: dict[str, list[Entity]] = {}
        use_bulk_packing(redis)  # (a client of connect() has it already)
        self._count_once = redis.register_script(COUNT_ONCE_LUA)
        self._once = redis.register_script(ONCE_LUA)
        self._finished_claim: str | None = None  # the last write's claim: no retry can re-send it now

    # ---- entities -------------------------------------------------------------------------

    def unknown_entities(self, entities: Iterable[Entity]) -> list[Entity]:
        """The entities not yet in the registry (the ones that need a zone)."""
        candidates = [e for e in entities if e.entity_id not in self._owners]
        if not candidates:
            return []
        ids = [e.entity_id for e in candidates]
        present = self.redis.hmget(keys.ENTITIES, ids)
        unknown = []
        for entity, raw in zip(candidates, present):
            if raw is None:
                unknown.append(entity)
            else:
                self._owners[entity.entity_id] = orjson.loads(raw).get("source", "")
        return unknown

    def foreign_owners(self, entity_ids: Iterable[str], source: str) -> dict[str, str]:
        """Of these entities, the ones another source registered: id -> that source.
        (Known to this process once `unknown_entities` has looked them up.)"""
        owners = self._owners
        return {e: owners[e] for e in entity_ids if owners.get(e, source) != source}

    def entities(self) -> dict[str, dict[str, Any]]:
        """The registry. Every write to it bumps ENTITIES_VERSION, so an unchanged (count,
        version) means an unchanged registry: the decoded copy is reused (the dashboard reads
        this every tick)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hlen(keys.ENTITIES)
        pipe.get(keys.ENTITIES_VERSION)
        count, version = pipe.execute()
        stamp = (count, int(version or 0))
        if self._entities_cache is None or self._entities_cache[0] != stamp:
            raw = self.redis.hgetall(keys.ENTITIES)
            self._entities_cache = (stamp, {k.decode(): orjson.loads(v) for k, v in raw.items()})
        return self._entities_cache[1]

    def changed_entities(self, entities: Iterable[Entity]) -> list[Entity]:
        """Registered entities of their own source whose name or properties (thresholds, units...)
        changed, as they are to be stored: the new description on the registered geometry and
        zone (a zone is assigned once)."""
        unchecked = [e for e in entities if self._checked.get(e.entity_id) is not e]
        if not unchecked:
            return []
        registry = self.entities()
        changed = []
        if len(self._checked) > 500_000:
            self._checked.clear()
            self._all_checked.clear()
        for entity in unchecked:
            current = registry.get(entity.entity_id)
            if current is None or current.get("source") != entity.source:
                continue
            if current.get("name") != entity.name or (current.get("properties") or {}) != entity.properties:
                changed.append(entity.model_copy(update={"geometry": current.get("geometry"),
                                                         "zone_id": current.get("zone_id")}))
            else:  # matches the registry: no need to look again while the feed sends this description
                self._checked[entity.entity_id] = entity
        return changed

    def all_checked(self, source: str, entities: list[Entity]) -> bool:
        """Are these, object for object and in order, the entities of `source` last found all
        registered to it and unchanged (`checked_all`)? Then unknown_entities, changed_entities
        and foreign_owners would find nothing again (what they read is cached in this process):
        one identity comparison a reading instead of their three passes (a feed hands back the
        same validated objects while its descriptions do not change)."""
        last = self._all_checked.get(source)
        return last is not None and len(last) == len(entities) and all(map(operator.is_, last, entities))

    def checked_all(self, source: str, entities: list[Entity]) -> None:
        """These entities of `source` were found all registered to it and unchanged."""
        self._all_checked[source] = list(entities)

    def entity_count(self) -> int:
        return self.redis.hlen(keys.ENTITIES)

    # ---- one poll's writes ----------------------------------------------------------------

    def write_poll(
        self,
        feed_id: str,
        new_entities: list[Entity],
        batches: list[ObservationBatch],
        health: dict[str, Any],
        metrics: dict[str, float],
        retention_s: float,
        wall_now: float,
        events: list[Event] | None = None,
        events_snapshot: bool = False,
        forecasts: list[ForecastSeries] | None = None,
        now: float | None = None,
    ) -> None:
        """Store a poll's entities, observations, events, forecasts, health and counters in one
        round trip, as one transaction (a reader never sees a snapshot's events half replaced).

        events_snapshot: the events are all the source's current events; any other stored event
        of the source has ended. Otherwise they are messages: each replaces the events it
        references, a cancel only ends them, and events past their `ends_at` (at `now`) go.
        """
        ended = [] if events_snapshot or not events else self._ended_events(feed_id, events, now or wall_now)
        pipe, claim = self._write_once()
        if new_entities:
            pipe.hset(keys.ENTITIES, mapping={e.entity_id: e.model_dump_json() for e in new_entities})
        min_id = int((wall_now - retention_s) * 1000)
        kinds = set()
        for batch in batches:
            if not batch.entity_ids:
                continue
            kinds.add(batch.kind)
            columns = orjson.dumps({"e": batch.entity_ids, "v": batch.values, "t": batch.observed_at})
            fields = [None] * (2 * len(batch.entity_ids))
            fields[0::2], fields[1::2] = batch.entity_ids, latest_values(batch)
            for i in range(0, len(fields), 2 * LATEST_CHUNK):
                pipe.execute_command(HSET_BULK, keys.latest(batch.kind), *fields[i:i + 2 * LATEST_CHUNK])
            self._once(keys=[claim, keys.history(batch.kind)],
                       args=["XADD", "MINID", min_id, "*", "s", batch.source, "d", columns], client=pipe)
        if kinds:
            pipe.sadd(keys.KINDS, *kinds)
        if events is not None and (events or events_snapshot or ended):
            events_key = keys.events(feed_id)
            pipe.sadd(keys.EVENT_SOURCES, feed_id)
            if events_snapshot:
                pipe.delete(events_key)
            if ended:
                pipe.hdel(events_key, *ended)
            current = {e.event_id: e.model_dump_json() for e in events if not e.cancelled}
            if current:
                pipe.hset(events_key, mapping=current)
        by_kind: dict[str, dict[str, bytes]] = {}
        for series in forecasts or ():
            by_kind.setdefault(series.kind, {})[series.entity_id] = orjson.dumps(
                {"s": series.source, "i": series.issued_at, "t": series.times, "v": series.values})
        for kind, mapping in by_kind.items():
            pipe.hset(keys.forecast(kind), mapping=mapping)
            pipe.sadd(keys.FORECAST_KINDS, kind)
        self._health(pipe, feed_id, health)
        self._count(pipe, claim, feed_id, metrics, "ve" if new_entities else "v")
        self._log_poll(pipe, claim, feed_id, int(health.get("items") or 0), "ok")
        self._execute_once(pipe, claim)
        self._owners.update((e.entity_id, e.source) for e in new_entities)

    # A write is re-sent whole by redis-py's Retry when the connection drops after Redis ran it
    # but before its reply came back (the `net-cut` drill). Each write therefore carries a claim
    # (WRITE_ONCE: INCR, first in its transaction): the history appends and the counters run only
    # where the claim reads 1, so a re-send changes nothing; the other writes set values (HSET,
    # SADD, DEL) and set the same ones again.

    def _write_once(self):
        """A transaction that starts by claiming a fresh write id: (pipeline, claim key)."""
        claim = keys.write_once(uuid.uuid4().hex)
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(claim)
        pipe.expire(claim, WRITE_ONCE_TTL_S)
        finished, self._finished_claim = self._finished_claim, None
        if finished:
            pipe.delete(finished)
        return pipe, claim

    def _execute_once(self, pipe, claim: str) -> list:
        replies = pipe.execute()
        self._finished_claim = claim
        return replies

    def _count(self, pipe, claim: str, feed_id: str, metrics: dict[str, float], flags: str) -> None:
        ints, floats = [], []
        for name, amount in metrics.items():
            if isinstance(amount, float) and not amount.is_integer():
                floats += (name, repr(amount))
            elif amount:
                ints += (name, int(amount))
        self._count_once(keys=[claim, keys.feed_metrics(feed_id), keys.feed_health(feed_id), keys.VERSION,
                               keys.ENTITIES_VERSION],
                         args=[keys.UPDATES_CHANNEL, feed_id, flags or "-", len(ints) // 2, *ints, *floats],
                         client=pipe)

    def _ended_events(self, source: str, messages: list[Event], now: float) -> list[str]:
        """Stored events of a message source that these messages replace or cancel, or that are over."""
        ended = {ref for m in messages for ref in m.references}
        ended |= {m.event_id for m in messages if m.cancelled}
        for event_id, raw in self.redis.hgetall(keys.events(source)).items():
            ends_at = orjson.loads(raw).get("ends_at")
            if ends_at is not None and ends_at <= now:
                ended.add(event_id.decode())
        return sorted(ended - {m.event_id for m in messages if not m.cancelled})

    def record_not_modified(self, feed_id: str, health: dict[str, Any], metrics: dict[str, float]) -> None:
        """A conditional GET found nothing new: the feed is healthy and its stored state current."""
        pipe, claim = self._write_once()
        pipe.hset(keys.feed_health(feed_id), "consecutive_failures", 0)
        self._health(pipe, feed_id, health)
        self._count(pipe, claim, feed_id, metrics, "")
        self._log_poll(pipe, claim, feed_id, 0, "not_modified")
        self._execute_once(pipe, claim)

    def record_failure(self, feed_id: str, health: dict[str, Any], metrics: dict[str, float]) -> dict[str, Any]:
        """Record a failed poll (the last good data stays). Returns the health before it."""
        before = self.feed_health(feed_id)
        pipe, claim = self._write_once()
        self._count(pipe, claim, feed_id, metrics, "f")  # (before the health, as it may set the count)
        self._health(pipe, feed_id, health)
        self._log_poll(pipe, claim, feed_id, 0, "failed")
        self._execute_once(pipe, claim)
        return before

    def _log_poll(self, pipe, claim: str, feed_id: str, items: int, outcome: str) -> None:
        """One entry in the feed's poll log (items over time: the feeds page), once per write."""
        self._once(keys=[claim, keys.feed_polls(feed_id)],
                   args=["XADD", "MAXLEN", "~", keys.FEED_POLLS_KEPT, "*", "i", items, "s", outcome], client=pipe)

    def feed_polls(self, feed_id: str, since: float) -> list[tuple[float, int, str]]:
        """(when stored, items, ok | not_modified | failed) of the feed's polls since `since`, oldest first."""
        rows = self.redis.xrange(keys.feed_polls(feed_id), min=str(int(since * 1000)))
        return [(int(entry_id.split(b"-")[0]) / 1000, int(f[b"i"]), f[b"s"].decode()) for entry_id, f in rows]

    def _health(self, pipe, feed_id: str, health: dict[str, Any]) -> None:
        pipe.sadd(keys.FEEDS, feed_id)
        if health:
            pipe.hset(keys.feed_health(feed_id), mapping={k: _encode(v) for k, v in health.items()})

    def set_feed_disabled(self, feed_id: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(keys.FEEDS, feed_id)
        pipe.hset(keys.feed_health(feed_id), "status", FeedStatus.DISABLED.value)
        pipe.execute()

    # ---- reads ----------------------------------------------------------------------------

    def latest(self, kind: str) -> dict[str, tuple[float, float, str]]:
        """entity_id -> (value, observed_at unix s, source)"""
        return {k.decode(): tuple(orjson.loads(v)) for k, v in self.redis.hgetall(keys.latest(kind)).items()}

    def latest_many(self, kinds: Iterable[str]) -> dict[str, dict[str, tuple[float, float, str]]]:
        kinds = list(kinds)
        pipe = self.redis.pipeline(transaction=False)
        for kind in kinds:
            pipe.hgetall(keys.latest(kind))
        return {
            kind: {k.decode(): tuple(orjson.loads(v)) for k, v in raw.items()}
            for kind, raw in zip(kinds, pipe.execute())
        }

    def events(self, category: str | None = None, now: float | None = None) -> list[dict[str, Any]]:
        """Current events of every source (of one category), minus those over at `now`; by id."""
        sources = sorted(s.decode() for s in self.redis.smembers(keys.EVENT_SOURCES))
        pipe = self.redis.pipeline(transaction=False)
        for source in sources:
            pipe.hvals(keys.events(source))
        out = []
        for raws in pipe.execute():
            for raw in raws:
                event = orjson.loads(raw)
                if category is not None and event.get("category") != category:
                    continue
                if now is not None and event.get("ends_at") is not None and event["ends_at"] <= now:
                    continue
                out.append(event)
        out.sort(key=lambda e: (e["source"], e["event_id"]))
        return out

    def forecast_kinds(self) -> list[str]:
        return sorted(k.decode() for k in self.redis.smembers(keys.FORECAST_KINDS))

    def forecasts(self, kind: str) -> dict[str, dict[str, Any]]:
        """entity_id -> {"s": source, "i": issued_at, "t": [step times], "v": [values]}"""
        return {k.decode(): orjson.loads(v) for k, v in self.redis.hgetall(keys.forecast(kind)).items()}

    def kinds(self) -> list[str]:
        return sorted(k.decode() for k in self.redis.smembers(keys.KINDS))

    def history(self, kind: str, since: float, until: float | None = None) -> list[tuple[str, float, float, str]]:
        """Rows (entity_id, value, observed_at, source) stored for `kind` with since <= observed_at <= until."""
        rows = []
        for _id, fields in self.redis.xrange(keys.history(kind)):
            columns = orjson.loads(fields[b"d"])
            source = fields[b"s"].decode()
            for e, v, t in zip(columns["e"], columns["v"], columns["t"]):
                if t >= since and (until is None or t <= until):
                    rows.append((e, v, t, source))
        return rows

    def history_batches(self, kind: str, written_since: float) -> list[tuple[list[str], list[float], list[float]]]:
        """The stored batches of `kind` written since a wall-clock time, as columns
        (entity ids, values, observed_at): what window aggregations read."""
        reply = self.redis.xrange(keys.history(kind), min=f"{max(0, int(written_since * 1000))}-0")
        return [(e.ids, e.values, e.times) for e in _entries(reply)]

    def history_tails(self, after: Mapping[str, str]) -> dict[str, HistoryTail]:
        """Per kind, the history entries after the stream id `after[kind]` (exclusive) and the
        stream's oldest and newest ids, in one transaction: what an incremental reader needs to
        know it has missed nothing."""
        kinds = list(after)
        pipe = self.redis.pipeline(transaction=True)
        for kind in kinds:
            pipe.xrange(keys.history(kind), min=f"({after[kind]}")
            pipe.xrange(keys.history(kind), count=1)
            pipe.xrevrange(keys.history(kind), count=1)
        replies = pipe.execute() if kinds else []
        return {kind: HistoryTail(_entries(replies[3 * i]), _first_id(replies[3 * i + 1]),
                                  _first_id(replies[3 * i + 2]))
                for i, kind in enumerate(kinds)}

    def latest_and_newest(self, kind: str) -> LatestSnapshot:
        """A kind's latest values and its history stream's newest id, in one transaction: where
        an incremental reader starts. The history up to that id is read after it, a page at a
        time (history_through): entries are never changed once written, so it is the same
        history as if read in the transaction (but not held in memory all at once)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(keys.latest(kind))
        pipe.xrevrange(keys.history(kind), count=1)
        raw_latest, newest = pipe.execute()
        latest = {k.decode(): tuple(orjson.loads(v)) for k, v in raw_latest.items()}
        return LatestSnapshot(latest, _first_id(newest))

    def history_through(self, kind: str, written_since: float, through_id: str,
                        page: int = HISTORY_PAGE) -> Iterator[HistoryEntry]:
        """The history entries written since a wall time, up to the stream id `through_id`
        (inclusive), in order: read `page` entries at a time and each decoded only when taken,
        so a large window never exists as Python lists all at once."""
        start = f"{max(0, int(written_since * 1000))}-0"
        while True:
            reply = self.redis.xrange(keys.history(kind), min=start, max=through_id, count=page)
            for entry_id, fields in reply:
                columns = orjson.loads(fields[b"d"])
                yield HistoryEntry(entry_id.decode(), columns["e"], columns["v"], columns["t"])
            if len(reply) < page:
                return
            start = f"({reply[-1][0].decode()}"
            del reply

    def history_length(self, kind: str) -> int:
        return self.redis.xlen(keys.history(kind))

    def feed_health(self, feed_id: str) -> dict[str, Any]:
        return {k.decode(): _decode(v) for k, v in self.redis.hgetall(keys.feed_health(feed_id)).items()}

    def feed_ids(self) -> list[str]:
        return sorted(f.decode() for f in self.redis.smembers(keys.FEEDS))

    def all_feed_health(self) -> dict[str, dict[str, Any]]:
        ids = self.feed_ids()
        pipe = self.redis.pipeline(transaction=False)
        for feed_id in ids:
            pipe.hgetall(keys.feed_health(feed_id))
        return {
            feed_id: {k.decode(): _decode(v) for k, v in raw.items()}
            for feed_id, raw in zip(ids, pipe.execute())
        }

    def all_feed_metrics(self) -> dict[str, dict[str, float]]:
        ids = self.feed_ids()
        pipe = self.redis.pipeline(transaction=False)
        for feed_id in ids:
            pipe.hgetall(keys.feed_metrics(feed_id))
        return {
            feed_id: {k.decode(): float(v) for k, v in raw.items()}
            for feed_id, raw in zip(ids, pipe.execute())
        }

    def version(self) -> int:
        return int(self.redis.get(keys.VERSION) or 0)

    # ---- simulator clock ------------------------------------------------------------------

    def sim_clock(self) -> dict[str, Any] | None:
        raw = self.redis.hgetall(keys.SIM_CLOCK)
        return {k.decode(): _decode(v) for k, v in raw.items()} if raw else None

    def set_sim_clock(self, clock: dict[str, Any]) -> None:
        self.redis.hset(keys.SIM_CLOCK, mapping={k: _encode(v) for k, v in clock.items()})

    # ---- liveness ---------------------------------------------------------------------------

    def beat(self, process_name: str, now: float | None = None) -> None:
        self.redis.zadd(keys.WORKER_HEARTBEAT, {process_name: now or time.time()})

    def heartbeats(self, key: str = keys.WORKER_HEARTBEAT) -> dict[str, float]:
        return {k.decode(): s for k, s in self.redis.zrange(key, 0, -1, withscores=True)}

    def notifier_beat(self, name: str, now: float, forget_after_s: float = 3600) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(keys.NOTIFIER_HEARTBEAT, {name: now})
        pipe.zremrangebyscore(keys.NOTIFIER_HEARTBEAT, 0, now - forget_after_s)
        pipe.execute()

    def forget_process(self, process_name: str) -> None:
        self.redis.zrem(keys.WORKER_HEARTBEAT, process_name)


def _encode(value: Any) -> bytes | str | int | float:
    if value is None:
        return b""
    if isinstance(value, (dict, list, tuple, bool)):
        return orjson.dumps(value)
    return value


def _decode(raw: bytes) -> Any:
    text = raw.decode()
    if text == "":
        return None
    if text[0] in "[{" or text in ("true", "false"):
        return orjson.loads(text)
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
