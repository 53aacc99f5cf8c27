"""A rule's metric, computed for every scope key at once: per entity, per zone, city-wide.

Pure: (readings, now) in, arrays out. One (kind, window, aggregation) is computed once per
evaluation however many rules read it (`MetricCache`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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


class MetricCache:
    """Per-entity metrics of one evaluation, memoised by (kind, window, aggregation) and the
    entities they are needed for."""

    def __init__(self, readings: Readings, now: float):
        self.readings = readings
        self.now = now
        self._entity: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def per_entity(self, kind: str, window: float | None, aggregation: str,
                   only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """only: a bool mask of the entities needed (the rest come out NaN); None: all."""
        key = (kind, window, aggregation, None if only is None else id(only))
        if key not in self._entity:
            self._entity[key] = _entity_metric(self.readings, kind, window, aggregation, self.now, only)
        return self._entity[key]

    def entity_mask(self, rule: Rule) -> np.ndarray:
        return self.readings.registry.selection(rule.entity_type, rule.source)

    def measure(self, rule: Rule, condition: Condition | None = None, only: np.ndarray | None = None) -> Measured:
        """The rule's metric (or one compound condition's) per scope key of the rule. only: the
        entities whose keys are wanted (a zone key needs every entity of the zone); None: all."""
        kind = condition.kind if condition else rule.kind
        window = condition.window if condition else rule.window
        aggregation = condition.aggregation if condition else rule.aggregation
        values, times = self.per_entity(kind, window, aggregation, only)
        mask = self.entity_mask(rule)
        return scoped(self.readings, rule.scope, rule.combine, np.where(mask, values, np.nan),
                      np.where(mask, times, np.nan))


def _entity_metric(readings: Readings, kind: str, window: float | None, aggregation: str,
                   now: float, only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    n = len(readings)
    if aggregation == "latest":
        values, times = readings.latest(kind)
        old = ~(times >= now - window) if window else np.zeros(n, dtype=bool)
        if only is not None:
            old |= ~only
        if window or only is not None:
            values, times = np.where(old, np.nan, values), np.where(old, np.nan, times)
        return values, times
    codes, t, v = readings.kind_history(kind).within(now - window, now)
    if only is not None:
        needed = only[codes]
        codes, t, v = codes[needed], t[needed], v[needed]
    out_v, out_t = np.full(n, np.nan), np.full(n, np.nan)
    if codes.size == 0:
        return out_v, out_t
    if aggregation in ("sum", "mean"):
        counts = np.bincount(codes, minlength=n)
        sums = np.bincount(codes, weights=v, minlength=n)
        has = counts > 0
        out_v[has] = sums[has] / (counts[has] if aggregation == "mean" else 1)
        out_t[has] = _group_reduce(np.fmax, codes, t, n)[has]
        return out_v, out_t
    if aggregation in ("max", "min"):
        has = np.bincount(codes, minlength=n) > 0
        out_v[has] = _group_reduce(np.fmax if aggregation == "max" else np.fmin, codes, v, n)[has]
        out_t[has] = _group_reduce(np.fmax, codes, t, n)[has]
        return out_v, out_t
    frame = pd.DataFrame({"c": codes, "t": t, "v": v})
    if np.any(np.diff(t) < 0):  # history is appended in time order; a replayed backfill may not be
        frame = frame.sort_values("t", kind="stable")
    grouped = frame.groupby("c", sort=False)
    if aggregation == "rate":  # change per hour between the first and last reading in the window
        agg = grouped.agg(v0=("v", "first"), v1=("v", "last"), t0=("t", "first"), t=("t", "last"))
        span = (agg["t"] - agg["t0"]).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            agg["v"] = np.where(span > 0, (agg["v1"] - agg["v0"]).to_numpy() / span * 3600.0, np.nan)
    else:
        raise ValueError(f"unknown aggregation {aggregation!r}")
    where = agg.index.to_numpy()
    out_v[where] = agg["v"].to_numpy()
    out_t[where] = agg["t"].to_numpy()
    return out_v, out_t


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
