"""OpenAQ v3 air quality stations (feed id `openaq`): PM2.5, PM10, O3, NO2 and an index.

A poll asks the OpenAQ v3 API (header `X-API-Key`, the key read from the environment variable
named by `api_key_env`) for:
- the locations: each configured id (`GET /v3/locations/{id}`) and, when `bbox` is set or no
  ids are, a search in the box (`GET /v3/locations?bbox=minlon,minlat,maxlon,maxlat`; default:
  the city's zones' bounds), at most `max_locations` of them;
- each location's sensors with their latest reading (`GET /v3/locations/{id}/sensors`: per
  sensor `parameter {name, units}` and `latest {datetime {utc, local}, value, coordinates}`).
That is 2 requests per configured id, 1 + N for a search: with the default 30-minute interval
and at most 25 ids or 50 found locations, well inside OpenAQ's limits (60/min, 2,000/h).

The answers travel to parse as ONE payload, a JSON envelope:

    {"bundle": "openaq-v3",
     "locations": [<location objects of /v3/locations>],
     "sensors": {"<location id>": <the /v3/locations/{id}/sensors response>},
     "errors": {"<location id>": "<why that request failed>"}}

`opscentre ingest openaq FILE` takes such an envelope, a raw `/v3/locations` response (stations,
no readings), or a raw sensors response — which does not name its location, so the config's
`locations` must then hold exactly one id.

Each location becomes an `air_quality_station` entity `openaq:<location id>` and readings
`pm25_ugm3`, `pm10_ugm3`, `o3_ugm3`, `no2_ugm3` (ppm/ppb converted to µg/m³ at 25 °C, 1 atm:
core/air_quality/units.py) plus `aqi`: the worst sub-index of those four pollutants on the
configured scale (`rio` IQA by default, `us_epa`, `eu`, `eu_old`), from the breakpoint tables
(core/air_quality/breakpoints.py). The scales define PM over 24 h and O3 over 8 h; OpenAQ's
`latest` is one (usually hourly) value, so the index here is the index *of the latest values* —
an approximation that reacts faster than the official one. Only readings within AQI_WINDOW_S of
the station's newest reading, and within their kind's plausible range, count. The scale is kept
on the entity (`aqi_scale`) so the map colours the index with the right table.

Other parameters (co, so2, no, nox, temperature...) are skipped with a reason (counted as
rejections); a unit that is unknown, or meaningless for the pollutant, rejects that reading.
"""

from __future__ import annotations

import math
import os
import re
import time
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from opscentre.core.air_quality import scale
from opscentre.core.air_quality.units import UGM3, convert, normalise_unit
from opscentre.core.errors import FetchError, ParseError
from opscentre.core.models import KINDS, Entity, ObservationBatch, ParseResult, Rejection
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.feeds.http import fetch_bytes
from opscentre.workers.feeds.payloads import load_json_object

SOURCE = "openaq"
DEFAULT_URL = "https://api.openaq.org"
BUNDLE = "openaq-v3"
KIND_OF = {"pm25": "pm25_ugm3", "pm10": "pm10_ugm3", "o3": "o3_ugm3", "no2": "no2_ugm3"}
AQI_WINDOW_S = 3 * 3600  # a pollutant read this much before the station's newest reading is stale
BOUNDS_MARGIN_DEG = 0.05  # ~5 km: a station on the city's edge is still the city's
POLL_BUDGET_S = 150.0  # stop asking for more locations after this (the poll lock lasts 300 s)


class OpenAQOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(DEFAULT_URL, description="API base URL")
    api_key_env: str = Field("OPENAQ_API_KEY", description="environment variable holding the API key")
    locations: list[int] = Field(default_factory=list, max_length=25, description="OpenAQ location ids")
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="min lon, min lat, max lon, max lat to search; default: the city's zones")
    max_locations: int = Field(20, ge=1, le=50, description="locations taken from a bbox search")
    scale: Literal["rio", "us_epa", "eu", "eu_old"] = "rio"
    timeout_s: float = Field(20, gt=0, le=300, description="read timeout, seconds")
    max_bytes: int = Field(5_000_000, ge=1_000, le=100_000_000)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value):
            raise ValueError("url must be an http:// or https:// base URL without a query")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("api_key_env must name an environment variable (the key itself never goes in the config)")
        return value

    @field_validator("locations")
    @classmethod
    def _positive_ids(cls, value: list[int]) -> list[int]:
        if any(i <= 0 for i in value):
            raise ValueError("location ids are positive integers")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _bbox_order(self) -> OpenAQOptions:
        if self.bbox is not None:
            min_lon, min_lat, max_lon, max_lat = self.bbox
            if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
                raise ValueError("bbox must be [min lon, min lat, max lon, max lat] with min < max")
        return self


# ---- fetch ------------------------------------------------------------------------------


def fetch(ctx: FeedContext) -> bytes:
    options: OpenAQOptions = ctx.options
    key = os.environ.get(options.api_key_env, "").strip()
    if not key:
        raise FetchError(f"openaq: no API key: set ${options.api_key_env}", kind="config")
    api = _Requests(options, key)
    locations: list[Any] = []
    errors: dict[str, str] = {}
    for location_id in options.locations:
        try:
            results = api.get(f"/v3/locations/{location_id}").get("results")
            locations.extend(results if isinstance(results, list) else [])
        except (FetchError, ParseError) as exc:
            errors[str(location_id)] = str(exc)
    if options.bbox is not None or not options.locations:
        box = options.bbox or _bounds(ctx)
        if box is None:
            raise FetchError("openaq: no locations configured and the city has no zones to search in", kind="config")
        try:
            bbox = ",".join(f"{x:.4f}" for x in box)
            found = api.get("/v3/locations", {"bbox": bbox, "limit": options.max_locations})
            results = found.get("results")
            locations.extend(results[: options.max_locations] if isinstance(results, list) else [])
        except (FetchError, ParseError) as exc:
            errors["search"] = str(exc)
    sensors: dict[str, Any] = {}
    for location_id in dict.fromkeys(str(_int(loc.get("id"))) for loc in locations
                                     if isinstance(loc, dict) and _int(loc.get("id"))):
        try:
            sensors[location_id] = api.get(f"/v3/locations/{location_id}/sensors")
        except (FetchError, ParseError) as exc:
            errors[location_id] = str(exc)
    if not api.answered and api.failures:
        raise api.failures[0]  # nothing answered: the key, the network or the API is down
    return orjson.dumps({"bundle": BUNDLE, "locations": locations, "sensors": sensors, "errors": errors})


class _Requests:
    """The GETs of one poll. A failure that is not about one location (connection, timeout, 429)
    stops the poll's further requests, and so does the time budget: the rest are recorded as
    not fetched instead of each waiting out its own retries."""

    def __init__(self, options: OpenAQOptions, key: str):
        self.options = options
        self.headers = {"X-API-Key": key, "Accept": "application/json"}
        self.started = time.monotonic()
        self.answered = 0
        self.failures: list[FetchError] = []
        self.stopped: str | None = None

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.stopped is None and time.monotonic() - self.started > POLL_BUDGET_S:
            self.stopped = f"the poll's {POLL_BUDGET_S:g} s budget was spent"
        if self.stopped is not None:
            raise FetchError(f"not fetched: {self.stopped}", kind="timeout")
        timeout = (min(5.0, self.options.timeout_s), self.options.timeout_s)
        try:
            body = fetch_bytes(self.options.url + path, params=params, headers=self.headers, timeout=timeout,
                               max_bytes=self.options.max_bytes)
        except FetchError as exc:
            self.failures.append(exc)
            if exc.kind in ("connection", "timeout", "rate_limited", "fetch"):
                self.stopped = f"an earlier request failed ({exc.kind})"
            raise
        self.answered += 1
        return load_json_object(body, f"OpenAQ {path}")


# ---- parse ------------------------------------------------------------------------------


def parse(payload: bytes, ctx: FeedContext) -> ParseResult:
    """Pure: the envelope (or a raw locations / sensors response) -> stations and readings."""
    options: OpenAQOptions = ctx.options
    locations, sensors, errors = _load(payload, options)
    out = _Collector(options.scale, _bounds(ctx, BOUNDS_MARGIN_DEG))
    for location_id, reason in errors.items():
        entity = f"openaq:{location_id}" if _int(location_id) else "?"
        out.rejected.append(Rejection(entity_id=entity, kind="?", reason=f"request failed: {reason}"))
    seen: set[int] = set()
    for index, location in enumerate(locations):
        if not isinstance(location, dict) or _int(location.get("id")) is None:
            out.rejected.append(Rejection(entity_id="?", kind="?", reason=f"locations[{index}] has no integer 'id'"))
            continue
        location_id = _int(location["id"])
        if location_id in seen:
            out.rejected.append(Rejection(entity_id=f"openaq:{location_id}", kind="?",
                                          reason="location appears twice in the payload"))
            continue
        seen.add(location_id)
        out.station(location_id, location, sensors.get(str(location_id)))
    for key, response in sensors.items():
        location_id = _int(key)
        if location_id is None:
            reason = f"sensors of location {key[:30]!r}: not a location id"
            out.rejected.append(Rejection(entity_id="?", kind="?", reason=reason))
        elif location_id not in seen:  # sensors without a location object (a raw sensors response)
            seen.add(location_id)
            out.station(location_id, {}, response)
    return ParseResult(entities=out.entities, batches=out.batches(), rejected=out.rejected)


def _load(payload: bytes, options: OpenAQOptions) -> tuple[list[Any], dict[str, Any], dict[str, str]]:
    """(location objects, location id -> sensors response, location id -> request error)."""
    data = load_json_object(payload, "OpenAQ")
    if data.get("bundle") == BUNDLE:
        locations, sensors, errors = data.get("locations"), data.get("sensors"), data.get("errors") or {}
        if not isinstance(locations, list) or not isinstance(sensors, dict) or not isinstance(errors, dict):
            raise ParseError("OpenAQ envelope needs a 'locations' list, a 'sensors' object and an 'errors' object")
        if not locations and not sensors and errors:
            raise ParseError("OpenAQ: no request of the poll succeeded: " + "; ".join(map(str, errors.values()))[:300])
        return locations, sensors, {str(k): str(v) for k, v in errors.items()}
    results = data.get("results")
    if not isinstance(results, list):
        detail = data.get("detail") or data.get("message") or data.get("error")
        hint = f" (the API said: {str(detail)[:200]})" if detail else ""
        raise ParseError(f"OpenAQ payload has no 'results' list and is not a poll envelope{hint}")
    items = [r for r in results if isinstance(r, dict)]
    if any("parameter" in r for r in items):  # a /v3/locations/{id}/sensors response
        if len(options.locations) != 1:
            raise ParseError("a raw OpenAQ sensors response does not name its location: configure exactly one id "
                             "in feeds.openaq.options.locations, or ingest the envelope a poll builds")
        return [], {str(options.locations[0]): data}, {}
    return results, {}, {}  # a /v3/locations response: stations without readings


class _Collector:
    """Entities, readings and rejections of one payload, gathered station by station."""

    def __init__(self, scale_name: str, bounds: tuple[float, float, float, float] | None):
        self.scale, self.scale_name, self.bounds = scale(scale_name), scale_name, bounds
        self.entities: list[Entity] = []
        self.rejected: list[Rejection] = []
        self.columns: dict[str, tuple[list[str], list[float], list[float]]] = {
            kind: ([], [], []) for kind in (*KIND_OF.values(), "aqi")}

    def station(self, location_id: int, location: dict[str, Any], response: Any) -> None:
        entity_id = f"openaq:{location_id}"
        readings = _sensors(response)
        if isinstance(readings, str):
            self.rejected.append(Rejection(entity_id=entity_id, kind="?", reason=readings))
            readings = []
        point = _coordinates(location.get("coordinates"))
        if point is None:  # a raw sensors response: the station is where its sensors read
            found = (_coordinates(s["latest"].get("coordinates")) for s in readings if isinstance(s.get("latest"), dict))
            point = next((p for p in found if p is not None), None)
        problem = _place_problem(point, self.bounds)
        if problem:
            self.rejected.append(Rejection(entity_id=entity_id, kind="?", reason=problem))
            return
        try:
            # Validated on every payload (no EntityValidator cache): a few dozen stations at most, and
            # the description follows the configured scale.
            entity = Entity.model_validate(self._description(entity_id, location_id, location, readings, point))
        except ValidationError as exc:
            reason = f"station refused: {exc.errors()[0]['msg']}"
            self.rejected.append(Rejection(entity_id=entity_id, kind="?", reason=reason))
            return
        self.entities.append(entity)
        self._readings(entity_id, readings)

    def _description(self, entity_id: str, location_id: int, location: dict[str, Any],
                     readings: list[dict[str, Any]], point: tuple[float, float]) -> dict[str, Any]:
        name = location.get("name") if isinstance(location.get("name"), str) and location["name"].strip() else None
        properties: dict[str, Any] = {"network": "OpenAQ", "openaq_location_id": location_id,
                                      "aqi_scale": self.scale_name}
        for field in ("provider", "owner", "country"):
            value = location.get(field)
            if isinstance(value, dict) and isinstance(value.get("name"), str):
                properties[field] = value["name"]
        for field in ("locality", "timezone"):
            if isinstance(location.get(field), str):
                properties[field] = location[field]
        units = {}
        for sensor in readings:
            parameter = sensor.get("parameter")
            if isinstance(parameter, dict) and isinstance(parameter.get("name"), str):
                units[parameter["name"]] = str(parameter.get("units"))
        properties["source_units"] = units
        return {"entity_id": entity_id, "entity_type": "air_quality_station", "source": SOURCE,
                "name": (name or f"OpenAQ location {location_id}").strip(),
                "geometry": {"type": "Point", "coordinates": [point[1], point[0]]}, "properties": properties}

    def _readings(self, entity_id: str, readings: list[dict[str, Any]]) -> None:
        for_index: list[tuple[str, float, str, float]] = []  # pollutant, value, unit, time
        for sensor in readings:
            reading = _reading(sensor)
            if isinstance(reading, Rejection):
                self.rejected.append(reading.model_copy(update={"entity_id": entity_id}))
                continue
            pollutant, value, unit, observed_at = reading
            kind = KIND_OF[pollutant]
            ugm3 = convert(value, pollutant, unit, UGM3)
            if ugm3 is None:
                self.rejected.append(Rejection(entity_id=entity_id, kind=kind,
                                               reason=f"unit {unit} cannot be converted to µg/m³ for {pollutant}"))
                continue
            self._add(kind, entity_id, round(ugm3, 3), observed_at)
            spec = KINDS[kind]
            if spec.minimum <= ugm3 <= spec.maximum:
                for_index.append((pollutant, value, unit, observed_at))
        if for_index:
            newest = max(t for *_, t in for_index)
            fresh = [r for r in for_index if r[3] >= newest - AQI_WINDOW_S]
            worst = self.scale.worst((p, v, u) for p, v, u, _ in fresh)
            if worst is not None:
                self._add("aqi", entity_id, float(worst.index), newest)

    def _add(self, kind: str, entity_id: str, value: float, observed_at: float) -> None:
        ids, values, times = self.columns[kind]
        ids.append(entity_id)
        values.append(value)
        times.append(observed_at)

    def batches(self) -> list[ObservationBatch]:
        return [ObservationBatch(source=SOURCE, kind=kind, entity_ids=ids, values=values, observed_at=times)
                for kind, (ids, values, times) in self.columns.items() if ids]


def _sensors(response: Any) -> list[dict[str, Any]] | str:
    """The sensor objects of a sensors response, or why there are none."""
    if response is None:
        return []
    if not isinstance(response, dict) or not isinstance(response.get("results"), list):
        return "sensors response has no 'results' list"
    return [s for s in response["results"] if isinstance(s, dict)]


def _reading(sensor: dict[str, Any]) -> tuple[str, float, str, float] | Rejection:
    """(pollutant, value, normalised unit, observed_at) of one sensor's latest value, or why not."""
    parameter = sensor.get("parameter")
    name = parameter.get("name") if isinstance(parameter, dict) else None
    if not isinstance(name, str) or not name:
        return Rejection(entity_id="", kind="?", reason=f"sensor {sensor.get('id')!r} has no parameter name")
    units = parameter.get("units")
    if name not in KIND_OF:
        return Rejection(entity_id="", kind=name[:50], skipped=True,
                         reason=f"parameter {name[:50]!r} ({units}) is not in our vocabulary, skipped")
    kind = KIND_OF[name]
    unit = normalise_unit(units)
    if unit is None:
        return Rejection(entity_id="", kind=kind, reason=f"unknown unit {str(units)[:30]!r} for {name}")
    latest = sensor.get("latest")
    if not isinstance(latest, dict):
        return Rejection(entity_id="", kind=kind, reason=f"sensor {sensor.get('id')!r} has no latest reading")
    value = latest.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return Rejection(entity_id="", kind=kind, reason=f"latest value {str(value)[:30]!r} is not a number")
    stamp = latest.get("datetime")
    observed_at = _time(stamp.get("utc") if isinstance(stamp, dict) else None)
    if observed_at is None:
        observed_at = _time(stamp.get("local") if isinstance(stamp, dict) else None)
    if observed_at is None:
        return Rejection(entity_id="", kind=kind, reason="latest reading has no datetime with a UTC offset")
    return name, float(value), unit, observed_at


def _time(text: Any) -> float | None:
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def _coordinates(value: Any) -> tuple[float, float] | None:
    """(lat, lon) of an OpenAQ {latitude, longitude} object."""
    if not isinstance(value, dict):
        return None
    lat, lon = value.get("latitude"), value.get("longitude")
    if any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) for x in (lat, lon)):
        return None
    return float(lat), float(lon)


def _place_problem(point: tuple[float, float] | None, bounds: tuple[float, float, float, float] | None) -> str | None:
    if point is None:
        return "station has no coordinates {latitude, longitude}"
    lat, lon = point
    if bounds is None:
        return None if -90 <= lat <= 90 and -180 <= lon <= 180 else f"coordinates {lat}, {lon} are not a position"
    min_lon, min_lat, max_lon, max_lat = bounds
    if min_lat <= lat <= max_lat and min_lon <= lon <= max_lon:
        return None
    if min_lat <= lon <= max_lat and min_lon <= lat <= max_lon:
        return f"coordinates latitude {lat}, longitude {lon} look swapped"
    return f"station at latitude {lat}, longitude {lon} is outside the city"


def _bounds(ctx: FeedContext, margin: float = 0.0) -> tuple[float, float, float, float] | None:
    """The city's zones' (min lon, min lat, max lon, max lat), grown by `margin` degrees."""
    try:
        min_lon, min_lat, max_lon, max_lat = ctx.settings.zones.bounds
    except (ValueError, KeyError, OSError, AttributeError):
        return None
    return (min_lon - margin, min_lat - margin, max_lon + margin, max_lat + margin)


def _int(value: Any) -> int | None:
    """A positive integer id from an int or a digit string (JSON object keys are strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value) or None
    return None


FEED = Feed(
    feed_id="openaq",
    title="OpenAQ air quality",
    fetch=fetch,
    parse=parse,
    default_interval_s=1800,
    options_model=OpenAQOptions,
)
