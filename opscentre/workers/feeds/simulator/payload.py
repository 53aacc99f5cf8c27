"""fetch: generate the simulated city's payload for the simulated time of a poll.

Deterministic and stateless: the same seed, scenario, scenario_start, city configuration and
`ctx.now` give a byte-identical payload; nothing is kept between polls (static things — the
road network, gauges, river stations — are cached, but only as functions of the config).

Payload: two JSON documents on two lines (orjson). The first holds the readings and the digest
of the entity list; the second is the entity list, the same for every poll of one configuration
(parse decodes it once per digest). A single document with the `entities` list inline, as
below, is accepted too (`parse.decode_payload` turns a payload into that form).

    {
      "simulated": true,
      "seed": 2010,
      "scenario": "storm-2010-04" | null,
      "scenario_start": <unix s> | null,     # only meaningful with a scenario
      "generated_for": <unix s>,             # ctx.now
      "entities_digest": "<sha256 of line 2, 32 hex>",
      "entities": [                          # line 2 (or inline)
        {"entity_id": "rio-tijuca-3", "entity_type": "rain_gauge", "name": "Tijuca",
         "geometry": {"type": "Point", "coordinates": [lon, lat]}, "zone_id": "<zone_id>"},
        {"entity_id": "road-3fa9c01d2e", "entity_type": "road_segment", "name": "Seg 12 (Bangu–Realengo)",
         "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon, lat]]}, "zone_id": "...",
         "properties": {"free_flow_kmh": 60.0, "road_class": "collector", "length_m": 1180}},
        {"entity_id": "river-<zone_id>", "entity_type": "river_station", "name": "Rio Maracanã (Maracanã)",
         "geometry": {"type": "Point", ...}, "zone_id": "...",
         "properties": {"attention_m": 2.1, "alert_m": 2.9, "overflow_m": 3.8, "river": "Rio Maracanã"}},
        {"entity_id": "outage-area:<zone_id>", "entity_type": "zone", "name": "Power supply — Tijuca",
         "geometry": null, "zone_id": "<zone_id>"}
      ],
      "series": [
        {"kind": "rain_mm", "entity_ids": [...], "values": [...], "observed_at": [...]},
        ...
      ]
    }

Gauges come from the `gauges` file (ids as in the file) or, without one, one per zone at its
representative point (id `gauge-<zone_id>`). Series, all observed at ctx.now:
- rain gauges: rain_mm (last 15 min, rolling), rain_1h_mm, rain_24h_mm, rain_96h_mm,
  wind_speed_ms, air_temp_c;
- road segments: traffic_speed_kmh, jam_level (0..5);
- river stations: river_level_m;
- outage areas (one per zone): outage_customers.
And `forecasts`: [{"kind": "rain_forecast_mm", "issued_at", "times": [48 hour starts],
"entity_ids": [forecast-area:<zone_id>...], "values": [[48 mm values] per area]}] — see
forecast.py (a perfect forecast of the simulated weather).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from opscentre.core.errors import FetchError
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.simulator.forecast import forecast_area_ids, forecast_block
from opscentre.workers.feeds.simulator.cells import Cells, intensity_at, rain_between, rain_bins
from opscentre.workers.feeds.simulator.city import (
    CityKey,
    Sites,
    city_key,
    city_model,
    gauge_file_key,
    gauge_sites,
    point_geometry,
)
from opscentre.workers.feeds.simulator.options import SimulatorOptions
from opscentre.workers.feeds.simulator.roads import road_network
from opscentre.workers.feeds.simulator.scenarios import scenario_cells
from opscentre.workers.feeds.simulator.traffic import traffic_state
from opscentre.workers.feeds.simulator.utilities import (
    OUTAGE_SLOT_S,
    RESPONSE_BIN_S,
    RESPONSE_BINS,
    Outages,
    customers_out,
    outage_slots,
    outages_starting,
    river_levels,
    river_stations,
)
from opscentre.workers.feeds.simulator.weather import air_temperature_c, shower_cells, wind_speed_ms

if TYPE_CHECKING:
    from opscentre.core.settings import Settings

MINUTE_S = 60
HOUR_S = 3600
# The accumulation windows reported by every gauge, like Alerta Rio's m15 / h01 / h24 / h96.
RAIN_WINDOWS = (
    ("rain_96h_mm", 96 * HOUR_S),
    ("rain_24h_mm", 24 * HOUR_S),
    ("rain_1h_mm", HOUR_S),
    ("rain_mm", 15 * MINUTE_S),
)


def fetch(ctx: FeedContext) -> bytes:
    """Two JSON documents on two lines: the readings (with the digest of the entity list), then
    the entity list. The list is the same for every poll of one configuration, so a parser
    that has seen its digest need not decode its ~600 KB again."""
    options = ctx.options
    if not isinstance(options, SimulatorOptions):
        options = SimulatorOptions.model_validate(options or {})
    data = simulate(ctx.settings, options, ctx.now)
    entities_document, digest = _encoded_entities(data.pop("entities"))
    return orjson.dumps({**data, "entities_digest": digest}) + b"\n" + entities_document


_ENCODED: dict[int, tuple[tuple, bytes, str]] = {}


def _encoded_entities(entities: tuple[dict[str, Any], ...]) -> tuple[bytes, str]:
    """The entity list as JSON and its digest, encoded once per (cached, immutable) list."""
    cached = _ENCODED.get(id(entities))
    if cached is None or cached[0] is not entities:
        document = orjson.dumps(entities)
        cached = (entities, document, entities_digest(document))
        if len(_ENCODED) > 16:
            _ENCODED.clear()
        _ENCODED[id(entities)] = cached
    return cached[1], cached[2]


def entities_digest(document: bytes) -> str:
    return hashlib.sha256(document).hexdigest()[:32]


def scenario_start(options: SimulatorOptions, now: datetime) -> float | None:
    """When the scenario began: the option, else 00:00 UTC of the simulated day; None without one."""
    if options.scenario is None:
        return None
    if options.scenario_start is not None:
        return float(options.scenario_start)
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


def simulate(settings: Settings, options: SimulatorOptions, now_dt: datetime) -> dict[str, Any]:
    """The payload as a dict (see the module docstring)."""
    now = now_dt.timestamp()
    seed = options.seed
    key = city_key(settings)
    city = city_model(key)
    try:
        gauges_file = gauge_file_key(settings, options.gauges)
        gauges = gauge_sites(key, gauges_file)
    except (OSError, ValueError) as exc:  # the file changed since the config was checked
        raise FetchError(f"simulator: gauges file unusable: {exc}") from exc
    network = road_network(key, options.road_segments)
    stations = river_stations(key)
    zones = city.zone_centres
    start = scenario_start(options, now_dt)

    oldest = now - RAIN_WINDOWS[0][1]
    cells = Cells.concat(
        [
            shower_cells(seed, city, oldest, now),
            scenario_cells(options.scenario, seed, city, start or 0.0, oldest, now),
        ]
    )
    series: list[dict[str, Any]] = []

    # Rain gauges: rolling accumulations, wind and temperature.
    totals = rain_between(cells, gauges.x, gauges.y, np.array([now - w for _, w in RAIN_WINDOWS]), now)
    for (kind, _), values in zip(RAIN_WINDOWS, totals):
        series.append(_series(kind, gauges.ids, np.round(values, 2), now))
    rate_at_gauges = intensity_at(cells, now, gauges.x, gauges.y)
    rain_1h = totals[2]
    wind = wind_speed_ms(seed, city, now, len(gauges), rate_at_gauges)
    temperature = air_temperature_c(seed, city, now, len(gauges), rate_at_gauges, rain_1h)
    series.append(_series("wind_speed_ms", gauges.ids, np.round(wind, 1), now))
    series.append(_series("air_temp_c", gauges.ids, np.round(temperature, 1), now))

    # Traffic.
    rate_on_roads = intensity_at(cells, now, network.mid_x, network.mid_y)
    speed, jam = traffic_state(network, seed, now, key.timezone, rate_on_roads)
    series.append(_series("traffic_speed_kmh", network.ids, speed, now))
    series.append(_series("jam_level", network.ids, jam.astype(np.int64), now))

    # Rivers and power.
    sites = stations.sites
    bins = rain_bins(cells, sites.x, sites.y, now, RESPONSE_BIN_S, RESPONSE_BINS)
    series.append(_series("river_level_m", sites.ids, np.round(river_levels(stations, seed, now, bins), 2), now))

    started = [_outages_starting(seed, options.scenario, start, key, slot) for slot in outage_slots(now)]
    outages = customers_out(now, len(zones), started)
    series.append(_series("outage_customers", _outage_area_ids(key), outages.astype(np.int64), now))

    return {
        "simulated": True,
        "seed": seed,
        "forecasts": [forecast_block(seed, options.scenario, start, key, now)],
        "scenario": options.scenario,
        "scenario_start": start,
        "generated_for": now,
        "entities": _static_entities(key, gauges_file, options.road_segments),
        "series": series,
    }


@lru_cache(maxsize=256)
def _outages_starting(seed: int, scenario: str | None, start: float | None, key: CityKey, slot: int) -> Outages:
    """The outages that start in one 15-min slot, from the weather at each zone at its start."""
    city = city_model(key)
    zones = city.zone_centres
    t = float(slot * OUTAGE_SLOT_S)
    cells = Cells.concat([shower_cells(seed, city, t, t), scenario_cells(scenario, seed, city, start or 0.0, t, t)])
    rain = intensity_at(cells, t, zones.x, zones.y)
    return outages_starting(seed, slot, wind_speed_ms(seed, city, t, len(zones), rain), rain)


def _series(kind: str, entity_ids: tuple[str, ...], values: np.ndarray, now: float) -> dict[str, Any]:
    ids = list(entity_ids)
    return {"kind": kind, "entity_ids": ids, "values": values.tolist(), "observed_at": [now] * len(ids)}


@lru_cache(maxsize=8)
def _outage_area_ids(key: CityKey) -> tuple[str, ...]:
    return tuple(f"outage-area:{zone_id}" for zone_id in key.zones.ids)


def _gauge_entities(gauges: Sites) -> list[dict[str, Any]]:
    entities = []
    for i, gauge_id in enumerate(gauges.ids):
        entity: dict[str, Any] = {
            "entity_id": gauge_id,
            "entity_type": "rain_gauge",
            "name": gauges.names[i],
            "geometry": point_geometry(gauges.lon[i], gauges.lat[i]),
        }
        if gauges.zone_ids[i]:
            entity["zone_id"] = gauges.zone_ids[i]
        entities.append(entity)
    return entities


@lru_cache(maxsize=8)
def _static_entities(
    key: CityKey, gauges_file: tuple[str, int, int] | None, road_segments: int
) -> tuple[dict[str, Any], ...]:
    """Every entity the payload mentions; they never change for one configuration."""
    outage_areas = [
        {
            "entity_id": area_id,
            "entity_type": "zone",
            "name": f"Power supply — {name}",
            "geometry": None,
            "zone_id": zone_id,
        }
        for area_id, zone_id, name in zip(_outage_area_ids(key), key.zones.ids, key.zones.names)
    ]
    centres = city_model(key).zone_centres
    forecast_areas = [
        {
            "entity_id": area_id,
            "entity_type": "zone",
            "name": f"Forecast — {name}",
            "geometry": point_geometry(lon, lat),
            "zone_id": zone_id,
        }
        for area_id, zone_id, name, lon, lat in zip(forecast_area_ids(key), centres.ids, centres.names,
                                                    centres.lon, centres.lat)
    ]
    return (
        *_gauge_entities(gauge_sites(key, gauges_file)),
        *road_network(key, road_segments).entities,
        *river_stations(key).entities,
        *outage_areas,
        *forecast_areas,
    )
