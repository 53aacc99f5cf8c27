"""The synthetic city of `opscentre bench alerts`: 30 rules, N entities in the config's zones,
and `hours` of history every 15 min, stored the way the pipeline stores a poll (one
`Store.write_poll` per time step: per kind one batch = one latest HSET + one history entry).

Kinds: rain gauges (40%), road segments (30%), weather stations (20%), river stations (10%),
given zones round robin (entity i in zone i mod Z) and the zone's representative point.
A few zones get a storm (heavy rain in the last 2 h after a wet night, rivers rising, streets
slowing); 3% of road segments jammed for the last 30 min; 2% of weather stations are in a heat
island; 0.5% of every type has been silent for the last hour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from opscentre.core.alerting.rules import Rule
from opscentre.core.alerting.stage import StageSettings
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.settings import Settings
from opscentre.core.store import Store

SOURCE = "bench"
STEP_S = 900.0
STALE_STEPS = 4  # silent entities miss the last hour
# entity type, id prefix, kind, share of the entities
TYPES = (("rain_gauge", "rg", "rain_mm", 0.4), ("road_segment", "rd", "traffic_speed_kmh", 0.3),
         ("weather_station", "ws", "air_temp_c", 0.2), ("river_station", "rv", "river_level_m", 0.1))

RAIN, SPEED, RIVER, TEMP = "rain_mm", "traffic_speed_kmh", "river_level_m", "air_temp_c"


def _c(kind: str, op: str, value: float, window: str | None = None, aggregation: str = "latest") -> dict:
    return {"kind": kind, "op": op, "value": value, "window": window, "aggregation": aggregation}


RULES: list[dict] = [
    # rain, per gauge: latest, windows (sum / max over 15m, 1h, 24h), rate, compound, staleness
    {"id": "rain_15min", "kind": RAIN, "entity_type": "rain_gauge", "keep_firing_for": "15m",
     "levels": {"advisory": 1.25, "warning": 6.25, "critical": 12.5},
     "clear": {"advisory": 1.0, "warning": 5.0, "critical": 10.0}},
    {"id": "rain_1h", "kind": RAIN, "entity_type": "rain_gauge", "window": "1h", "aggregation": "sum",
     "levels": {"advisory": 5, "warning": 25, "critical": 50}},
    {"id": "rain_24h", "kind": RAIN, "entity_type": "rain_gauge", "window": "24h", "aggregation": "sum",
     "levels": {"advisory": 50, "warning": 100, "critical": 150}},
    {"id": "rain_peak_1h", "kind": RAIN, "entity_type": "rain_gauge", "window": "1h", "aggregation": "max",
     "levels": {"warning": 12.5, "critical": 25}},
    {"id": "rain_burst", "kind": RAIN, "entity_type": "rain_gauge", "window": "15m", "aggregation": "sum",
     "levels": {"critical": 18}, "for": "15m"},
    {"id": "rain_rising", "kind": RAIN, "entity_type": "rain_gauge", "window": "1h", "aggregation": "rate",
     "levels": {"advisory": 8}},
    {"id": "landslide", "entity_type": "rain_gauge", "levels": {
        "advisory": {"any_of": [_c(RAIN, ">=", 10, "1h", "sum"), _c(RAIN, ">=", 50, "24h", "sum")]},
        "warning": {"all_of": [_c(RAIN, ">=", 25, "1h", "sum"), _c(RAIN, ">=", 100, "24h", "sum")]},
        "critical": {"all_of": [_c(RAIN, ">=", 40, "1h", "sum"), _c(RAIN, ">=", 125, "24h", "sum")]}}},
    {"id": "rain_stage", "entity_type": "rain_gauge", "levels": {
        "warning": {"any_of": [_c(RAIN, ">=", 10.1)]},
        "critical": {"all_of": [_c(RAIN, ">", 25), _c(RAIN, ">", 60, "1h", "sum")]}}},
    {"id": "rain_gauge_stale", "kind": RAIN, "entity_type": "rain_gauge", "stale_after": "40m",
     "labels": {"severity": "warning"}},
    # rain, per zone and city-wide
    {"id": "siren_criterion", "scope": "zone", "entity_type": "rain_gauge", "levels": {
        "critical": {"any_of": [_c(RAIN, ">=", 40, "1h", "sum"), _c(RAIN, ">=", 125, "24h", "sum")]}}},
    {"id": "zone_rain_1h", "scope": "zone", "combine": "mean", "kind": RAIN, "entity_type": "rain_gauge",
     "window": "1h", "aggregation": "sum", "levels": {"advisory": 10, "warning": 25}},
    {"id": "city_rain_24h", "scope": "city", "combine": "mean", "kind": RAIN, "window": "24h",
     "aggregation": "sum", "levels": {"advisory": 5, "warning": 20}},
    # traffic: falling values, so op <=
    {"id": "traffic_jam", "kind": SPEED, "op": "<=", "levels": {"advisory": 10, "warning": 5},
     "clear": {"advisory": 12, "warning": 6}},
    {"id": "traffic_slow_1h", "kind": SPEED, "window": "1h", "aggregation": "mean", "op": "<=",
     "levels": {"advisory": 15, "warning": 8}},
    {"id": "traffic_min_1h", "kind": SPEED, "window": "1h", "aggregation": "min", "op": "<=",
     "levels": {"advisory": 3}},
    {"id": "traffic_drop", "kind": SPEED, "window": "1h", "aggregation": "rate", "op": "<=",
     "levels": {"advisory": -40, "warning": -60}},
    {"id": "traffic_chronic", "kind": SPEED, "window": "24h", "aggregation": "mean", "op": "<=",
     "levels": {"advisory": 15}},
    {"id": "zone_traffic", "scope": "zone", "combine": "mean", "kind": SPEED, "window": "15m",
     "aggregation": "mean", "op": "<=", "levels": {"advisory": 25, "warning": 18}},
    {"id": "city_traffic", "scope": "city", "combine": "mean", "kind": SPEED, "op": "<=",
     "levels": {"advisory": 35}},
    {"id": "road_sensor_stale", "kind": SPEED, "stale_after": "40m", "labels": {"severity": "advisory"}},
    # rivers: each station's own thresholds, rate of rise, 24 h peak, zone, cross-kind compound
    {"id": "river_level", "kind": RIVER, "entity_type": "river_station",
     "levels_from": {"advisory": "attention_m", "warning": "alert_m", "critical": "overflow_m"}},
    {"id": "river_rise", "kind": RIVER, "window": "1h", "aggregation": "rate",
     "levels": {"advisory": 0.5, "warning": 1.0}},
    {"id": "river_max_24h", "kind": RIVER, "window": "24h", "aggregation": "max", "levels": {"advisory": 3.0}},
    {"id": "zone_river", "scope": "zone", "kind": RIVER, "levels": {"warning": 3.0, "critical": 3.5}},
    {"id": "flood_risk", "scope": "zone", "levels": {
        "critical": {"all_of": [_c(RIVER, ">=", 2.5), _c(RAIN, ">=", 20, "1h", "sum")]}}},
    {"id": "river_station_stale", "kind": RIVER, "stale_after": "40m", "labels": {"severity": "warning"}},
    # heat
    {"id": "heat_now", "kind": TEMP, "levels": {"advisory": 36, "warning": 40, "critical": 44}},
    {"id": "heat_24h", "kind": TEMP, "window": "24h", "aggregation": "mean", "levels": {"advisory": 30, "warning": 33}},
    {"id": "zone_heat", "scope": "zone", "kind": TEMP, "window": "1h", "aggregation": "max", "levels": {"warning": 38}},
    {"id": "city_heat", "scope": "city", "combine": "mean", "kind": TEMP, "window": "1h", "aggregation": "mean",
     "levels": {"advisory": 32}},
]
STAGE = {"levels": [{"level": 2, "any_of": [{"rule": "zone_rain_1h"}, {"rule": "heat_now", "count": 10}]},
                    {"level": 3, "any_of": [{"rule": "siren_criterion"}]},
                    {"level": 4, "any_of": [{"rule": "flood_risk", "count": 3}]}]}


def bench_rules() -> list[Rule]:
    return [Rule.model_validate(r) for r in RULES]


def bench_settings(settings: Settings) -> Settings:
    """The config with the benchmark's rules and stage criteria in place of its own."""
    return settings.model_copy(update={"rules": bench_rules(), "stage": StageSettings.model_validate(STAGE)})


def adjusted(settings: Settings, sections: dict[str, dict] | None) -> Settings:
    """`settings` with fields of its sections replaced, e.g. {"alerting": {"incident_window": 0}}
    (plain data, so a spawned process can apply the same change to the config it loads)."""
    if not sections:
        return settings
    return settings.model_copy(update={name: getattr(settings, name).model_copy(update=fields)
                                       for name, fields in sections.items()})


@dataclass
class City:
    entities: list[Entity]
    series: dict[str, tuple[list[str], np.ndarray, np.ndarray]]  # kind -> (ids, values [n, steps], silent mask)
    times: np.ndarray  # the time steps, oldest first; the last one is `now`
    storm_zones: list[str]

    @property
    def now(self) -> float:
        return float(self.times[-1])


def make_city(settings: Settings, entities: int, hours: float, now: float, seed: int = 7) -> City:
    steps = int(round(hours * 3600 / STEP_S))
    if steps <= STALE_STEPS:
        raise ValueError(f"--hours must cover more than {STALE_STEPS * STEP_S / 3600:g} h")
    rng = np.random.default_rng(seed)
    zones = settings.zones
    points = dict(zip(zones.ids, zones.representative_points))
    storm = set(rng.choice(len(zones.ids), size=max(1, len(zones.ids) // 20), replace=False).tolist())
    times = now - STEP_S * np.arange(steps - 1, -1, -1)
    hour_of_day = 15 + (times - now) / 3600  # `now` is a hot afternoon, whenever the bench runs
    last2h = slice(max(0, steps - 8), steps)
    made, series, offset = [], {}, 0
    for entity_type, prefix, kind, share in TYPES:
        n = max(1, int(round(entities * share))) if entity_type != TYPES[-1][0] else max(1, entities - offset)
        zone_ix = (offset + np.arange(n)) % len(zones.ids)
        in_storm = np.isin(zone_ix, list(storm))
        if kind == RAIN:  # drizzle, a wet night in the storm zones, then 2 h of storm
            v = np.where(rng.random((n, steps)) < 0.08, rng.exponential(0.6, (n, steps)), 0.0)
            wet = slice(max(0, steps - 40), max(0, steps - 20))
            v[in_storm, wet] += rng.gamma(2.0, 2.5, (int(in_storm.sum()), wet.stop - wet.start))
            v[in_storm, last2h] += rng.gamma(3.0, 3.0, (int(in_storm.sum()), last2h.stop - last2h.start))
        elif kind == SPEED:  # free flow; 0.5% chronically slow; 3% jammed for 30 min; storm streets slow
            v = np.clip(rng.normal(45, 8, (n, steps)), 3, 110)
            v[rng.random(n) < 0.005] *= 0.25
            jam = rng.random(n) < 0.03
            v[jam, max(0, steps - 3):] = rng.uniform(1, 9, (int(jam.sum()), min(3, steps)))
            v[in_storm, last2h] *= 0.45
        elif kind == TEMP:  # a daily cycle; 2% in a heat island
            v = 26 + 5 * np.sin(2 * np.pi * (hour_of_day - 9) / 24) + rng.normal(0, 0.8, (n, steps))
            v[rng.random(n) < 0.02] += 11
        else:  # river levels around each station's own base; storm rivers rise for 2 h
            base = rng.uniform(0.5, 1.5, n)
            v = base[:, None] + rng.normal(0, 0.02, (n, steps))
            rise = np.linspace(0, 1, last2h.stop - last2h.start)
            v[in_storm, last2h] += rng.uniform(0.5, 3.0, int(in_storm.sum()))[:, None] * rise
        silent = rng.random(n) < 0.005
        ids = [f"{prefix}-{i:06d}" for i in range(n)]
        for i, entity_id in enumerate(ids):
            zone_id = zones.ids[zone_ix[i]]
            props = ({"attention_m": round(float(base[i]) + 1.0, 2), "alert_m": round(float(base[i]) + 1.8, 2),
                      "overflow_m": round(float(base[i]) + 2.5, 2)} if kind == RIVER else {})
            made.append(Entity(entity_id=entity_id, entity_type=entity_type, name=f"{prefix} {i}", source=SOURCE,
                               geometry={"type": "Point", "coordinates": list(points[zone_id])}, zone_id=zone_id,
                               properties=props))
        series[kind] = (ids, np.round(np.clip(v, 0 if kind != TEMP else -20, None), 3), silent)
        offset += n
    return City(made, series, times, sorted(zones.ids[z] for z in storm))


def store_city(store: Store, city: City, retention_s: float) -> int:
    """Write the city's history poll by poll; returns the observations stored."""
    stored, steps = 0, len(city.times)
    for j, t in enumerate(city.times.tolist()):
        batches = []
        for kind, (ids, values, silent) in city.series.items():
            keep = ~silent if j >= steps - STALE_STEPS else np.ones(len(ids), dtype=bool)
            batch_ids = [e for e, k in zip(ids, keep) if k]
            batches.append(ObservationBatch(source=SOURCE, kind=kind, entity_ids=batch_ids,
                                            values=values[keep, j].tolist(), observed_at=[t] * len(batch_ids)))
            stored += len(batch_ids)
        wall = time.time()
        store.write_poll(SOURCE, city.entities if j == 0 else [], batches,
                         {"status": "ok", "last_success_ts": wall}, {"polls": 1}, retention_s, wall)
    return stored
