"""The simulator's options (the `feeds.simulator.options` mapping of the config file)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opscentre.workers.feeds.simulator.city import read_gauge_file
from opscentre.workers.feeds.simulator.scenarios import SCENARIOS

if TYPE_CHECKING:
    from opscentre.core.settings import Settings

# A gauge further than this (degrees) outside the zones' bounding box is most likely a
# mistake such as swapped latitude and longitude.
GAUGE_BOUNDS_MARGIN_DEG = 0.25


class SimulatorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(1, description="Same seed, scenario, city and time give the same payload")
    scenario: str | None = Field(None, description=f"A named weather scenario: {', '.join(SCENARIOS)}")
    scenario_start: float | None = Field(
        None,
        description=(
            "Unix seconds when the scenario begins (the poll engine sets it from the simulator "
            "clock). Unset with a scenario: the scenario starts at 00:00 UTC of the simulated day."
        ),
    )
    gauges: str | None = Field(
        None,
        description=(
            "Rain gauge list (JSON, Alerta Rio `pluviometros` format) relative to the config file; "
            "unset: one simulated gauge per zone, id gauge-<zone_id>"
        ),
    )
    road_segments: int = Field(2000, ge=10, le=20000, description="How many road segments to simulate")

    @field_validator("scenario")
    @classmethod
    def _known_scenario(cls, value: str | None) -> str | None:
        if value is not None and value not in SCENARIOS:
            raise ValueError(f"unknown scenario {value!r} (known: {', '.join(sorted(SCENARIOS))})")
        return value

    def check(self, settings: Settings) -> list[str]:
        """Problems a schema cannot see (the gauges file), as human-readable sentences."""
        if self.gauges is None:
            return []
        path = settings.resolve(self.gauges)
        if not path.is_file():
            return [f"gauges: no such file {path}"]
        try:
            gauges = read_gauge_file(path)
        except ValueError as exc:
            return [f"gauges: {exc}"]
        try:
            lon_min, lat_min, lon_max, lat_max = settings.zones.bounds
        except (ValueError, KeyError, OSError):
            return []  # the zones problem is reported on its own
        m = GAUGE_BOUNDS_MARGIN_DEG
        return [
            f"gauges: gauge {g['id']!r} at latitude {g['latitude']}, longitude {g['longitude']} is far "
            "outside the city's zones (latitude and longitude swapped?)"
            for g in gauges
            if not (lon_min - m <= g["longitude"] <= lon_max + m and lat_min - m <= g["latitude"] <= lat_max + m)
        ]
