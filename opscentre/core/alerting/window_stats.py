"""Per-entity statistics of one kind's readings over a window: what every aggregation needs.

`window_stats` computes them from the window's readings. A worker keeps a `WindowIndex` per
kind beside its history (workers/readings_cache.py): while the history is in time order, the
statistics of the bulk of each window are kept from the last rebase, and an evaluation adds
only the readings at the window's two ends — the old edge that is still inside and what
arrived since — so an evaluation after a poll costs the readings that moved, not every reading
of 24 h (`opscentre bench alerts`). Both give the same statistics (sums may differ in the last
digit: they are added in another order).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

# What an aggregation needs besides the count and the newest reading, which every one needs
# (the newest time is the `observed_at` an alert shows).
NEEDS = {"sum": "total", "mean": "total", "max": "high", "min": "low", "rate": "first"}


@dataclass
class Stats:
    """Per entity, over readings in time order. Optional groups are None until asked for."""

    count: np.ndarray  # readings per entity
    last_t: np.ndarray  # the newest reading's time and value (NaN: none)
    last_v: np.ndarray
    total: np.ndarray | None = None
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    first_t: np.ndarray | None = None  # the oldest reading's (rate: first to last)
    first_v: np.ndarray | None = None


def window_stats(codes: np.ndarray, times: np.ndarray, values: np.ndarray, n: int, groups: Iterable[str]) -> Stats:
    """Statistics of these readings (entity index, time, value, in the order stored) for
    entities 0..n-1. The newest reading is the one with the latest time (of two at the same
    time, the one stored last); the oldest, the earliest time (stored first)."""
    position = np.arange(len(codes))
    if len(times) < 2 or bool(np.all(times[1:] >= times[:-1])):  # in time order: the last stored is the newest
        last = np.full(n, -1)
        np.maximum.at(last, codes, position)
    else:
        last = _latest_of_newest(codes, times, position, n)
    has = last >= 0
    at = np.maximum(last, 0)
    stats = Stats(np.bincount(codes, minlength=n), np.where(has, times[at] if len(times) else np.nan, np.nan),
                  np.where(has, values[at] if len(values) else np.nan, np.nan))
    _add_groups(stats, codes, times, values, n, set(groups))
    return stats


def _latest_of_newest(codes: np.ndarray, times: np.ndarray, position: np.ndarray, n: int) -> np.ndarray:
    """Per entity, the position of its reading with the latest time, the last stored among equals."""
    newest = group_reduce(np.fmax, codes, times, n)
    is_newest = times == newest[codes]
    last = np.full(n, -1)
    np.maximum.at(last, codes[is_newest], position[is_newest])
    return last


def _oldest_first(codes: np.ndarray, times: np.ndarray, n: int) -> np.ndarray:
    """Per entity, the position of its reading with the earliest time, the first stored among
    equals (len(codes) where it has none)."""
    oldest = group_reduce(np.fmin, codes, times, n)
    is_oldest = times == oldest[codes]
    first = np.full(n, len(codes))
    np.minimum.at(first, codes[is_oldest], np.arange(len(codes))[is_oldest])
    return first


def _add_groups(stats: Stats, codes: np.ndarray, t: np.ndarray, v: np.ndarray, n: int, groups: set[str]) -> None:
    if "total" in groups and stats.total is None:
        stats.total = np.bincount(codes, weights=v, minlength=n)
    if "high" in groups and stats.high is None:
        stats.high = group_reduce(np.fmax, codes, v, n)
    if "low" in groups and stats.low is None:
        stats.low = group_reduce(np.fmin, codes, v, n)
    if "first" in groups and stats.first_t is None:
        first = _oldest_first(codes, t, n)
        has = first < len(codes)
        at = np.where(has, first, 0)
        stats.first_t = np.where(has, t[at] if len(t) else np.nan, np.nan)
        stats.first_v = np.where(has, v[at] if len(v) else np.nan, np.nan)


def group_reduce(ufunc: np.ufunc, codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """ufunc (np.fmax / np.fmin) of the values per group 0..n-1 (NaN for an empty group)."""
    out = np.full(n, np.nan)
    ufunc.at(out, codes, values)  # fmax / fmin skip NaN: the first value replaces the NaN start
    return out


def combine(parts: list[Stats], groups: set[str]) -> Stats:
    """The statistics of stretches of readings, given in the order they were stored: of two
    newest readings at the same time the later stretch's wins, of two oldest the earlier's."""
    count = sum(p.count for p in parts)
    last_t, last_v = parts[0].last_t.copy(), parts[0].last_v.copy()
    for p in parts[1:]:
        newer = (p.count > 0) & ~(p.last_t < last_t)  # (NaN: nothing yet, so any reading is newer)
        last_t[newer], last_v[newer] = p.last_t[newer], p.last_v[newer]
    out = Stats(count, last_t, last_v)
    if "total" in groups:
        out.total = sum(p.total for p in parts)
    if "high" in groups:
        out.high = np.fmax.reduce([p.high for p in parts])
    if "low" in groups:
        out.low = np.fmin.reduce([p.low for p in parts])
    if "first" in groups:
        out.first_t, out.first_v = parts[-1].first_t.copy(), parts[-1].first_v.copy()
        for p in reversed(parts[:-1]):
            older = (p.count > 0) & ~(p.first_t > out.first_t)
            out.first_t[older], out.first_v[older] = p.first_t[older], p.first_v[older]
    return out


@dataclass
class _Base:
    """A window's statistics over readings [start, end) (absolute positions), kept from a rebase
    at `rebased_at` until `until` (the next point of the window's grid)."""

    rebased_at: float
    until: float
    start: int
    end: int
    stats: Stats | None = None


@dataclass
class WindowIndex:
    """The bulk of each window's statistics, kept between evaluations for one kind's history.

    Positions are absolute (the history's `seq0` is the position of its first reading), so
    appends and readings dropped from the front do not move them. At a rebase at time T, the
    base of a window w is the readings [start, end): end is where the history's running max
    passes T (every reading before it is at most T), start where it passes U - w + lag (every
    reading from it on is newer than U - w), U the next point of the window's own grid after T
    (every SPAN_S, shifted by a quarter span per window in the order they came, from `stagger`
    on). For any `now` in [T, U] the base is inside the window, and an evaluation adds the
    readings of [a, start) and of [end, b) that are (KindHistory.bounds). When readings were
    dropped into the base or time moved outside [T, U], the base is rebuilt.

    A rebuild reads the whole window (a 24 h window of a city of 250,000 entities: ~0.2 s), and
    the grids keep windows from coming due together: a timer evaluation every SPAN_S / 4
    rebuilds about a quarter of them.
    """

    n: int  # the entity index it was built on
    stagger: int = 0  # where this index's windows start on the quarters (a cache gives each kind its own)
    bases: dict[float, _Base] = field(default_factory=dict)
    phases: dict[float, float] = field(default_factory=dict)  # window -> its grid's offset (s)
    rebases: int = 0  # (for tests and the benchmark)

    SPAN_S = 60.0

    def stats(self, history, window: float, now: float, groups: set[str]) -> Stats:
        """The window's statistics over a KindHistory."""
        seq0 = history.seq0
        a, b = history.bounds(now - window, now)
        a, b = seq0 + a, seq0 + b
        base = self.bases.get(window)
        if base is None or not (a <= base.start and base.rebased_at <= now <= base.until):
            until = self._next_grid_point(window, now)
            runmax = history.running_max
            end = seq0 + int(np.searchsorted(runmax, now, side="right"))
            start = seq0 + int(np.searchsorted(runmax, until - window + history.lag, side="right"))
            base = self.bases[window] = _Base(now, until, max(a, min(start, end)), end)
            self.rebases += 1
        if base.stats is None:
            base.stats = self._part(history, base.start, base.end, None, groups)
        else:
            missing = groups - _held(base.stats)
            if missing:
                s = slice(base.start - seq0, base.end - seq0)
                _add_groups(base.stats, history.codes[s], history.times[s], history.values[s], self.n, missing)
        edge = self._part(history, a, base.start, (now - window, now), groups)
        new = self._part(history, base.end, max(base.end, b), (now - window, now), groups)
        return combine([edge, base.stats, new], groups)

    def _next_grid_point(self, window: float, now: float) -> float:
        """The first point of the window's grid after `now`."""
        if window not in self.phases:
            self.phases[window] = (self.stagger + len(self.phases)) % 4 * self.SPAN_S / 4
        return now - (now - self.phases[window]) % self.SPAN_S + self.SPAN_S

    def _part(self, history, start: int, end: int, window: tuple[float, float] | None, groups: set[str]) -> Stats:
        s = slice(start - history.seq0, end - history.seq0)
        codes, times, values = history.codes[s], history.times[s], history.values[s]
        if window is not None:
            codes, times, values = inside(codes, times, values, *window)
        return window_stats(codes, times, values, self.n, groups)


def inside(codes: np.ndarray, times: np.ndarray, values: np.ndarray, start: float, end: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The readings with start < t <= end."""
    keep = (times > start) & (times <= end)
    if keep.all():
        return codes, times, values
    return codes[keep], times[keep], values[keep]


def _held(stats: Stats) -> set[str]:
    return {g for g, present in (("total", stats.total), ("high", stats.high), ("low", stats.low),
                                 ("first", stats.first_t)) if present is not None}
