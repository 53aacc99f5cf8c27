"""A rule's metric, computed for every scope key at once: per entity, per zone, city-wide.

Pure: (readings, now) in, arrays out. One (kind, window, aggregation) is computed once per
evaluation however many rules read it (`MetricCache`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opscentre.core.alerting.readings import CITY, Readings
from opscentre.core.alerting.rules import Condition, Rule


@dataclass(frozen=True)
class Measured:
    """One metric per scope key. keys: entity ids, 'zone:<id>' or 'city'."""

    keys: list[str]
    values: np.ndarray  # NaN: no data for this key
    times: np.ndarray  # newest observed_at that went into the value (NaN: none)
    entity_index: np.ndarray  # int32 entity index per key (-1 for zone / city keys)
    zone_index: np.ndarray  # int32 zone index per key (-1: none / city)


@dataclass(frozen=True)
class _Window:
    """One kind's readings in one window, and what every aggregation over them shares."""

    codes: np.ndarray
    times: np.ndarray
    values: np.ndarray
    time_ordered: bool
    counts: np.ndarray  # readings per entity
    newest: np.ndarray  # newest time per entity (NaN: none)


class MetricCache:
    """Per-entity metrics of one evaluation, memoised by (kind, window, aggregation): each is one
    pass over its window, however many rules read it and for whichever entities."""

    def __init__(self, readings: Readings, now: float):
        self.readings = readings
        self.now = now
        self._entity: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._windows: dict[tuple, _Window] = {}

    def per_entity(self, kind: str, window: float | None, aggregation: str,
                   only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """only: a bool mask of the entities needed (the rest come out NaN); None: all."""
        key = (kind, window, aggregation)
        if key not in self._entity:
            if aggregation == "latest":
                self._entity[key] = _latest(self.readings, kind, window, self.now)
            else:
                self._entity[key] = _aggregate(self._window(kind, window), aggregation, len(self.readings))
        values, times = self._entity[key]
        if only is None:
            return values, times
        return np.where(only, values, np.nan), np.where(only, times, np.nan)

    def _window(self, kind: str, window: float) -> _Window:
        if (kind, window) not in self._windows:
            history = self.readings.kind_history(kind)
            codes, t, v = history.within(self.now - window, self.now)
            n = len(self.readings)
            self._windows[(kind, window)] = _Window(codes, t, v, history.time_ordered, np.bincount(codes, minlength=n),
                                                    _group_reduce(np.fmax, codes, t, n))
        return self._windows[(kind, window)]

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


def _aggregate(window: _Window, aggregation: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(value, newest observed_at that went into it) per entity over a window."""
    codes, t, v = window.codes, window.times, window.values
    out_v = np.full(n, np.nan)
    has = window.counts > 0
    if not has.any():
        return out_v, window.newest
    if aggregation in ("sum", "mean"):
        sums = np.bincount(codes, weights=v, minlength=n)
        out_v[has] = sums[has] / (window.counts[has] if aggregation == "mean" else 1)
    elif aggregation in ("max", "min"):
        out_v[has] = _group_reduce(np.fmax if aggregation == "max" else np.fmin, codes, v, n)[has]
    elif aggregation == "rate":  # change per hour between the first and last reading in the window
        if not window.time_ordered:  # (a replayed backfill): put the window in time order first
            order = np.argsort(t, kind="stable")
            codes, t, v = codes[order], t[order], v[order]
        first, last = _first_and_last(codes, n)
        span = t[last[has]] - t[first[has]]
        with np.errstate(divide="ignore", invalid="ignore"):
            out_v[has] = np.where(span > 0, (v[last[has]] - v[first[has]]) / span * 3600.0, np.nan)
    else:
        raise ValueError(f"unknown aggregation {aggregation!r}")
    return out_v, window.newest


def _first_and_last(groups: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group 0..n-1: the position of its first and of its last member (0 where it has none)."""
    position = np.arange(len(groups))
    first = np.full(n, len(groups))
    last = np.full(n, -1)
    np.minimum.at(first, groups, position)
    np.maximum.at(last, groups, position)
    return np.where(last >= 0, first, 0), np.maximum(last, 0)


def scoped(readings: Readings, scope: str, combine: str, values: np.ndarray, times: np.ndarray) -> Measured:
    """Entity values as the rule's scope keys: the entities themselves, or combined per zone / city."""
    if scope == "entity":
        has = ~np.isnan(values)
        where = np.flatnonzero(has)
        return Measured(readings.ids_array[where].tolist(), values[where], times[where],
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
        combined = _group_reduce(np.fmax if combine == "max" else np.fmin, z, v, len(count))
    newest = _group_reduce(np.fmax, z, t, len(count))
    return Measured([f"zone:{readings.zone_ids[z]}" for z in zones], combined[zones], newest[zones],
                    np.full(len(zones), -1, np.int32), zones)


def _group_reduce(ufunc: np.ufunc, groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """ufunc (np.fmax / np.fmin) of the values per group 0..n-1 (NaN for an empty group)."""
    out = np.full(n, np.nan)
    ufunc.at(out, groups, values)  # fmax / fmin skip NaN: the first value replaces the NaN start
    return out


def _combine(values: np.ndarray, how: str) -> float:
    return float({"max": np.max, "min": np.min, "sum": np.sum, "mean": np.mean}[how](values))
