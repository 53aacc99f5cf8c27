"""A worker's WindowIndex gives the statistics of computing each window from its readings,
however readings arrive (out of time order too), leave the front of the history and time
moves (even backwards)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from opscentre.core.alerting.readings import KindHistory
from opscentre.core.alerting.window_stats import WindowIndex, window_stats

N = 5
GROUPS = {"total", "high", "low", "first"}
WINDOWS = (120.0, 900.0)


def assert_same(got, want):
    for name in ("count", "last_t", "last_v", "high", "low", "first_t", "first_v"):
        assert np.array_equal(getattr(got, name), getattr(want, name), equal_nan=True), name
    assert got.total == pytest.approx(want.total, rel=1e-12, abs=1e-9)


steps = st.lists(st.one_of(
    st.tuples(st.just("append"), st.lists(st.tuples(st.integers(0, N - 1), st.integers(0, 40),
                                                    st.integers(-50, 50)), min_size=1, max_size=30),
              st.sampled_from([0, 0, 0, 5, 600])),  # how far a batch's readings may lag the newest
    st.tuples(st.just("drop"), st.integers(0, 20)),
    st.tuples(st.just("query"), st.integers(-30, 200), st.sampled_from(WINDOWS)),
), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_the_index_gives_what_the_readings_of_the_window_give(sequence):
    codes, times, values = [], [], []
    seq0, clock, now = 0, 1_000.0, 1_000.0
    index = WindowIndex(N)
    for step in sequence:
        if step[0] == "append":  # the clock moves on; a reading may be stamped up to `late` s before it
            late = step[2]
            for code, gap, value in step[1]:
                clock += gap
                codes.append(code)
                times.append(clock - (gap * 7919 % (late + 1)))
                values.append(value / 4)
        elif step[0] == "drop":  # batches leave the front of the history
            k = min(step[1], len(codes))
            del codes[:k], times[:k], values[:k]
            seq0 += k
        else:
            now = max(1_000.0, clock + step[1])  # around the newest reading: before it too
            c, t, v = np.array(codes, dtype=np.int64), np.array(times), np.array(values)
            window = step[2]
            got = index.stats(KindHistory(c, t, v, seq0=seq0), window, now, set(GROUPS))
            inside = (t > now - window) & (t <= now)
            assert_same(got, window_stats(c[inside], t[inside], v[inside], N, GROUPS))


def test_a_window_that_moves_less_than_the_span_reuses_its_base_and_more_rebuilds_it():
    t = np.arange(0.0, 3600.0, 10.0)
    c, v = (np.arange(len(t)) % N), np.ones(len(t))
    index, history = WindowIndex(N), KindHistory(c, t, v)
    index.stats(history, 900.0, 3000.0, {"total"})
    index.stats(history, 900.0, 3000.0 + WindowIndex.SPAN_S / 2, {"total"})
    assert index.rebases == 1
    got = index.stats(history, 900.0, 3000.0 + WindowIndex.SPAN_S * 2, {"total"})
    assert index.rebases == 2
    assert got.count.sum() == 90 and got.total.sum() == 90.0  # 900 s of a reading every 10 s


def test_windows_built_together_are_rebuilt_at_different_evaluations():
    """A rebuild reads the whole window: four windows first built at once come due on different
    timer evaluations (a quarter span apart), each once a span, never all at one."""
    t = np.arange(0.0, 7200.0, 10.0)
    c, v = (np.arange(len(t)) % N), np.ones(len(t))
    index, history = WindowIndex(N), KindHistory(c, t, v)
    windows = (900.0, 1800.0, 2700.0, 3600.0)
    rebuilt_at = []
    for k in range(12):  # a timer evaluation every quarter span
        now = 4000.0 + k * WindowIndex.SPAN_S / 4
        before = index.rebases
        for window in windows:
            got = index.stats(history, window, now, {"total"})
            inside = (t > now - window) & (t <= now)
            assert got.count.sum() == inside.sum()
        rebuilt_at.append(index.rebases - before)
    assert rebuilt_at[0] == 4  # the first evaluation builds every window
    assert rebuilt_at[4:] == [1] * 8  # then one a quarter: each window once a span
