"""The baseline of `opscentre bench alerts`: the same rules evaluated the plain way — rule by
rule, entity by entity, each window aggregate computed in Python from that entity's list of
(t, v), then compared with the levels. No memoising, no arrays.

Same semantics as the engine on a first evaluation (no open alerts, so no hysteresis): a
window is (now - window, now]; `latest` with a window needs t >= now - window; `rate` is the
change per hour between the first and last reading in the window; zones and the city combine
the entities that have a value. Returns {(rule id, key): severity} of every key that holds.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from typing import Any

from opscentre.core.alerting.rules import SEVERITY_ORDER, Rule

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
Series = dict[str, dict[str, list[tuple[float, float]]]]  # kind -> entity -> [(t, v)] oldest first


def per_entity_series(history: Mapping[str, Iterable[tuple[list[str], list[float], list[float]]]]) -> Series:
    """The stored history batches (as `Store.history_batches` returns them) as one list per entity."""
    out: Series = {}
    for kind, batches in history.items():
        by_entity = out.setdefault(kind, {})
        for ids, values, times in batches:
            for entity_id, value, t in zip(ids, values, times):
                points = by_entity.get(entity_id)
                if points is None:
                    by_entity[entity_id] = [(t, value)]
                else:
                    points.append((t, value))
    for by_entity in out.values():
        for points in by_entity.values():
            points.sort(key=lambda p: p[0])
    return out


def baseline_evaluate(rules: list[Rule], entities: Mapping[str, Mapping[str, Any]],
                      latest: Mapping[str, Mapping[str, tuple]], series: Series,
                      now: float) -> dict[tuple[str, str], str]:
    held: dict[tuple[str, str], str] = {}
    for rule in rules:
        members = [e for e, d in entities.items()
                   if (not rule.entity_type or d.get("entity_type") == rule.entity_type)
                   and (not rule.source or d.get("source") == rule.source)]
        if rule.rule_type == "staleness":
            for entity_id in members:
                seen = latest.get(rule.kind, {}).get(entity_id)
                if seen is not None and now - seen[1] > rule.stale_after:
                    held[(rule.id, entity_id)] = rule.fixed_severity.value
        elif rule.rule_type == "threshold":
            values = _scoped(rule, entities, members, latest, series, rule.kind, rule.window, rule.aggregation, now)
            for key, value in values.items():
                top = None
                for severity in SEVERITY_ORDER:
                    level = _level(rule, severity, entities.get(key))
                    if level is not None and OPS[rule.op](value, level):
                        top = severity
                if top is not None:
                    held[(rule.id, key)] = top.value
        elif rule.rule_type == "compound":
            for severity in SEVERITY_ORDER:  # ascending: a higher level that holds overwrites
                level = rule.levels.get(severity)
                if level is None:
                    continue
                truths = []
                for c in level.conditions:
                    measured = _scoped(rule, entities, members, latest, series, c.kind, c.window, c.aggregation, now)
                    truths.append({k: OPS[c.op](v, c.value) for k, v in measured.items()})
                for key in set().union(*truths):
                    results = [t.get(key, False) for t in truths]
                    if any(results) if level.any_of else all(results):
                        held[(rule.id, key)] = severity.value
    return held


def _level(rule: Rule, severity, entity: Mapping[str, Any] | None) -> float | None:
    prop = rule.levels_from.get(severity)
    if prop is None:
        return rule.levels.get(severity)
    if entity is None:
        return None
    value = (entity.get("properties") or {}).get(prop)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _scoped(rule: Rule, entities, members: list[str], latest, series: Series, kind: str, window: float | None,
            aggregation: str, now: float) -> dict[str, float]:
    values = {}
    for entity_id in members:
        value = _metric(latest, series, kind, window, aggregation, entity_id, now)
        if value is not None:
            values[entity_id] = value
    if rule.scope == "entity":
        return values
    groups: dict[str, list[float]] = {}
    for entity_id, value in values.items():
        zone = entities[entity_id].get("zone_id")
        key = "city" if rule.scope == "city" else (f"zone:{zone}" if zone else None)
        if key is not None:
            groups.setdefault(key, []).append(value)
    return {key: _combine(vs, rule.combine) for key, vs in groups.items()}


def _metric(latest, series: Series, kind: str, window: float | None, aggregation: str, entity_id: str,
            now: float) -> float | None:
    if aggregation == "latest":
        seen = latest.get(kind, {}).get(entity_id)
        if seen is None or (window and not seen[1] >= now - window):
            return None
        return seen[0]
    points = [(t, v) for t, v in series.get(kind, {}).get(entity_id, ()) if now - window < t <= now]
    if not points:
        return None
    if aggregation in ("sum", "mean"):
        total = 0.0
        for _t, v in points:
            total += v
        return total if aggregation == "sum" else total / len(points)
    if aggregation == "max":
        return max(v for _t, v in points)
    if aggregation == "min":
        return min(v for _t, v in points)
    (t0, v0), (t1, v1) = points[0], points[-1]  # rate: change per hour
    return (v1 - v0) / (t1 - t0) * 3600.0 if t1 > t0 else None


def _combine(values: list[float], how: str) -> float:
    if how == "sum" or how == "mean":
        total = 0.0
        for v in values:
            total += v
        return total if how == "sum" else total / len(values)
    return max(values) if how == "max" else min(values)
