"""Window metrics per entity, computed for all entities at once, equal the plain definition
computed entity by entity — in time order or not (a replayed backfill), whoever asks first."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from opscentre.core.alerting.metrics import MetricCache
from opscentre.core.alerting.readings import KindHistory, Readings, Registry

NOW = 1_700_000_000.0
IDS = ["a", "b", "c", "d"]
WINDOW = 3600.0


def plain(readings: list[tuple[int, float, float]], entity: int, aggregation: str) -> tuple[float, float]:
    """(value, newest time) of one entity over (NOW - WINDOW, NOW], the way a person would."""
    mine = sorted(((t, v) for e, t, v in readings if e == entity and NOW - WINDOW < t <= NOW), key=lambda p: p[0])
    if not mine:
        return math.nan, math.nan
    values = [v for _, v in mine]
    newest = max(t for t, _ in mine)
    if aggregation == "sum":
        return sum(values), newest
    if aggregation == "mean":
        return sum(values) / len(values), newest
    if aggregation == "max":
        return max(values), newest
    if aggregation == "min":
        return min(values), newest
    (t0, v0), (t1, v1) = mine[0], mine[-1]  # rate: first to last, per hour
    return ((v1 - v0) / (t1 - t0) * 3600.0 if t1 > t0 else math.nan), newest


def readings_of(rows: list[tuple[int, float, float]]) -> Readings:
    registry = Registry.of({e: {"zone_id": "z", "entity_type": "rain_gauge"} for e in IDS}, ["z"])
    codes = np.array([r[0] for r in rows], dtype=np.int32)
    times = np.array([r[1] for r in rows], dtype=float)
    values = np.array([r[2] for r in rows], dtype=float)
    return Readings(registry=registry, history={"rain_mm": KindHistory(codes, times, values)})


rows = st.lists(st.tuples(st.integers(0, len(IDS) - 1),
                          st.floats(NOW - 2 * WINDOW, NOW + 600, allow_nan=False).map(lambda t: round(t)),
                          st.floats(0, 200, allow_nan=False).map(lambda v: round(v, 1))), max_size=40)


@given(rows, st.booleans())
def test_every_aggregation_equals_its_plain_definition_for_every_entity(data, in_time_order):
    if in_time_order:
        data = sorted(data, key=lambda r: r[1])
    cache = MetricCache(readings_of(data), NOW)
    for aggregation in ("sum", "mean", "max", "min", "rate"):
        values, times = cache.per_entity("rain_mm", WINDOW, aggregation)
        for i in range(len(IDS)):
            want_v, want_t = plain(data, i, aggregation)
            assert values[i] == pytest.approx(want_v, nan_ok=True, rel=1e-9, abs=1e-9), (aggregation, i)
            assert times[i] == pytest.approx(want_t, nan_ok=True), (aggregation, i)


def test_asking_for_some_entities_first_does_not_change_what_the_others_get_later():
    data = [(0, NOW - 60, 5.0), (1, NOW - 60, 7.0), (1, NOW - 30, 1.0)]
    cache = MetricCache(readings_of(data), NOW)
    only_b = np.array([False, True, False, False])
    some, _ = cache.per_entity("rain_mm", WINDOW, "sum", only_b)
    every, _ = cache.per_entity("rain_mm", WINDOW, "sum")
    assert np.isnan(some[0]) and some[1] == 8.0
    assert every[0] == 5.0 and every[1] == 8.0
