"""Rain cells and the rain they drop: intensity at an instant, depth over any interval.

A rain cell is born at `birth`, lives `life` seconds, moves in a straight line at (vx, vy) and
rains with a Gaussian footprint (sigma `radius`, cut to zero beyond 3 sigma, so the city is
really dry between cells) whose peak grows and decays as sin(pi u)^shape over its life
(u = 0 at birth, 1 at death): shape 2 is a short convective burst, shape < 1 a long plateau.

Depth over an interval is read from a per-cell cumulative table: the cell's life is cut into
KNOTS sub-steps, the rain of each sub-step at each point is evaluated at its midpoint, and the
running sum is interpolated linearly in time. Every accumulation is a difference of that one
cumulative function, so 15-min, 1-h, 24-h and 96-h totals always add up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

KNOTS = 32
FOOTPRINT_CUTOFF_SIGMAS = 3.0
_EDGE = float(np.exp(-0.5 * FOOTPRINT_CUTOFF_SIGMAS**2))


@dataclass(frozen=True, eq=False)
class Cells:
    birth: np.ndarray  # unix s
    life: np.ndarray  # s
    x: np.ndarray  # km, position at birth
    y: np.ndarray
    vx: np.ndarray  # km/s
    vy: np.ndarray
    peak: np.ndarray  # mm/h at the centre at the height of its life
    radius: np.ndarray  # km, Gaussian sigma
    shape: np.ndarray  # envelope exponent

    def __len__(self) -> int:
        return len(self.birth)

    @classmethod
    def empty(cls) -> Cells:
        return cls(*(np.zeros(0) for _ in fields(cls)))

    @classmethod
    def concat(cls, parts: list[Cells]) -> Cells:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def select(self, mask: np.ndarray) -> Cells:
        return Cells(*(getattr(self, f.name)[mask] for f in fields(self)))

    def alive_between(self, t_from: float, t_to: float) -> Cells:
        """The cells that rain at some moment of [t_from, t_to]."""
        return self.select((self.birth < t_to) & (self.birth + self.life > t_from))


def footprint(distance_sq: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Gaussian falloff 1 at the centre, exactly 0 beyond FOOTPRINT_CUTOFF_SIGMAS."""
    gauss = np.exp(-0.5 * distance_sq / radius**2)
    return np.clip((gauss - _EDGE) / (1.0 - _EDGE), 0.0, None)


def intensity_at(cells: Cells, t: float, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Rain rate (mm/h) at time t at each point."""
    live = cells.select((cells.birth <= t) & (cells.birth + cells.life > t))
    if not len(live):
        return np.zeros(len(px))
    age = t - live.birth
    envelope = np.sin(np.pi * age / live.life) ** live.shape
    cx = live.x + live.vx * age
    cy = live.y + live.vy * age
    d2 = (cx[:, None] - px[None, :]) ** 2 + (cy[:, None] - py[None, :]) ** 2
    rate = (live.peak * envelope)[:, None] * footprint(d2, live.radius[:, None])
    return rate.sum(axis=0)


def cumulative_table(cells: Cells, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """mm fallen at each point from each cell since its birth, at KNOTS+1 instants: (C, K+1, P)."""
    u_mid = (np.arange(KNOTS) + 0.5) / KNOTS
    age = cells.life[:, None] * u_mid[None, :]  # (C, K)
    envelope = np.sin(np.pi * u_mid)[None, :] ** cells.shape[:, None]
    cx = cells.x[:, None] + cells.vx[:, None] * age
    cy = cells.y[:, None] + cells.vy[:, None] * age
    d2 = (cx[:, :, None] - px[None, None, :]) ** 2 + (cy[:, :, None] - py[None, None, :]) ** 2
    step_h = cells.life / KNOTS / 3600.0
    depth = (cells.peak * step_h)[:, None, None] * envelope[:, :, None] * footprint(d2, cells.radius[:, None, None])
    table = np.zeros((len(cells), KNOTS + 1, len(px)))
    np.cumsum(depth, axis=1, out=table[:, 1:, :])
    return table


def rain_by_time(cells: Cells, table: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Rain fallen at each point from these cells up to each time: (Q, P), cumulative in time.

    Differences between two rows are the rain between those two times.
    """
    n_points = table.shape[2]
    if not len(cells):
        return np.zeros((len(times), n_points))
    u = np.clip((times[None, :] - cells.birth[:, None]) / cells.life[:, None], 0.0, 1.0) * KNOTS  # (C, Q)
    index = np.minimum(np.floor(u).astype(np.int64), KNOTS - 1)
    frac = (u - index)[:, :, None]
    rows = np.arange(len(cells))[:, None]
    before = table[rows, index]  # (C, Q, P)
    after = table[rows, index + 1]
    return (before * (1.0 - frac) + after * frac).sum(axis=0)


def rain_between(cells: Cells, px: np.ndarray, py: np.ndarray, starts: np.ndarray, end: float) -> np.ndarray:
    """Rain (mm) at each point over each window [start, end]: (len(starts), P)."""
    starts = np.asarray(starts, dtype=float)
    relevant = cells.alive_between(float(starts.min()), end)
    table = cumulative_table(relevant, px, py)
    by_time = rain_by_time(relevant, table, np.append(starts, end))
    return np.clip(by_time[-1][None, :] - by_time[:-1], 0.0, None)


def rain_bins(cells: Cells, px: np.ndarray, py: np.ndarray, t_end: float, bin_s: float, n_bins: int) -> np.ndarray:
    """Rain (mm) at each point in n_bins consecutive bins ending at t_end, oldest first: (n_bins, P)."""
    times = t_end - bin_s * np.arange(n_bins, -1, -1, dtype=float)
    relevant = cells.alive_between(float(times[0]), t_end)
    by_time = rain_by_time(relevant, cumulative_table(relevant, px, py), times)
    return np.clip(np.diff(by_time, axis=0), 0.0, None)
