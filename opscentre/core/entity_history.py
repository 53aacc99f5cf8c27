"""One entity's last day, as the console's entity page draws it: per kind it has, its readings of
the last 24 h from the history streams, and the levels the alert rules judge those readings by.

Read like the engine's windows (workers/evaluation.py read_readings): history stream ids are wall
times of writing, so the last WINDOW_S of *data* time (the simulator's clock when it runs, at its
speed) was written within WINDOW_S / speed wall seconds, plus a margin for late polls. A batch
holds every entity of its poll, so every batch of the window is read (a page of entries at a
time), but none is decoded whole: the entity's places in a batch are found in its raw JSON and only
their values and times are decoded (`batch_readings`; a batch of another shape than
Store.write_poll's is decoded whole). Reading the window's bytes is most of what is left (at
50,000 entities, 24 h every 15 min: ~56 MB per kind): fine for one page view, not for a loop.

Levels are drawn as horizontal lines on the readings' chart, so only levels that compare the
readings themselves are drawn: a rule's `latest` value, or the `max` / `min` of a window (the
window's max crosses a level exactly when a reading does). A level on a window's sum, mean or
rate compares another quantity: it is named (`not_drawn`), not drawn. Per-entity levels
(`levels_from`: a river station's attention_m / alert_m / overflow_m) come from the entity's
properties. Only entity-scoped rules apply to one entity (a zone's or the city's rule combines
many).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from redis import Redis

from opscentre.core import keys
from opscentre.core.alerting.rules import CompoundLevel, Rule
from opscentre.core.clock import sim_now
from opscentre.core.models import KINDS

WINDOW_S = 24 * 3600
HISTORY_MARGIN_S = 600  # as the engine's: polls stored a little after their readings
SAME_AS_READINGS = ("latest", "max", "min")  # aggregations whose levels can be drawn on the readings
PAGE = 16  # history entries per XRANGE: at most this many batches held at once
HEAD, VALUES, TIMES = b'{"e":[', b'],"v":[', b'],"t":['  # Store.write_poll's columns, as orjson writes them


@dataclass(frozen=True)
class Level:
    rule: str
    severity: str
    value: float
    op: str = ">="


@dataclass(frozen=True)
class KindDay:
    """One kind's readings of the day (oldest first) and the levels that judge them."""

    kind: str
    unit: str
    times: list[float]
    values: list[float]
    levels: list[Level] = field(default_factory=list)
    not_drawn: list[str] = field(default_factory=list)  # rules whose levels compare an aggregate


@dataclass(frozen=True)
class EntityDay:
    entity: dict[str, Any]
    start: float  # data time: the window is start < t <= end
    end: float
    kinds: list[KindDay]


def applies(rule: Rule, entity: Mapping[str, Any]) -> bool:
    """Whether an enabled rule judges this entity on its own (entity scope, its type and source)."""
    return (rule.enabled and rule.scope == "entity" and not rule.feeds
            and rule.entity_type in (None, entity.get("entity_type"))
            and rule.source in (None, entity.get("source")))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def rule_levels(rules: Iterable[Rule], entity: Mapping[str, Any], kind: str) -> tuple[list[Level], list[str]]:
    """The levels of the rules that judge `entity`'s readings of `kind` (pure), lowest severity
    first, and the ids of the rules on `kind` whose levels compare an aggregate (not drawable)."""
    levels, not_drawn = [], []
    properties = entity.get("properties") or {}
    for rule in rules:
        if not applies(rule, entity):
            continue
        if rule.kind == kind:
            if rule.aggregation not in SAME_AS_READINGS:
                not_drawn.append(rule.id)
            else:
                for severity, value in rule.levels.items():
                    if not isinstance(value, CompoundLevel):
                        levels.append((severity.rank, Level(rule.id, severity.value, float(value), rule.op)))
                for severity, name in rule.levels_from.items():
                    value = _number(properties.get(name))
                    if value is not None:
                        levels.append((severity.rank, Level(rule.id, severity.value, value, rule.op)))
        for severity, level in rule.levels.items():
            if not isinstance(level, CompoundLevel):
                continue
            for condition in level.conditions:
                if condition.kind != kind:
                    continue
                if condition.aggregation not in SAME_AS_READINGS:
                    if rule.id not in not_drawn:
                        not_drawn.append(rule.id)
                    continue
                levels.append((severity.rank, Level(rule.id, severity.value, condition.value, condition.op)))
    levels.sort(key=lambda rl: (rl[0], rl[1].rule, rl[1].value))
    return [level for _rank, level in levels], not_drawn


def day_points(batches: Iterable[tuple[list[str], list[float], list[float]]], entity_id: str, start: float,
               end: float) -> tuple[list[float], list[float]]:
    """One entity's readings with start < t <= end out of history batches (pure), oldest first,
    one per observation time (a reading stored twice counts once; the later-stored value wins)."""
    by_time: dict[float, float] = {}
    for ids, values, times in batches:
        if entity_id not in ids:
            continue
        for i, found in enumerate(ids):
            if found == entity_id and start < times[i] <= end:
                by_time[float(times[i])] = float(values[i])
    ordered = sorted(by_time.items())
    return [t for t, _ in ordered], [v for _, v in ordered]


def entity_kinds(redis: Redis, entity_id: str) -> list[str]:
    """The kinds this entity has a latest reading of (one round trip)."""
    kinds = sorted(k.decode() for k in redis.smembers(keys.KINDS))
    pipe = redis.pipeline(transaction=False)
    for kind in kinds:
        pipe.hexists(keys.latest(kind), entity_id)
    return [kind for kind, has in zip(kinds, pipe.execute(), strict=True) if has]


def _whole(raw: bytes, entity_id: str) -> tuple[list, list]:
    columns = orjson.loads(raw)
    found = [i for i, e in enumerate(columns["e"]) if e == entity_id]
    return [columns["t"][i] for i in found], [columns["v"][i] for i in found]


def _is(raw: bytes, byte: bytes, start: int, end: int) -> np.ndarray:
    return np.frombuffer(raw, np.uint8, max(0, end - start), start) == ord(byte)


def _items(raw: bytes, start: int, end: int, places: list[int]) -> list | None:
    """The items at `places` (ascending) of the flat JSON list of numbers raw[start:end] (no
    brackets), or None when it has fewer."""
    edges = np.concatenate(([start - 1], np.flatnonzero(_is(raw, b",", start, end)) + start, [end]))
    if end <= start or places[-1] >= len(edges) - 1:
        return None
    return [orjson.loads(raw[edges[i] + 1:edges[i + 1]]) for i in places]


def batch_readings(raw: bytes, entity_id: str) -> tuple[list, list]:
    """(times, values) of `entity_id`'s readings in one history batch's JSON, in the batch's
    order, as decoding it whole would give them (pure); none when the JSON does not hold the
    entity's id as orjson writes it. Store.write_poll's shape {"e":[ids],"v":[numbers],"t":[numbers]}
    (orjson's: no spaces) is not decoded: where the ids hold no backslash every '"' bounds an id,
    so an id's place is the count of '"' before it over 2, and its value and time are the items
    at that place (found by their commas). Any other shape is decoded whole."""
    named = orjson.dumps(entity_id)
    at = raw.find(named, len(HEAD))  # (an id in the list comes after '{"e":[' in any shape)
    if at < 0:
        return [], []
    ids_end = raw.find(VALUES, at)
    times_at = raw.find(TIMES, ids_end + 1)
    if (not raw.startswith(HEAD) or not raw.endswith(b"]}") or ids_end < 0 or times_at < 0
            or raw.find(b"\\", 0, ids_end) >= 0 or raw.find(b'"', ids_end + len(VALUES), times_at) >= 0
            or raw.find(b'"', times_at + len(TIMES)) >= 0):
        return _whole(raw, entity_id)
    places, quotes, before = [], 0, len(HEAD)
    while 0 <= at < ids_end:
        quotes += int(np.count_nonzero(_is(raw, b'"', before, at)))
        before = at
        if quotes % 2 == 0:  # an opening quote (a closing one is followed by ',' or ']', not an id)
            places.append(quotes // 2)
        at = raw.find(named, at + 1, ids_end)
    if not places:
        return [], []
    values = _items(raw, ids_end + len(VALUES), times_at, places)
    times = _items(raw, times_at + len(TIMES), len(raw) - 2, places)
    if values is None or times is None:
        return _whole(raw, entity_id)
    return times, values


def _batches(redis: Redis, kind: str, written_since: float,
             entity_id: str) -> Iterator[tuple[list[str], list[float], list[float]]]:
    """The entity's own columns out of each of the kind's batches written since then that holds it."""
    key, low = keys.history(kind), f"{max(0, int(written_since * 1000))}-0"
    while True:
        page = redis.xrange(key, min=low, count=PAGE)
        for _id, fields in page:
            times, values = batch_readings(fields[b"d"], entity_id)
            if times:
                yield [entity_id] * len(times), values, times
        if len(page) < PAGE:
            return
        low = "(" + page[-1][0].decode()


def data_clock(redis: Redis, wall_now: float) -> tuple[float, float]:
    """(data time now, data seconds per wall second): the simulator's clock when it runs."""
    raw = redis.hgetall(keys.SIM_CLOCK)
    clock = {k.decode(): v.decode() for k, v in raw.items()} if raw else None
    if not clock or not clock.get("sim_epoch"):
        return wall_now, 1.0
    return sim_now(clock, wall_now), max(1.0, float(clock.get("speed") or 1))


def entity_day(redis: Redis, entity: Mapping[str, Any], rules: Iterable[Rule], wall_now: float,
               window_s: float = WINDOW_S) -> EntityDay:
    """`entity`'s (a registry record) last `window_s` of data time, per kind it has."""
    rules = list(rules)
    now, speed = data_clock(redis, wall_now)
    start = now - window_s
    written_since = wall_now - window_s / speed - HISTORY_MARGIN_S
    entity_id = entity["entity_id"]
    days = []
    for kind in entity_kinds(redis, entity_id):
        times, values = day_points(_batches(redis, kind, written_since, entity_id), entity_id, start, now)
        levels, not_drawn = rule_levels(rules, entity, kind)
        spec = KINDS.get(kind)
        days.append(KindDay(kind, spec.unit if spec else "", times, values, levels, not_drawn))
    return EntityDay(dict(entity), start, now, days)
