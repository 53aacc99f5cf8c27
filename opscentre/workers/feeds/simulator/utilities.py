"""Utilities: river/channel levels that answer to rain, and power outages per zone.

River stations sit at zones' representative points (so any city works). Where the city has
zones named like the Rio bairros below, the station takes the name of the real river or
channel that floods there; other stations are spread over the city (farthest-point order) and
named generically. A station's level is its base level plus a response to the rain of the
last 24 h at the station — a quick urban peak 1–2 h after the rain and a slow recession —
so it rises after heavy rain and falls back once it stops. Its attention / alert / overflow
thresholds are the levels that a sustained runoff of about 6 / 12 / 20 mm/h would produce.

Outages start at random per zone and 15-min slot — rarely on calm days, far more often under
strong wind and very heavy rain — hold for a while, then customers are restored gradually.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from opscentre.workers.feeds.simulator.city import CityKey, Sites, city_model, point_geometry
from opscentre.workers.feeds.simulator.noise import SALT_OUTAGES, SALT_RIVER_NOISE, SALT_RIVERS, rng_for, smooth_noise

STATIONS_WANTED = 10
STATIONS_SEED = 0  # fixed: stations and thresholds do not change with the weather seed
# Real rivers and channels of Rio de Janeiro, by the bairro (zone name) where the station is.
KNOWN_CHANNELS_BY_ZONE_NAME = {
    "Maracanã": "Rio Maracanã",
    "Cidade Nova": "Canal do Mangue",
    "Acari": "Rio Acari",
    "Bonsucesso": "Rio Faria-Timbó",
    "Andaraí": "Rio Joana",
    "Curicica": "Rio Guerenguê",
    "Gardênia Azul": "Arroio Fundo",
    "Itanhangá": "Rio Cachoeira",
    "Pavuna": "Rio Pavuna",
    "Jardim Botânico": "Rio dos Macacos",
}
RUNOFF_THRESHOLDS_MMH = (6.0, 12.0, 20.0)  # attention, alert, overflow
STAGE_EXPONENT = 0.7  # level rises like runoff^0.7 (a channel widens as it fills)
RESPONSE_BIN_S = 900
RESPONSE_BINS = 96  # 24 h
SLOW_RESPONSE_SHARE = 0.25
SLOW_RECESSION_H = 8.0

OUTAGE_SLOT_S = 900
OUTAGE_LOOKBACK_SLOTS = 32  # 8 h: the longest outage
OUTAGE_CHANCE_CALM = 0.0003  # per zone per 15-min slot
OUTAGE_WIND_FROM_MS = 10.0
OUTAGE_RAIN_FROM_MMH = 20.0


@dataclass(frozen=True, eq=False)
class RiverStations:
    sites: Sites
    base_m: np.ndarray
    gain: np.ndarray  # metres per (mm/h)^STAGE_EXPONENT of runoff
    kernel: np.ndarray  # (stations, RESPONSE_BINS) weights, oldest bin first, each row sums to 1
    entities: tuple[dict[str, Any], ...]


def _spread_order(x: np.ndarray, y: np.ndarray, first: list[int], wanted: int) -> list[int]:
    """Indices picked farthest-point first, continuing from the already chosen `first`."""
    chosen = list(first) or [int(np.argmin(np.hypot(x - x.mean(), y - y.mean())))]
    while len(chosen) < min(wanted, len(x)):
        distance = np.min(np.hypot(x[:, None] - x[chosen][None, :], y[:, None] - y[chosen][None, :]), axis=1)
        chosen.append(int(np.argmax(distance)))
    return chosen[:wanted]


def _response_kernel(time_to_peak_h: float) -> np.ndarray:
    age_h = (RESPONSE_BINS - np.arange(RESPONSE_BINS) - 0.5) * RESPONSE_BIN_S / 3600  # oldest first
    quick = (age_h / time_to_peak_h) * np.exp(1 - age_h / time_to_peak_h)
    slow = np.exp(-age_h / SLOW_RECESSION_H)
    return (1 - SLOW_RESPONSE_SHARE) * quick / quick.sum() + SLOW_RESPONSE_SHARE * slow / slow.sum()


@lru_cache(maxsize=8)
def river_stations(key: CityKey) -> RiverStations:
    centres = city_model(key).zone_centres
    named = [i for i, name in enumerate(centres.names) if name in KNOWN_CHANNELS_BY_ZONE_NAME]
    order = _spread_order(centres.x, centres.y, named[:STATIONS_WANTED], STATIONS_WANTED)
    rng = rng_for(STATIONS_SEED, SALT_RIVERS, 0)
    n = len(order)
    base = rng.uniform(0.3, 1.2, n)
    depth_to_overflow = rng.uniform(2.5, 4.0, n)
    runoff_scale = rng.uniform(0.8, 1.25, n)  # how readily this catchment floods
    gain = depth_to_overflow / (RUNOFF_THRESHOLDS_MMH[2] * runoff_scale) ** STAGE_EXPONENT
    kernel = np.stack([_response_kernel(t) for t in rng.uniform(0.75, 2.0, n)])
    entities = []
    for j, i in enumerate(order):
        zone_name = centres.names[i]
        river = KNOWN_CHANNELS_BY_ZONE_NAME.get(zone_name)
        attention, alert, overflow = (
            round(float(base[j] + gain[j] * (r * runoff_scale[j]) ** STAGE_EXPONENT), 2) for r in RUNOFF_THRESHOLDS_MMH
        )
        properties: dict[str, Any] = {"attention_m": attention, "alert_m": alert, "overflow_m": overflow}
        if river:
            properties["river"] = river
        entities.append(
            {
                "entity_id": f"river-{centres.ids[i]}",
                "entity_type": "river_station",
                "name": f"{river} ({zone_name})" if river else f"Channel gauge {zone_name}",
                "geometry": point_geometry(centres.lon[i], centres.lat[i]),
                "zone_id": centres.ids[i],
                "properties": properties,
            }
        )
    sites = Sites(
        tuple(e["entity_id"] for e in entities),
        tuple(e["name"] for e in entities),
        centres.lon[order],
        centres.lat[order],
        centres.x[order],
        centres.y[order],
        tuple(centres.ids[i] for i in order),
    )
    return RiverStations(sites, base, gain, kernel, tuple(entities))


def river_levels(stations: RiverStations, seed: int, t: float, rain_bins_mm: np.ndarray) -> np.ndarray:
    """Level (m) at each station from its rain in 15-min bins over the last 24 h (bins x stations)."""
    runoff_mmh = (stations.kernel * rain_bins_mm.T).sum(axis=1) * 3600 / RESPONSE_BIN_S
    ripple = 0.015 * smooth_noise(seed, SALT_RIVER_NOISE, t, len(stations.sites), 1200.0)
    return np.clip(stations.base_m + stations.gain * runoff_mmh**STAGE_EXPONENT + ripple, 0.0, None)


# ---- power outages ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Outages:
    """Outages that started in one 15-min slot: zone index, start (unix s), duration (s), customers."""

    zone: np.ndarray
    start: np.ndarray
    duration: np.ndarray
    customers: np.ndarray


def outage_probability(wind_ms: np.ndarray, rain_rate_mmh: np.ndarray) -> np.ndarray:
    """Chance that an outage starts in a zone during one 15-min slot, given its weather."""
    wind_excess = np.clip(wind_ms - OUTAGE_WIND_FROM_MS, 0.0, None)
    rain_excess = np.clip(rain_rate_mmh - OUTAGE_RAIN_FROM_MMH, 0.0, None)
    hazard_per_h = 4 * OUTAGE_CHANCE_CALM + 0.008 * wind_excess**2 + 0.005 * rain_excess
    return 1.0 - np.exp(-hazard_per_h * OUTAGE_SLOT_S / 3600)


def outages_starting(seed: int, slot: int, wind_ms: np.ndarray, rain_rate_mmh: np.ndarray) -> Outages:
    """The outages that start during 15-min slot `slot`, given each zone's weather at its start."""
    n = len(wind_ms)
    rng = rng_for(seed, SALT_OUTAGES, slot)
    chance = rng.random(n)
    start = slot * OUTAGE_SLOT_S + rng.uniform(0, OUTAGE_SLOT_S, n)
    duration = np.clip(rng.lognormal(np.log(90 * 60), 0.7, n), 20 * 60, OUTAGE_LOOKBACK_SLOTS * OUTAGE_SLOT_S)
    customers = np.minimum(rng.lognormal(np.log(250), 1.2, n), 50_000)
    # Storm damage is wider: more customers per outage as the wind rises.
    customers = customers * (1.0 + np.clip(wind_ms - OUTAGE_WIND_FROM_MS, 0.0, None) / 5.0)
    zone = np.flatnonzero(chance < outage_probability(wind_ms, rain_rate_mmh))
    return Outages(zone, start[zone], duration[zone], customers[zone])


def outage_slots(t: float) -> range:
    """The 15-min slots whose outages may still be on at t."""
    last = int(t // OUTAGE_SLOT_S)
    return range(last - OUTAGE_LOOKBACK_SLOTS + 1, last + 1)


def customers_out(t: float, n_zones: int, started: list[Outages]) -> np.ndarray:
    """Customers without power per zone at t; restoration runs through each outage's 2nd half."""
    total = np.zeros(n_zones)
    for outages in started:
        elapsed = t - outages.start
        on = (elapsed >= 0) & (elapsed < outages.duration)
        restored_share = np.clip(2.0 * elapsed[on] / outages.duration[on] - 1.0, 0.0, 1.0)
        np.add.at(total, outages.zone[on], outages.customers[on] * (1.0 - restored_share))
    return np.round(total)
