"""Ordinary weather: showers (rain cells), wind and air temperature, as functions of time.

Each simulated UTC day draws a regime from the seed: dry, or wet with a wetness factor, a
drift bearing (the climate's prevailing one plus noise) and a windiness factor. Each simulated
hour draws the rain cells born in it: how many depends on the day's wetness and, in warm
climates, on the local hour (afternoon convection). A cell's track is chosen so that it
crosses the city around the middle of its life. Nothing is remembered between polls; the
same (seed, hour) always gives the same cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from opscentre.workers.feeds.simulator.cells import Cells
from opscentre.workers.feeds.simulator.city import City
from opscentre.workers.feeds.simulator.climate import Climate
from opscentre.workers.feeds.simulator.noise import (
    SALT_DAY_REGIME,
    SALT_SHOWER_CELLS,
    SALT_TEMPERATURE,
    SALT_WIND,
    rng_for,
    site_offsets,
    smooth_noise,
)

HOUR_S = 3600
DAY_S = 86400
MAX_CELL_INTENSITY_MMH = 150.0
AFTERNOON_PEAK_HOUR = 16.0
AFTERNOON_WIDTH_H = 2.5
# Mean of the afternoon bump over a day, so the diurnal factor averages to 1.
_AFTERNOON_MEAN = AFTERNOON_WIDTH_H * math.sqrt(2 * math.pi) / 24
GUST_MS_PER_MMH = 0.22  # gusts under a cell grow with its rain rate (downdraughts)


@dataclass(frozen=True)
class DayRegime:
    wetness: float  # 0 = a dry day; otherwise mean 1
    drift_bearing_deg: float
    windiness: float  # multiplies the climate's base wind


@lru_cache(maxsize=1024)
def day_regime(seed: int, day: int, climate: Climate) -> DayRegime:
    rng = rng_for(seed, SALT_DAY_REGIME, day)
    wet = rng.random() < climate.wet_day_probability
    wetness = float(rng.gamma(1.5, 1 / 1.5)) if wet else 0.0
    bearing = climate.drift_toward_deg + float(rng.normal(0.0, 35.0))
    windiness = float(np.clip(rng.lognormal(0.0, 0.3), 0.5, 2.2)) * (1.15 if wet else 1.0)
    return DayRegime(wetness, bearing, windiness)


def local_hour(t: float, timezone: str) -> float:
    local = datetime.fromtimestamp(t, ZoneInfo(timezone))
    return local.hour + local.minute / 60 + local.second / 3600


def afternoon_factor(hour_of_day: float, climate: Climate) -> float:
    bump = math.exp(-0.5 * ((hour_of_day - AFTERNOON_PEAK_HOUR) / AFTERNOON_WIDTH_H) ** 2)
    return (1 - climate.afternoon_weight) + climate.afternoon_weight * bump / _AFTERNOON_MEAN


@lru_cache(maxsize=4096)
def showers_born_in_hour(
    seed: int, hour: int, climate: Climate, extent_km: tuple[float, float, float, float], timezone: str
) -> Cells:
    """The rain cells born during simulated hour `hour` (unix hours)."""
    regime = day_regime(seed, hour * HOUR_S // DAY_S, climate)
    if regime.wetness == 0.0:
        return Cells.empty()
    rng = rng_for(seed, SALT_SHOWER_CELLS, hour)
    diurnal = afternoon_factor(local_hour(hour * HOUR_S + HOUR_S / 2, timezone), climate)
    rate = climate.cells_per_hour * regime.wetness * diurnal
    n = int(rng.poisson(rate))
    if n == 0:
        return Cells.empty()
    birth = hour * HOUR_S + rng.uniform(0, HOUR_S, n)
    life = rng.uniform(*climate.lifetime_min, n) * 60
    peak = np.minimum(
        climate.intensity_median_mmh * regime.wetness**0.3 * np.exp(climate.intensity_sigma * rng.standard_normal(n)),
        MAX_CELL_INTENSITY_MMH,
    )
    radius = rng.uniform(*climate.radius_km, n)
    bearing = np.radians(regime.drift_bearing_deg + rng.normal(0.0, 20.0, n))
    speed = climate.drift_speed_kmh * rng.uniform(0.6, 1.4, n) / HOUR_S  # km/s
    vx, vy = speed * np.sin(bearing), speed * np.cos(bearing)
    xmin, ymin, xmax, ymax = extent_km
    mid_x = rng.uniform(xmin - 5, xmax + 5, n)
    mid_y = rng.uniform(ymin - 5, ymax + 5, n)
    cells = Cells(
        birth=birth,
        life=life,
        x=mid_x - vx * life / 2,
        y=mid_y - vy * life / 2,
        vx=vx,
        vy=vy,
        peak=peak,
        radius=radius,
        shape=np.full(n, 2.0),
    )
    for f in (cells.birth, cells.life, cells.x, cells.y, cells.vx, cells.vy, cells.peak, cells.radius, cells.shape):
        f.flags.writeable = False
    return cells


def shower_cells(seed: int, city: City, t_from: float, t_to: float) -> Cells:
    """Every ordinary rain cell that rains at some moment of [t_from, t_to]."""
    climate = city.climate
    longest_life_s = climate.lifetime_min[1] * 60
    first = int((t_from - longest_life_s) // HOUR_S)
    last = int(t_to // HOUR_S)
    parts = [
        showers_born_in_hour(seed, hour, climate, city.extent_km, city.key.timezone) for hour in range(first, last + 1)
    ]
    return Cells.concat(parts).alive_between(t_from, t_to)


def wind_speed_ms(seed: int, city: City, t: float, n_sites: int, rain_rate_mmh: np.ndarray) -> np.ndarray:
    """Wind at n sites: the day's base wind, an afternoon breeze, site exposure, gusts under rain."""
    climate = city.climate
    regime = day_regime(seed, int(t // DAY_S), climate)
    hour = local_hour(t, city.key.timezone)
    breeze = 1.0 + 0.35 * math.exp(-0.5 * ((hour - 14.0) / 3.0) ** 2)
    base = climate.base_wind_ms * regime.windiness * breeze
    exposure = np.clip(1.0 + 0.2 * site_offsets(seed, SALT_WIND, n_sites), 0.6, 1.5)
    gustiness = 0.18 * base * smooth_noise(seed, SALT_WIND, t, n_sites, 600.0)
    wind = base * exposure + gustiness + GUST_MS_PER_MMH * rain_rate_mmh
    return np.clip(wind, 0.0, None)


def air_temperature_c(
    seed: int, city: City, t: float, n_sites: int, rain_rate_mmh: np.ndarray, rain_1h_mm: np.ndarray
) -> np.ndarray:
    """Air temperature: season and daily cycle in local time, site offsets, cooling under rain."""
    climate = city.climate
    local = datetime.fromtimestamp(t, ZoneInfo(city.key.timezone))
    day_of_year = local.timetuple().tm_yday
    hour = local.hour + local.minute / 60
    season_phase = 2 * math.pi * (day_of_year - climate.warmest_day_of_year) / 365.25
    seasonal = climate.seasonal_amplitude_c * math.cos(season_phase)
    regime = day_regime(seed, int(t // DAY_S), climate)
    cloud_damping = 1.0 - 0.35 * min(1.0, regime.wetness)
    daily = climate.diurnal_half_range_c * cloud_damping * math.cos(2 * math.pi * (hour - 15.0) / 24)
    anomaly = 1.5 * float(smooth_noise(seed, SALT_TEMPERATURE, t, 1, DAY_S)[0])
    site = 0.6 * site_offsets(seed, SALT_TEMPERATURE, n_sites)
    wobble = 0.2 * smooth_noise(seed, SALT_TEMPERATURE, t, n_sites, 1800.0)
    cooling = np.minimum(6.0, 0.8 * np.sqrt(rain_rate_mmh)) + np.minimum(3.0, 0.06 * rain_1h_mm)
    return climate.mean_temp_c + seasonal + daily + anomaly + site + wobble - cooling
