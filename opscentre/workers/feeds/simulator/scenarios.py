"""Named weather scenarios played on top of the ordinary weather.

`storm-2010-04` is modelled on the storm of 5–6 April 2010 that led Rio to create the COR:
a quasi-stationary rain shield over the city for about a day, with a train of slow convective
cells crossing the same area again and again and a few violent downbursts. Shape (hours after
the scenario start): 0–5 h the rain builds up, 5–18 h it is at its height (the train stalls
over the core 9–15 h), 18–28 h it decays. With the Rio gauges the worst gauge collects
210–320 mm in 24 h depending on the seed (median ~285; the 2010 record was ~280 mm), 15-min
totals reach 30–36 mm ("very heavy" is > 12.5 mm) — the downbursts take a gauge or two past
COR's stage-4 mark (> 25 mm in 15 min with > 60 mm in 1 h) — and the worst gauge spends 1–4 h
above 40 mm/h. The number of cells is fixed; the seed places and sizes them.

The storm is placed in city-relative terms (its core at a fixed fraction of the zones'
bounding box, moved onto the city if that point is off it), so any city can play it; sizes
are in kilometres, as weather does not scale with a city's size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from shapely.geometry import Point
from shapely.ops import nearest_points

from opscentre.workers.feeds.simulator.cells import Cells
from opscentre.workers.feeds.simulator.city import City, CityKey, city_model
from opscentre.workers.feeds.simulator.noise import SALT_STORM_CELLS, rng_for

HOUR_S = 3600


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration_s: float
    cells: Callable[[int, City, float], Cells]  # (seed, city, start unix s) -> its rain cells


# ---- storm-2010-04 ----------------------------------------------------------------------------

STORM_HOURS = 28
STORM_CORE_FRACTION = (0.80, 0.42)  # of the bounding box (x from west, y from south): Rio's Tijuca massif
STORM_BEARING_DEG = 50.0  # the cells train from south-west to north-east
TRAIN_CELLS_PER_HOUR_AT_PEAK = 0.12
TRAIN_BURST_HOURS = (9, 15)  # the night the train stalled over the city
TRAIN_BURST_CELLS_PER_HOUR = 1.2
DOWNBURST_COUNT = 3
DOWNBURST_PEAK_MMH = 120.0  # a few gauges pass COR's stage-4 mark: > 25 mm in 15 min with > 60 mm in 1 h
TRAIN_PEAK_MEDIAN_MMH = 20.0
TRAIN_HALF_WIDTH_KM = 2.5
TRAIN_RADIUS_KM = (4.0, 5.5)
TRAIN_SPEED_KMH = (4.0, 7.0)
TRAIN_LIFETIME_MIN = (150.0, 240.0)
SYSTEM_PEAKS_MMH = (1.3, 0.6)  # broad shield, narrower core band
SYSTEM_RADII_KM = (40.0, 9.0)


def storm_envelope(hours_since_start: float) -> float:
    """0..1: how far the storm is developed: builds 0–5 h, holds 5–18 h, decays 18–28 h."""
    h = hours_since_start
    if h <= 0 or h >= STORM_HOURS:
        return 0.0
    if h < 5:
        return 0.15 + 0.85 * h / 5
    if h < 18:
        return 1.0
    return max(0.0, 1.0 - (h - 18) / (STORM_HOURS - 18))


def storm_core_km(city: City) -> tuple[float, float]:
    xmin, ymin, xmax, ymax = city.extent_km
    fx, fy = STORM_CORE_FRACTION
    x, y = xmin + fx * (xmax - xmin), ymin + fy * (ymax - ymin)
    lon, lat = city.frame.to_lonlat(x, y)
    union = city.key.zones.union
    point = Point(float(lon), float(lat))
    if not union.contains(point):
        point = nearest_points(union, point)[0]
    cx, cy = city.frame.to_km(point.x, point.y)
    return float(cx), float(cy)


def _system_cells(start: float, core: tuple[float, float]) -> Cells:
    """The long-lived rain shield: a broad weak part and a stronger core, both almost still."""
    drift = 0.3 / HOUR_S  # km/s
    bearing = math.radians(STORM_BEARING_DEG)
    vx, vy = drift * math.sin(bearing), drift * math.cos(bearing)
    life = np.array([STORM_HOURS * HOUR_S, 24 * HOUR_S])
    birth = np.array([start, start + 1.5 * HOUR_S])
    # Positioned so they pass over the core half-way through their lives.
    x = np.array([core[0] - 4.0, core[0]]) - vx * life / 2
    y = np.array([core[1] - 3.0, core[1]]) - vy * life / 2
    return Cells(
        birth=birth,
        life=life,
        x=x,
        y=y,
        vx=np.full(2, vx),
        vy=np.full(2, vy),
        peak=np.array(SYSTEM_PEAKS_MMH),
        radius=np.array(SYSTEM_RADII_KM),
        shape=np.array([0.8, 0.6]),
    )


def train_cell_counts() -> list[int]:
    """Cells born in each storm hour: a fixed running total of the expected count, so every
    seed plays a storm of the same strength (the seed places and sizes the cells)."""
    counts, expected = [], 0.0
    for hour in range(STORM_HOURS):
        before = math.floor(expected)
        expected += TRAIN_CELLS_PER_HOUR_AT_PEAK * storm_envelope(hour + 0.5)
        expected += TRAIN_BURST_CELLS_PER_HOUR if TRAIN_BURST_HOURS[0] <= hour < TRAIN_BURST_HOURS[1] else 0.0
        counts.append(math.floor(expected) - before)
    return counts


def _train_cells(seed: int, start: float, core: tuple[float, float]) -> Cells:
    """Convective cells born hour by hour, crossing the core along the storm's bearing."""
    hours = np.repeat(np.arange(STORM_HOURS), train_cell_counts())
    n = len(hours)
    rng = rng_for(seed, SALT_STORM_CELLS, 0)
    birth = start + (hours + rng.uniform(0, 1, n)) * HOUR_S
    life = rng.uniform(*TRAIN_LIFETIME_MIN, n) * 60
    peak = np.minimum(TRAIN_PEAK_MEDIAN_MMH * rng.lognormal(0.0, 0.2, n), 120.0)
    radius = rng.uniform(*TRAIN_RADIUS_KM, n)
    bearing = np.radians(STORM_BEARING_DEG + rng.normal(0.0, 10.0, n))
    speed = rng.uniform(*TRAIN_SPEED_KMH, n) / HOUR_S
    vx, vy = speed * np.sin(bearing), speed * np.cos(bearing)
    # Tracks spread evenly (stratified, in random order) across the train's width, so the
    # core is crossed about as often whatever the seed.
    across_fraction = (rng.permutation(n) + rng.uniform(0, 1, n)) / max(n, 1)
    offset_across = TRAIN_HALF_WIDTH_KM * (2 * across_fraction - 1)
    offset_along = rng.normal(0.0, 5.0, n)
    along = np.array([math.sin(math.radians(STORM_BEARING_DEG)), math.cos(math.radians(STORM_BEARING_DEG))])
    across = np.array([along[1], -along[0]])
    mid_x = core[0] + offset_along * along[0] + offset_across * across[0]
    mid_y = core[1] + offset_along * along[1] + offset_across * across[1]
    return Cells(birth, life, mid_x - vx * life / 2, mid_y - vy * life / 2, vx, vy, peak, radius, np.full(n, 1.5))


def _downburst_cells(seed: int, start: float, core: tuple[float, float]) -> Cells:
    """A few short, violent cells over the core at the height of the storm (the 15-min peaks)."""
    n = DOWNBURST_COUNT
    rng = rng_for(seed, SALT_STORM_CELLS, 1)
    first, last = TRAIN_BURST_HOURS
    birth = start + (first + (last - first) * (np.arange(n) + rng.uniform(0, 1, n)) / n) * HOUR_S
    life = rng.uniform(45, 75, n) * 60
    peak = DOWNBURST_PEAK_MMH * rng.uniform(0.85, 1.15, n)
    radius = rng.uniform(2.5, 3.5, n)
    bearing = np.radians(STORM_BEARING_DEG + rng.normal(0.0, 10.0, n))
    speed = rng.uniform(10.0, 15.0, n) / HOUR_S
    vx, vy = speed * np.sin(bearing), speed * np.cos(bearing)
    mid_x = core[0] + rng.uniform(-2.0, 2.0, n)
    mid_y = core[1] + rng.uniform(-2.0, 2.0, n)
    return Cells(birth, life, mid_x - vx * life / 2, mid_y - vy * life / 2, vx, vy, peak, radius, np.full(n, 2.0))


def _storm_2010_04(seed: int, city: City, start: float) -> Cells:
    core = storm_core_km(city)
    return Cells.concat(
        [_system_cells(start, core), _train_cells(seed, start, core), _downburst_cells(seed, start, core)]
    )


SCENARIOS: dict[str, Scenario] = {
    "storm-2010-04": Scenario(
        name="storm-2010-04",
        description="April 2010 Rio storm: ~28 h of rain, >200 mm/24 h at the worst gauges",
        duration_s=STORM_HOURS * HOUR_S,
        cells=_storm_2010_04,
    ),
}


@lru_cache(maxsize=64)
def _scenario_cells(name: str, seed: int, key: CityKey, start: float) -> Cells:
    return SCENARIOS[name].cells(seed, city_model(key), start)


def scenario_cells(name: str | None, seed: int, city: City, start: float, t_from: float, t_to: float) -> Cells:
    """The scenario's cells that rain at some moment of [t_from, t_to] (none without a scenario)."""
    if name is None:
        return Cells.empty()
    scenario = SCENARIOS[name]
    if start >= t_to or start + scenario.duration_s + 6 * HOUR_S <= t_from:
        return Cells.empty()
    return _scenario_cells(name, seed, city.key, float(start)).alive_between(t_from, t_to)
