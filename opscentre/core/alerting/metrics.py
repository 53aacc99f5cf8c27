"""A rule's metric, computed for every scope key at once: per entity, per zone, city-wide.

Pure: (readings, now) in, arrays out. Each (kind, window) is summarised once per evaluation
(window_stats.py), however many rules and aggregations read it (`MetricCache`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from opscentre.core.alerting.readings import CITY, Readings
from opscentre.core.alerting.rules import Condition, Rule
from opscentre.core.alerting.window_stats import NEEDS, Stats, group_reduce


@dataclass(frozen=True)
class Measured:
    """One metric per scope key. keys: entity ids, 'zone:<id>' or 'city'."""

    keys: Sequence[str]  # a list, or an object array of entity ids (entity scope)
    values: np.ndarray  # NaN: no data for this key
    times: np.ndarray  # newest observed_at that went into the value (NaN: none)
    entity_index: np.ndarray  # int32 entity index per key (-1 for zone / city keys)
    zone_index: np.ndarray  # int32 zone index per key (-1: none / city)


class EntityKeys(Sequence[str]):
    """The ids of the entities at `where`, looked up one at a time: the engine reads a few of a
    city's keys per evaluation (the alerts to step), so building all of them (an object array of
    100,000 ids, per rule) cost more than the rule's arithmetic."""

    __slots__ = ("_ids", "_where")

    def __init__(self, ids: Sequence[str], where: np.ndarray):
        self._ids, self._where = ids, where

    def __len__(self) -> int:
        return len(self._where)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._ids[j] for j in self._where[i]]
        return self._ids[self._where[i]]


class MetricCache:
    """Per-entity metrics of one evaluation, memoised by (kind, window, aggregation). The
    statistics of each (kind, window) are computed once for every aggregation the rules take
    over it, however many rules read it and for whichever entities."""

    def __init__(self, readings: Readings, now: float, rules: Iterable[Rule] = ()):
        self.readings = readings
        self.now = now
        self._entity: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._windows: dict[tuple, Stats] = {}
        self._groups: dict[tuple, set[str]] = {}  # (kind, window) -> what the rules' aggregations need
        for rule in rules:
            for kind, window, aggregation in rule.metrics():
                if aggregation in NEEDS:
                    self._groups.setdefault((kind, window), set()).add(NEEDS[aggregation])

    def per_entity(self, kind: str, window: float | None, aggregation: str,
                   only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """only: a bool mask of the entities needed (the rest come out NaN); None: all."""
        key = (kind, window, aggregation)
        if key not in self._entity:
            if aggregation == "latest":
                self._entity[key] = _latest(self.readings, kind, window, self.now)
            elif aggregation in NEEDS:
                self._entity[key] = _aggregate(self._stats(kind, window, NEEDS[aggregation]), aggregation)
            else:
                raise ValueError(f"unknown aggregation {aggregation!r}")
        values, times = self._entity[key]
        if only is None:
            return values, times
        return np.where(only, values, np.nan), np.where(only, times, np.nan)

    def _stats(self, kind: str, window: float, group: str) -> Stats:
        groups = self._groups.setdefault((kind, window), set())
        stats = self._windows.get((kind, window))
        if stats is None or group not in groups:
            groups.add(group)
            stats = self._windows[(kind, window)] = self.readings.kind_history(kind).stats(
                self.now, window, groups, len(self.readings))
        return stats

    def entity_mask(self, rule: Rule) -> np.ndarray:
        return self.readings.registry.selection(rule.entity_type, rule.source)

    def measure(self, rule: Rule, condition: Condition | None = None, only: np.ndarray | None = None) -> Measured:
        """The rule's metric (or one compound condition's) per scope key of the rule. only: the
        entities whose keys are wanted (a zone key needs every entity of the zone); None: all."""
        kind = condition.kind if condition else rule.kind
        window = condition.window if condition else rule.window
        aggregation = condition.aggregation if condition else rule.aggregation
        mask = self.entity_mask(rule)
        values, times = self.per_entity(kind, window, aggregation, mask if only is None else mask & only)
        return scoped(self.readings, rule.scope, rule.combine, values, times)


def _latest(readings: Readings, kind: str, window: float | None, now: float) -> tuple[np.ndarray, np.ndarray]:
    """The latest value per entity (NaN: none, or older than the window when there is one)."""
    values, times = readings.latest(kind)
    if window:
        old = ~(times >= now - window)
        values, times = np.where(old, np.nan, values), np.where(old, np.nan, times)
    return values, times


def _aggregate(stats: Stats, aggregation: str) -> tuple[np.ndarray, np.ndarray]:
    """(value, newest observed_at that went into it) per entity over a window."""
    has = stats.count > 0
    out = np.full(len(has), np.nan)
    if aggregation == "sum":
        out[has] = stats.total[has]
    elif aggregation == "mean":
        out[has] = stats.total[has] / stats.count[has]
    elif aggregation == "max":
        out[has] = stats.high[has]
    elif aggregation == "min":
        out[has] = stats.low[has]
    else:  # rate: change per hour between the first and last reading in the window
        span = stats.last_t[has] - stats.first_t[has]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[has] = np.where(span > 0, (stats.last_v[has] - stats.first_v[has]) / span * 3600.0, np.nan)
    return out, stats.last_t


def scoped(readings: Readings, scope: str, combine: str, values: np.ndarray, times: np.ndarray) -> Measured:
    """Entity values as the rule's scope keys: the entities themselves, or combined per zone / city."""
    if scope == "entity":
        has = ~np.isnan(values)
        where = np.flatnonzero(has)
        return Measured(EntityKeys(readings.entity_ids, where), values[where], times[where],
                        where.astype(np.int32), readings.zone_of[where])
    has = ~np.isnan(values)
    if scope == "city":
        if not has.any():
            return Measured([], np.zeros(0), np.zeros(0), np.zeros(0, np.int32), np.zeros(0, np.int32))
        value = _combine(values[has], combine)
        return Measured([CITY], np.array([value]), np.array([np.nanmax(times[has])]),
                        np.array([-1], np.int32), np.array([-1], np.int32))
    zoned = has & (readings.zone_of >= 0)
    if not zoned.any():
        return Measured([], np.zeros(0), np.zeros(0), np.zeros(0, np.int32), np.zeros(0, np.int32))
    z, v, t = readings.zone_of[zoned], values[zoned], times[zoned]
    count = np.bincount(z, minlength=len(readings.zone_ids))
    zones = np.flatnonzero(count).astype(np.int32)
    if combine in ("sum", "mean"):
        with np.errstate(invalid="ignore", divide="ignore"):  # (zones with no value are not kept)
            combined = np.bincount(z, weights=v, minlength=len(count)) / (count if combine == "mean" else 1)
    else:
        combined = group_reduce(np.fmax if combine == "max" else np.fmin, z, v, len(count))
    newest = group_reduce(np.fmax, z, t, len(count))
    return Measured([f"zone:{readings.zone_ids[z]}" for z in zones], combined[zones], newest[zones],
                    np.full(len(zones), -1, np.int32), zones)


def _combine(values: np.ndarray, how: str) -> float:
    return float({"max": np.max, "min": np.min, "sum": np.sum, "mean": np.mean}[how](values))
