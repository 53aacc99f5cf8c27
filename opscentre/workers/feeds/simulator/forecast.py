"""The simulated forecast: rain per zone per hour for the next 48 h.

The simulator's weather is a deterministic function of time, so its "forecast" is what the
simulated rain will actually be — a perfect forecast, from the same cells the gauges will see
(shower cells and the scenario's). It is issued once per simulated hour and repeated by every
poll within it. It feeds the forecast rules (early warnings with a lead time; COR's stage 2:
rain expected within 3 h) the same way Open-Meteo's forecast does for the live config.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from opscentre.workers.feeds.simulator.cells import Cells, rain_bins
from opscentre.workers.feeds.simulator.city import CityKey, city_model
from opscentre.workers.feeds.simulator.scenarios import scenario_cells
from opscentre.workers.feeds.simulator.weather import shower_cells

HOUR_S = 3600
FORECAST_HOURS = 48
KIND = "rain_forecast_mm"


@lru_cache(maxsize=8)
def forecast_area_ids(key: CityKey) -> tuple[str, ...]:
    return tuple(f"forecast-area:{zone_id}" for zone_id in key.zones.ids)


def issued_hour(now: float) -> float:
    return float(int(now // HOUR_S) * HOUR_S)


@lru_cache(maxsize=32)
def zone_forecast(seed: int, scenario: str | None, start: float | None, key: CityKey,
                  issued: float) -> np.ndarray:
    """mm of rain per hour at each zone's centre: (FORECAST_HOURS, zones), hour 0 = [issued, +1 h)."""
    city = city_model(key)
    zones = city.zone_centres
    end = issued + FORECAST_HOURS * HOUR_S
    cells = Cells.concat([shower_cells(seed, city, issued, end),
                          scenario_cells(scenario, seed, city, start or 0.0, issued, end)])
    return rain_bins(cells, zones.x, zones.y, end, HOUR_S, FORECAST_HOURS)


def forecast_block(seed: int, scenario: str | None, start: float | None, key: CityKey, now: float) -> dict:
    """The payload's `forecasts` item: one series per forecast area, hourly, 48 h ahead."""
    issued = issued_hour(now)
    values = zone_forecast(seed, scenario, start, key, issued)
    return {
        "kind": KIND,
        "issued_at": issued,
        "times": [issued + h * HOUR_S for h in range(FORECAST_HOURS)],
        "entity_ids": list(forecast_area_ids(key)),
        "values": np.round(values.T, 2).tolist(),
    }
