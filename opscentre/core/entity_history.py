"""One entity's last day, as the console's entity page draws it: per kind it has, its readings of
the last 24 h from the history streams, and the levels the alert rules judge those readings by.

Read like the engine's windows (workers/evaluation.py read_readings): history stream ids are wall
times of writing, so the last WINDOW_S of *data* time (the simulator's clock when it runs, at its
speed) was written within WINDOW_S / speed wall seconds, plus a margin for late polls. A batch
holds every entity of its poll, so this reads each batch of the window (decoding only those whose
JSON names the entity) and keeps one entity's readings: fine for one page view, not for a loop.

Levels are drawn as horizontal lines on the readings' chart, so only levels that compare the
readings themselves are drawn: a rule's `latest` value, or the `max` / `min` of a window (the
window's max crosses a level exactly when a reading does). A level on a window's sum, mean or
rate compares another quantity: it is named (`not_drawn`), not drawn. Per-entity levels
(`levels_from`: a river station's attention_m / alert_m / overflow_m) come from the entity's
properties. Only entity-scoped rules apply to one entity (a zone's or the city's rule combines
many).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis import Redis

from opscentre.core import keys
from opscentre.core.alerting.rules import CompoundLevel, Rule
from opscentre.core.clock import sim_now
from opscentre.core.models import KINDS

WINDOW_S = 24 * 3600
HISTORY_MARGIN_S = 600  # as the engine's: polls stored a little after their readings
SAME_AS_READINGS = ("latest", "max", "min")  # aggregations whose levels can be drawn on the readings


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


def _batches(redis: Redis, kind: str, written_since: float,
             entity_id: str) -> list[tuple[list[str], list[float], list[float]]]:
    """The kind's batches written since then that may hold the entity (a batch whose JSON does not
    name it is not decoded)."""
    out, named = [], orjson.dumps(entity_id)
    for _id, fields in redis.xrange(keys.history(kind), min=f"{max(0, int(written_since * 1000))}-0"):
        if named not in fields[b"d"]:
            continue
        columns = orjson.loads(fields[b"d"])
        out.append((columns["e"], columns["v"], columns["t"]))
    return out


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
