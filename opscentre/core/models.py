"""The domain vocabulary: kinds of observation, entities, observation batches, feed health.

Observations travel in *batches*: one batch holds many readings of one kind from one source,
as parallel columns (entity_ids, values, observed_at). Validating columns is ~100x cheaper
than validating one object per reading, which is what lets a process store >200k
observations/s (see docs/data-model.md). `Observation` is the row view used for output.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


@dataclass(frozen=True)
class KindSpec:
    unit: str
    minimum: float
    maximum: float
    description: str


# The closed vocabulary of observation kinds: unit and physically plausible range.
# A value outside the range is rejected with a reason, never stored.
KINDS: dict[str, KindSpec] = {
    "rain_mm": KindSpec("mm", 0, 500, "rain in the last 15 minutes"),
    "rain_1h_mm": KindSpec("mm", 0, 1000, "rain accumulated over the last hour"),
    "rain_24h_mm": KindSpec("mm", 0, 3000, "rain accumulated over the last 24 hours"),
    "rain_96h_mm": KindSpec("mm", 0, 6000, "rain accumulated over the last 96 hours"),
    "rain_forecast_mm": KindSpec("mm", 0, 1000, "forecast rain for one hour"),
    "river_level_m": KindSpec("m", -50, 500, "river or channel level"),
    "traffic_speed_kmh": KindSpec("km/h", 0, 250, "road segment speed"),
    "jam_level": KindSpec("level", 0, 5, "congestion level 0 (free) to 5 (standstill)"),
    "transit_delay_s": KindSpec("s", -7200, 86400, "transit delay"),
    "outage_customers": KindSpec("customers", 0, 10_000_000, "customers without power"),
    "jam_km": KindSpec("km", 0, 100_000, "length of traffic jams (per zone, or city-wide)"),
    "river_discharge_m3s": KindSpec("m³/s", 0, 500_000, "river discharge"),
    "pm25_ugm3": KindSpec("µg/m³", 0, 2000, "fine particulate matter"),
    "pm10_ugm3": KindSpec("µg/m³", 0, 5000, "coarse particulate matter"),
    "o3_ugm3": KindSpec("µg/m³", 0, 2000, "ozone"),
    "no2_ugm3": KindSpec("µg/m³", 0, 5000, "nitrogen dioxide"),
    "aqi": KindSpec("index", 0, 1000, "air quality index: the worst pollutant's sub-index (scale set in config)"),
    "power_mw": KindSpec("MW", -100_000, 100_000, "electricity production (or exchange) of one source"),
    "grid_co2_g_kwh": KindSpec("g/kWh", 0, 2000, "grid CO2 intensity"),
    "power_price": KindSpec("currency/MWh", -10_000, 100_000, "electricity spot price"),
    "air_temp_c": KindSpec("°C", -90, 65, "air temperature"),
    "wind_speed_ms": KindSpec("m/s", 0, 120, "wind speed"),
}


class EntityType(StrEnum):
    AIR_QUALITY_STATION = "air_quality_station"
    CITY = "city"  # city-wide figures (km of jams...)
    GRID_AREA = "grid_area"  # an electricity price/balancing area, or one of its production sources
    RAIN_GAUGE = "rain_gauge"
    ROAD_SEGMENT = "road_segment"
    RIVER_STATION = "river_station"
    TRANSIT_ROUTE = "transit_route"
    ZONE = "zone"
    WEATHER_STATION = "weather_station"


class Entity(BaseModel):
    """Something observed: a sensor, a road segment, a zone. Registered once, when first seen."""

    model_config = ConfigDict(frozen=True)

    entity_id: str = Field(min_length=1, max_length=200)
    entity_type: EntityType
    name: str = ""
    source: str
    # GeoJSON geometry (Point or LineString) in lon/lat; None for entities that *are* a zone.
    geometry: dict[str, Any] | None = None
    # Set by the spatial join when first stored; a parser may preset it (e.g. per-zone data).
    zone_id: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class ObservationBatch(BaseModel):
    """Readings of one kind from one source, as columns of equal length."""

    source: str
    kind: str
    entity_ids: list[str]
    values: list[float]
    observed_at: list[float]  # UNIX seconds, UTC
    simulated: bool = False

    @model_validator(mode="after")
    def _columns_line_up(self) -> ObservationBatch:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        n = len(self.entity_ids)
        if len(self.values) != n or len(self.observed_at) != n:
            raise ValueError("entity_ids, values and observed_at must have the same length")
        return self

    def __len__(self) -> int:
        return len(self.entity_ids)


class ForecastSeries(BaseModel):
    """A forecast of one kind for one entity: values at future times (e.g. rain per hour, 48 h)."""

    source: str
    entity_id: str
    kind: str
    issued_at: float  # UNIX seconds, UTC: when the forecast was made (or fetched)
    times: list[float]  # UNIX seconds, UTC, ascending: the start of each forecast step
    values: list[float]

    @model_validator(mode="after")
    def _columns_line_up(self) -> ForecastSeries:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        if len(self.times) != len(self.values):
            raise ValueError("times and values must have the same length")
        return self


class EventCategory(StrEnum):
    WARNING = "warning"  # an external warning (NWS, CAP from any agency)
    TRAFFIC = "traffic"  # a jam or a reported accident / hazard / closure
    TRANSIT = "transit"  # a transit service alert (disruption)
    VEHICLE = "vehicle"  # a transit vehicle's position
    OUTAGE = "outage"  # a utility outage


class Severity(StrEnum):
    """CAP's severity vocabulary, which every event source is mapped onto."""

    EXTREME = "extreme"
    SEVERE = "severe"
    MODERATE = "moderate"
    MINOR = "minor"
    UNKNOWN = "unknown"


class Event(BaseModel):
    """Something that happens somewhere for a while: a warning, a jam, an outage, a vehicle.

    Unlike an observation it has a shape (point, line, polygon) and a lifetime. A feed whose
    payload lists every current event (Feed.events_snapshot) ends the events it no longer lists;
    a message feed (CAP) ends them with a Cancel, or when `ends_at` passes.
    """

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(min_length=1, max_length=300)  # stable within its source
    source: str
    category: EventCategory
    event_type: str = Field(min_length=1, max_length=200)  # "Flood Watch", "ACCIDENT", "JAM"...
    title: str = Field("", max_length=2000)
    severity: Severity = Severity.UNKNOWN
    observed_at: float  # UNIX s, UTC: when the source issued or last updated it
    starts_at: float | None = None
    ends_at: float | None = None  # after this it is no longer active (None: until replaced)
    geometry: dict[str, Any] | None = None  # GeoJSON, lon/lat; None when only named areas are known
    zone_ids: list[str] = Field(default_factory=list)  # set by the pipeline's spatial join
    references: list[str] = Field(default_factory=list)  # event ids this message updates or cancels
    cancelled: bool = False  # a Cancel: ends the referenced events and is not stored itself
    properties: dict[str, Any] = Field(default_factory=dict)


class Rejection(BaseModel):
    entity_id: str
    kind: str
    reason: str
    # Skipped, not wrong: an item outside this city, a test message, a parameter we do not
    # track. Counted and shown apart from rejections; it does not make a feed "degraded".
    skipped: bool = False


class ParseResult(BaseModel):
    """What a feed's pure parse returns: entities it mentions, batches, and what it refused."""

    entities: list[Entity] = Field(default_factory=list)
    batches: list[ObservationBatch] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    forecasts: list[ForecastSeries] = Field(default_factory=list)
    rejected: list[Rejection] = Field(default_factory=list)

    @property
    def observation_count(self) -> int:
        return sum(len(b) for b in self.batches)

    @property
    def item_count(self) -> int:
        """What a poll reports as items stored: readings, events and forecast steps."""
        return self.observation_count + len(self.events) + sum(len(f.values) for f in self.forecasts)


class Observation(BaseModel):
    """Row view of one stored reading (what `opscentre state --json` prints)."""

    entity_id: str
    kind: str
    value: float
    unit: str
    observed_at: str  # ISO 8601, UTC
    zone_id: str | None
    source: str


class FeedStatus(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"  # last poll stored some items but rejected others
    FAILING = "failing"  # last poll failed
    STALE = "stale"  # no success within 3 intervals
    DISABLED = "disabled"
    UNKNOWN = "unknown"  # never polled


class EntityValidator:
    """Validates entity descriptions from a payload, once per distinct description.

    Feeds describe the same entities in every payload (a station list, a road network);
    re-validating 2,000 unchanged descriptions each poll costs more than storing the readings.
    A description equal to the one last validated for its id (a plain dict comparison, done in
    C) returns the validated entity; a changed one (new thresholds, a new name) is validated
    again. A description that fails validation is not remembered. Bounded: forgets everything
    past `limit` ids.
    """

    def __init__(self, source: str, limit: int = 200_000):
        self.source = source
        self.limit = limit
        self._seen: dict[str, tuple[dict[str, Any], Entity]] = {}

    def __call__(self, item: dict[str, Any]) -> Entity:
        entity_id = item.get("entity_id")
        cached = self._seen.get(entity_id) if isinstance(entity_id, str) else None
        if cached is not None and cached[0] == item:
            return cached[1]
        entity = Entity.model_validate({**item, "source": self.source})
        if len(self._seen) >= self.limit:
            self._seen.clear()
        self._seen[entity.entity_id] = (dict(item), entity)
        return entity
