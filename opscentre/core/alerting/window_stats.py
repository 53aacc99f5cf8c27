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


def window_stats(codes: np.ndarray, times: np.ndarray, values: np.ndarray, n: int, time_ordered: bool,
                 groups: Iterable[str]) -> Stats:
    """Statistics of these readings (entity index, time, value) for entities 0..n-1."""
    if not time_ordered:  # (a replayed backfill): first and last mean oldest and newest
        order = np.argsort(times, kind="stable")
        codes, times, values = codes[order], times[order], values[order]
    return _ordered_stats(codes, times, values, n, set(groups))


def _ordered_stats(codes: np.ndarray, t: np.ndarray, v: np.ndarray, n: int, groups: set[str]) -> Stats:
    position = np.arange(len(codes))
    last = np.full(n, -1)
    np.maximum.at(last, codes, position)
    has = last >= 0
    at = np.maximum(last, 0)
    stats = Stats(np.bincount(codes, minlength=n), np.where(has, t[at] if len(t) else np.nan, np.nan),
                  np.where(has, v[at] if len(v) else np.nan, np.nan))
    _add_groups(stats, codes, t, v, n, groups)
    return stats


def _add_groups(stats: Stats, codes: np.ndarray, t: np.ndarray, v: np.ndarray, n: int, groups: set[str]) -> None:
    if "total" in groups and stats.total is None:
        stats.total = np.bincount(codes, weights=v, minlength=n)
    if "high" in groups and stats.high is None:
        stats.high = group_reduce(np.fmax, codes, v, n)
    if "low" in groups and stats.low is None:
        stats.low = group_reduce(np.fmin, codes, v, n)
    if "first" in groups and stats.first_t is None:
        first = np.full(n, len(codes))
        np.minimum.at(first, codes, np.arange(len(codes)))
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
    """The statistics of consecutive stretches of readings (oldest stretch first)."""
    count = sum(p.count for p in parts)
    last_t, last_v = parts[0].last_t.copy(), parts[0].last_v.copy()
    for p in parts[1:]:
        newer = p.count > 0
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
            older = p.count > 0
            out.first_t[older], out.first_v[older] = p.first_t[older], p.first_v[older]
    return out


@dataclass
class _Base:
    """A window's statistics over readings [start, end) (absolute positions), kept from a rebase."""

    rebased_at: float
    start: int
    end: int
    stats: Stats | None = None


@dataclass
class WindowIndex:
    """The bulk of each window's statistics, kept between evaluations for one kind's history.

    Positions are absolute (the history view's `seq0` is the position of its first reading), so
    appends and readings dropped from the front do not move them. A window (now - w, now] is
    the readings [a, b) of the time-ordered history; the base covers [start, end), readings up
    to the rebase time minus the oldest `SPAN_S` of the window; an evaluation adds [a, start)
    and [end, b). When the window no longer contains the base (time moved on by more than
    SPAN_S, or readings were dropped) the base is rebuilt at the evaluation's `now`.
    """

    n: int  # the entity index it was built on
    bases: dict[float, _Base] = field(default_factory=dict)
    rebases: int = 0  # (for tests and the benchmark)

    SPAN_S = 60.0

    def stats(self, codes: np.ndarray, times: np.ndarray, values: np.ndarray, seq0: int, window: float,
              now: float, groups: set[str]) -> Stats:
        """The window's statistics; codes/times/values: the whole history view, in time order."""
        a = seq0 + int(np.searchsorted(times, now - window, side="right"))
        b = seq0 + int(np.searchsorted(times, now, side="right"))
        base = self.bases.get(window)
        if base is None or not (a <= base.start and base.end <= b and now <= base.rebased_at + self.SPAN_S):
            start = seq0 + int(np.searchsorted(times, now - window + self.SPAN_S, side="right"))
            base = self.bases[window] = _Base(now, min(max(a, start), b), b)
            self.rebases += 1
        if base.stats is None:
            base.stats = self._part(codes, times, values, seq0, base.start, base.end, groups)
        else:
            missing = groups - _held(base.stats)
            if missing:
                s = slice(base.start - seq0, base.end - seq0)
                _add_groups(base.stats, codes[s], times[s], values[s], self.n, missing)
        edge = self._part(codes, times, values, seq0, a, base.start, groups)
        new = self._part(codes, times, values, seq0, base.end, b, groups)
        return combine([edge, base.stats, new], groups)

    def _part(self, codes, times, values, seq0: int, start: int, end: int, groups: set[str]) -> Stats:
        s = slice(start - seq0, end - seq0)
        return _ordered_stats(codes[s], times[s], values[s], self.n, groups)


def _held(stats: Stats) -> set[str]:
    return {g for g, present in (("total", stats.total), ("high", stats.high), ("low", stats.low),
                                 ("first", stats.first_t)) if present is not None}
