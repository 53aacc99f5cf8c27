"""Road speeds and Waze-like jam levels at one instant.

speed = free flow x rush-hour factor x rain factor x noise x incident factor, where
- demand follows local time: full rush hours 07–10 and 17–20 on weekdays, a third of that
  through the rest of the day (06:30–21:30), a milder daytime bulge at weekends, free roads at
  night; each segment loses a share of its speed to demand (arterials and bottlenecks most);
- rain slows traffic by 1 / (1 + rate / 25 mm/h): a heavy 25 mm/h shower halves speeds;
- incidents (crashes, breakdowns, flooded underpasses) start at random in each 15-min slot,
  more often under heavy rain, and last 15–75 min; about a third close the segment.

The jam level follows the speed / free-flow ratio the way Waze's 0..5 scale does:
0 free (>= 80 %), 1 light, 2 moderate, 3 heavy, 4 very heavy (< 25 %), 5 standstill (< 10 %).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from opscentre.workers.feeds.simulator.noise import SALT_TRAFFIC_INCIDENTS, SALT_TRAFFIC_NOISE, rng_for, smooth_noise
from opscentre.workers.feeds.simulator.roads import RoadNetwork

JAM_RATIO_THRESHOLDS = np.array([0.8, 0.6, 0.4, 0.25, 0.1])  # below each: one level more
RAIN_HALVES_SPEED_MMH = 25.0
RUSH_HOURS_WEEKDAY = ((7.0, 10.0), (17.0, 20.0))
WEEKDAY_DAYTIME = (6.5, 21.5, 0.35)  # from, to, share of a full rush
WEEKEND_DAYTIME = (10.0, 20.0, 0.4)
MAX_DEMAND_LOSS = 0.92  # demand alone never stops a road completely
INCIDENT_SLOT_S = 900
INCIDENT_DURATION_MIN = (15.0, 75.0)
INCIDENT_CHANCE_DRY = 0.0005  # per segment per 15-min slot
INCIDENT_CHANCE_PER_MMH = 0.0002  # extra per mm/h of rain on the segment, up to 30 mm/h
INCIDENT_CLOSURE_SHARE = 0.3


def _plateau(hour: float, start: float, end: float) -> float:
    """1 inside [start, end], 0 outside, with 1-hour cosine ramps centred on the edges."""
    if hour <= start - 0.5 or hour >= end + 0.5:
        return 0.0
    if hour < start + 0.5:
        return 0.5 - 0.5 * np.cos(np.pi * (hour - start + 0.5))
    if hour > end - 0.5:
        return 0.5 + 0.5 * np.cos(np.pi * (hour - end + 0.5))
    return 1.0


def road_demand(local: datetime) -> float:
    """0..1: traffic demand at this local time, 1 at the height of a weekday rush hour."""
    hour = local.hour + local.minute / 60 + local.second / 3600
    if local.weekday() < 5:
        start, end, share = WEEKDAY_DAYTIME
        rush = max(_plateau(hour, a, b) for a, b in RUSH_HOURS_WEEKDAY)
        return max(rush, share * _plateau(hour, start, end))
    start, end, share = WEEKEND_DAYTIME
    return share * _plateau(hour, start, end)


def rain_factor(rain_rate_mmh: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.asarray(rain_rate_mmh) / RAIN_HALVES_SPEED_MMH)


@lru_cache(maxsize=64)
def _incident_draws(seed: int, slot: int, n: int) -> tuple[np.ndarray, ...]:
    rng = rng_for(seed, SALT_TRAFFIC_INCIDENTS, slot)
    chance = rng.random(n)
    start = slot * INCIDENT_SLOT_S + rng.uniform(0, INCIDENT_SLOT_S, n)
    end = start + rng.uniform(*INCIDENT_DURATION_MIN, n) * 60
    severity = rng.random(n)
    remaining = np.where(severity < INCIDENT_CLOSURE_SHARE, 0.0, rng.uniform(0.15, 0.5, n))
    return chance, start, end, remaining


def incident_factor(seed: int, t: float, n: int, rain_rate_mmh: np.ndarray) -> np.ndarray:
    """Share of speed left by incidents on each segment (1 where there is none)."""
    threshold = INCIDENT_CHANCE_DRY + INCIDENT_CHANCE_PER_MMH * np.minimum(rain_rate_mmh, 30.0)
    factor = np.ones(n)
    longest_s = INCIDENT_DURATION_MIN[1] * 60
    for slot in range(int((t - longest_s) // INCIDENT_SLOT_S), int(t // INCIDENT_SLOT_S) + 1):
        chance, start, end, remaining = _incident_draws(seed, slot, n)
        active = (chance < threshold) & (start <= t) & (t < end)
        factor[active] = np.minimum(factor[active], remaining[active])
    return factor


def jam_level(ratio: np.ndarray) -> np.ndarray:
    """Waze-like 0..5 from speed / free flow."""
    return (np.asarray(ratio)[:, None] < JAM_RATIO_THRESHOLDS[None, :]).sum(axis=1)


def traffic_state(
    network: RoadNetwork, seed: int, t: float, timezone: str, rain_rate_mmh: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(speed km/h, jam level 0..5) for every segment at time t."""
    n = len(network)
    local = datetime.fromtimestamp(t, ZoneInfo(timezone))
    rush = 1.0 - np.minimum(network.rush_sensitivity * road_demand(local), MAX_DEMAND_LOSS)
    noise = np.clip(1.0 + 0.06 * smooth_noise(seed, SALT_TRAFFIC_NOISE, t, n, 300.0), 0.8, 1.12)
    ratio = rush * rain_factor(rain_rate_mmh) * noise * incident_factor(seed, t, n, rain_rate_mmh)
    ratio = np.clip(ratio, 0.0, 1.0)
    speed = np.round(network.free_flow_kmh * ratio, 1)
    return speed, jam_level(speed / network.free_flow_kmh)
