"""Seeded randomness that is a pure function of (seed, what, when).

The simulator keeps no state between polls, so every random draw is re-derived from the seed,
a salt naming what is drawn, and a time slot. Salts are fixed small integers: changing one
changes that part of the simulation only.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# One salt per kind of draw (never reuse a number for a different purpose).
SALT_DAY_REGIME = 11
SALT_SHOWER_CELLS = 12
SALT_STORM_CELLS = 13
SALT_WIND = 21
SALT_TEMPERATURE = 22
SALT_ROAD_NETWORK = 31
SALT_TRAFFIC_NOISE = 32
SALT_TRAFFIC_INCIDENTS = 33
SALT_RIVERS = 41
SALT_OUTAGES = 42
SALT_RIVER_NOISE = 43

# The slot used for draws that do not depend on time (far from any knot of smooth_noise).
_TIMELESS_SLOT = -1


def rng_for(seed: int, salt: int, slot: int) -> np.random.Generator:
    """A generator for one (seed, purpose, time slot); the same inputs give the same draws."""
    return np.random.default_rng([seed & 0xFFFFFFFF, salt, slot & 0xFFFFFFFFFFFF])


@lru_cache(maxsize=128)  # a poll needs two knots per purpose; up to 2,000 values each
def _knot_values(seed: int, salt: int, knot: int, count: int) -> np.ndarray:
    values = rng_for(seed, salt, knot).standard_normal(count)
    values.flags.writeable = False
    return values


def smooth_noise(seed: int, salt: int, t: float, count: int, period_s: float) -> np.ndarray:
    """`count` standard-normal-ish values that vary smoothly with time t (unix s).

    Value noise: independent normal draws at knots every `period_s`, blended with a
    cosine ramp between the two knots around t. Continuous in t, deterministic.
    """
    position = t / period_s
    knot = int(np.floor(position))
    frac = position - knot
    weight = 0.5 - 0.5 * np.cos(np.pi * frac)
    before = _knot_values(seed, salt, knot, count)
    after = _knot_values(seed, salt, knot + 1, count)
    # Blending two independent normals shrinks the variance mid-way; rescale to keep it 1.
    scale = 1.0 / np.sqrt((1 - weight) ** 2 + weight**2)
    return (before * (1 - weight) + after * weight) * scale


@lru_cache(maxsize=256)
def site_offsets(seed: int, salt: int, count: int) -> np.ndarray:
    """Fixed standard-normal offsets per site (a gauge's microclimate, a segment's character)."""
    values = rng_for(seed, salt, _TIMELESS_SLOT).standard_normal(count)
    values.flags.writeable = False
    return values
