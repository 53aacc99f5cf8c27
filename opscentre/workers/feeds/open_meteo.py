"""Open-Meteo forecast per zone (feed id `open_meteo`): current conditions and 48 h hourly.

`GET https://api.open-meteo.com/v1/forecast?latitude=a,b,..&longitude=x,y,..&current=..&hourly=..`
(no key) at each zone's representative point, `batch_size` zones per request. Several
locations answer a JSON list of location objects, in the order asked; one location answers
the object alone. The fetch keeps every batch's answer next to the zones it asked for:

    {"batches": [{"zones": ["1", "2", ...], "results": [<location object>, ...]},
                 {"zones": [...], "error": "<why that batch's body could not be read>"}]}

`opscentre ingest open_meteo FILE` also takes a raw Open-Meteo response (one location object,
or a list of them): each location then belongs to the zone containing it, or the nearest zone.

Per zone: entity `open_meteo:<zone id>` (type zone, its zone preset, a Point at the zone's
representative point); `air_temp_c` and `wind_speed_ms` from `current` (or the legacy
`current_weather` block); forecasts `rain_forecast_mm`, `air_temp_c` and `wind_speed_ms` per
hour. Units are read from the `*_units` blocks (km/h, mp/h, kn, °F and inch are converted);
without a units block the API's defaults (°C, km/h, mm) are assumed. Times are unixtime, or
ISO 8601 local times shifted by `utc_offset_seconds`. Hourly precipitation is the sum of the
*preceding* hour, so its step starts an hour before its time stamp. Steps already over at `now`
are dropped, and at most `forecast_hours` are kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import orjson
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opscentre.core.errors import ParseError
from opscentre.core.models import EntityValidator, ForecastSeries, ObservationBatch, ParseResult, Rejection
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.feeds.http import FeedUrl, fetch_bytes

SOURCE = "open_meteo"
DEFAULT_URL = "https://api.open-meteo.com/v1/forecast"
# The free API counts each location of a request as one call (as long as a request stays within
# 10 variables and 14 days, as ours does) and allows 600 a minute, 5,000 an hour, 10,000 a day.
FREE_LIMITS = ((60, 600, "minute"), (3600, 5_000, "hour"), (86_400, 10_000, "day"))
# Hourly: the models behind the API update about once an hour, and Rio's 166 bairros then make
# 3,984 calls a day. Every 30 min would make 7,968: under 10,000, but with little room left for
# restarts, replays or a second instance behind the same address.
DEFAULT_INTERVAL_S = 3600
STEP_S = 3600
# Answered coordinates are the model grid cell's, a few km from the point asked for; farther
# than this means the answers are not in the order the zones were asked in.
MAX_GRID_OFFSET_DEG = 0.3
BOUNDS_MARGIN_DEG = 0.1
ALL_KINDS = "*"

# kind -> (unit the API uses without a units block, {unit: (scale, offset)} to ours)
UNITS: dict[str, tuple[str, dict[str, tuple[float, float]]]] = {
    "air_temp_c": ("°C", {"°C": (1.0, 0.0), "°F": (5 / 9, -32 * 5 / 9)}),
    "wind_speed_ms": ("km/h", {"m/s": (1.0, 0.0), "km/h": (1 / 3.6, 0.0), "mp/h": (0.44704, 0.0),
                               "mph": (0.44704, 0.0), "kn": (0.514444, 0.0)}),
    "rain_forecast_mm": ("mm", {"mm": (1.0, 0.0), "inch": (25.4, 0.0)}),
}
# kind -> field names in `current` (current API, then legacy `current_weather`)
CURRENT = {"air_temp_c": ("temperature_2m", "temperature"),
           "wind_speed_ms": ("wind_speed_10m", "windspeed_10m", "windspeed")}
# kind -> (field names in `hourly`, new then legacy; the value is a sum over the preceding hour)
HOURLY = {"rain_forecast_mm": (("precipitation",), True),
          "air_temp_c": (("temperature_2m",), False),
          "wind_speed_ms": (("wind_speed_10m", "windspeed_10m"), False)}

_validate_entity = EntityValidator(SOURCE)


class OpenMeteoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: FeedUrl = DEFAULT_URL
    batch_size: int = Field(50, ge=1, le=1000, description="zones per request (the API takes up to 1,000)")
    forecast_hours: int = Field(48, ge=1, le=384)
    free_api_limits: bool = Field(True, description="refuse an interval that would exceed the free API's "
                                                     "call limits; false for a commercial or self-hosted server")
    timeout_s: float = Field(20, gt=0, le=300, description="read timeout, seconds")
    max_bytes: int = Field(5_000_000, ge=1_000, le=100_000_000, description="per batch")


    def check(self, settings: Any) -> list[str]:
        """The poll interval against the free API's limits (each zone is one call a poll)."""
        if not self.free_api_limits:
            return []
        try:
            zones = len(settings.zones.ids)
        except (ValueError, KeyError, OSError):
            return []  # the zones problem is reported on its own
        configured = settings.feeds.get(SOURCE)
        interval = (configured.interval_s if configured else None) or DEFAULT_INTERVAL_S
        per_poll = zones * max(1.0, (self.forecast_hours + 1) / (14 * 24))
        for window, limit, name in FREE_LIMITS:
            if per_poll > limit:
                return [f"{zones} zones make {per_poll:,.0f} Open-Meteo calls a poll, more than the free API's "
                        f"{limit:,} a {name}; set free_api_limits: false only for a commercial or self-hosted server"]
            calls = per_poll * max(1.0, window / interval)
            if calls > limit:
                return [f"{zones} zones polled every {interval} s make ~{calls:,.0f} Open-Meteo calls a {name} "
                        f"(each location is a call); the free API allows {limit:,}: use interval_s >= "
                        f"{math.ceil(per_poll * window / limit)}, or set free_api_limits: false for a "
                        "commercial or self-hosted server"]
        return []


def fetch(ctx: FeedContext) -> bytes:
    options: OpenMeteoOptions = ctx.options
    zones = ctx.settings.zones
    points = zones.representative_points
    base = options.url + ("&" if "?" in options.url else "?")
    batches = []
    for start in range(0, len(zones.ids), options.batch_size):
        ids = zones.ids[start:start + options.batch_size]
        body = fetch_bytes(
            base + urlencode(_query(points[start:start + options.batch_size], options), safe=","),
            headers={"Accept": "application/json"},
            timeout=(min(5.0, options.timeout_s), options.timeout_s),
            max_bytes=options.max_bytes,
        )
        try:
            batches.append({"zones": ids, "results": _load(body)})
        except ParseError as exc:
            batches.append({"zones": ids, "error": str(exc)})
    return orjson.dumps({"batches": batches})


def _query(points: list[tuple[float, float]], options: OpenMeteoOptions) -> dict[str, Any]:
    return {
        "latitude": ",".join(f"{lat:.4f}" for _, lat in points),
        "longitude": ",".join(f"{lon:.4f}" for lon, _ in points),
        "current": "temperature_2m,wind_speed_10m",
        "hourly": "precipitation,temperature_2m,wind_speed_10m",
        # One more hour: the first step's precipitation is the hour just past.
        "forecast_hours": options.forecast_hours + 1,
        "timezone": "GMT",
        "timeformat": "unixtime",
        "wind_speed_unit": "ms",
    }


def parse(payload: bytes, ctx: FeedContext) -> ParseResult:
    data = _load(payload)
    options = ctx.options if isinstance(ctx.options, OpenMeteoOptions) else OpenMeteoOptions()
    zones = ctx.settings.zones
    out = ParseResult()
    if isinstance(data, dict) and ("batches" in data or "zones" in data):
        pairs = _from_batches(data, zones, out.rejected)
    else:
        pairs = _from_raw(data, zones, out.rejected)
    columns: dict[str, tuple[list[str], list[float], list[float]]] = {k: ([], [], []) for k in CURRENT}
    now = ctx.now.timestamp()
    points = dict(zip(zones.ids, zones.representative_points))
    for zone_id, item in pairs:
        _zone(zone_id, zones.name_by_id[zone_id], points[zone_id], item, now, options, out, columns)
    out.batches = [ObservationBatch(source=SOURCE, kind=kind, entity_ids=ids, values=values, observed_at=times)
                   for kind, (ids, values, times) in columns.items() if ids]
    return out


def entity_id(zone_id: str) -> str:
    return f"{SOURCE}:{zone_id}"


def _load(payload: bytes) -> Any:
    """The payload as a JSON object or list, or ParseError saying why not."""
    text = payload.strip() if isinstance(payload, (bytes, bytearray)) else b""
    if not text:
        raise ParseError("Open-Meteo payload is empty")
    if text[:1] == b"<":
        raise ParseError("Open-Meteo payload is an HTML/XML page, not JSON (maintenance page or wrong URL?)")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"Open-Meteo payload is not JSON (truncated?): {exc}")
    if isinstance(data, dict) and data.get("error") is True:
        raise ParseError(f"Open-Meteo answered an error: {data.get('reason') or 'no reason given'}")
    if not isinstance(data, (dict, list)):
        raise ParseError(f"Open-Meteo payload must be a JSON object or list, got {type(data).__name__}")
    return data


def _from_batches(data: dict[str, Any], zones: Any, rejected: list[Rejection]) -> list[tuple[str, Any]]:
    """(zone id, location object) from the fetch's document; a batch that cannot be matched
    to its zones rejects those zones."""
    batches = data.get("batches", [data])
    if not isinstance(batches, list) or not batches:
        raise ParseError("Open-Meteo payload has no 'batches' list")
    known = dict(zip(zones.ids, zones.representative_points))
    pairs: list[tuple[str, Any]] = []
    seen: set[str] = set()
    errors = []

    def reject(zone_id: str, reason: str) -> None:
        rejected.append(Rejection(entity_id=entity_id(zone_id), kind=ALL_KINDS, reason=reason))

    for n, batch in enumerate(batches):
        ids = batch.get("zones") if isinstance(batch, dict) else None
        if not isinstance(ids, list) or not all(isinstance(z, str) for z in ids):
            rejected.append(Rejection(entity_id="?", kind=ALL_KINDS, reason=f"batches[{n}] has no list of zone ids"))
            continue
        if "error" in batch:
            errors.append(f"batch {n + 1} of {len(batches)}: {batch['error']}")
            for zone_id in ids:
                reject(zone_id, f"batch {n + 1} could not be read: {batch['error']}")
            continue
        results = batch.get("results")
        results = [results] if isinstance(results, dict) else results
        if not isinstance(results, list) or len(results) != len(ids):
            count = len(results) if isinstance(results, list) else "no"
            for zone_id in ids:
                reject(zone_id, f"batch {n + 1} answered {count} locations for {len(ids)} zones asked: "
                                "its answers cannot be matched to zones")
            continue
        for zone_id, item in zip(ids, results):
            if zone_id not in known:
                reject(zone_id, f"{zone_id!r} is not a zone of this city (was the payload fetched for another config?)")
            elif zone_id in seen:
                reject(zone_id, "zone appears twice in the payload")
            else:
                problem = _far_from(item, known[zone_id])
                if problem:
                    reject(zone_id, problem)
                    continue
                seen.add(zone_id)
                pairs.append((zone_id, item))
    if errors and len(errors) == len(batches):
        raise ParseError(f"no Open-Meteo batch could be read: {errors[0]}")
    return pairs


def _far_from(item: Any, point: tuple[float, float]) -> str | None:
    coords = _coords(item)
    if coords is None:
        return None  # the location itself says what is wrong with it
    lat, lon = coords
    if abs(lat - point[1]) > MAX_GRID_OFFSET_DEG or abs(lon - point[0]) > MAX_GRID_OFFSET_DEG:
        return (f"answer for latitude {lat}, longitude {lon} is far from the zone's point "
                f"({point[1]:.4f}, {point[0]:.4f}): answers out of order?")
    return None


def _from_raw(data: Any, zones: Any, rejected: list[Rejection]) -> list[tuple[str, Any]]:
    """(zone id, location object) for a raw API answer: the zone each location falls in."""
    if isinstance(data, dict) and not {"latitude", "hourly", "current", "current_weather"} & set(data):
        raise ParseError("not an Open-Meteo answer: expected a location object (latitude, longitude, hourly...), "
                         'a list of them, or {"batches": [...]}')
    items = [data] if isinstance(data, dict) else data
    min_lon, min_lat, max_lon, max_lat = zones.bounds
    m = BOUNDS_MARGIN_DEG

    def inside(lat: float, lon: float) -> bool:
        return min_lat - m <= lat <= max_lat + m and min_lon - m <= lon <= max_lon + m

    def refuse(eid: str, reason: str) -> None:
        rejected.append(Rejection(entity_id=eid, kind=ALL_KINDS, reason=reason))

    located: list[tuple[int, float, float]] = []
    for n, item in enumerate(items):
        coords = _coords(item)
        if coords is None:
            refuse("?", f"location {n} has no numeric latitude/longitude")
        elif inside(*coords):
            located.append((n, *coords))
        else:
            how = "looks swapped (longitude, latitude)" if inside(coords[1], coords[0]) else "is outside the city"
            refuse("?", f"location {n} ({coords[0]}, {coords[1]}) {how}")
    pairs: list[tuple[str, Any]] = []
    for (n, lat, lon), zone_id in zip(located, zones.assign([(lon, lat) for _, lat, lon in located])):
        if zone_id is None:  # grid snapping may put it past the coast: take the nearest zone
            point = shapely.Point(lon, lat)
            zone_id = min(zip(zones.ids, zones.geometries), key=lambda z: z[1].distance(point))[0]
        if any(z == zone_id for z, _ in pairs):
            refuse(entity_id(zone_id), f"location {n} falls in a zone another location of the payload already gave")
        else:
            pairs.append((zone_id, items[n]))
    return pairs


def _coords(item: Any) -> tuple[float, float] | None:
    if not isinstance(item, dict):
        return None
    lat, lon = item.get("latitude"), item.get("longitude")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon)):
        return None
    return float(lat), float(lon)


def _plain_number(value: Any) -> float | None:
    """A finite number as given, else None: an entity's properties hold no arbitrary JSON (a
    list nested 600 deep could not be stored: found by `drill fuzz`)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _zone(zone_id: str, name: str, point: tuple[float, float], item: Any, now: float, options: OpenMeteoOptions,
          out: ParseResult, columns: dict[str, tuple[list[str], list[float], list[float]]]) -> None:
    eid = entity_id(zone_id)

    def reject(kind: str, reason: str) -> None:
        out.rejected.append(Rejection(entity_id=eid, kind=kind, reason=reason))

    if not isinstance(item, dict):
        reject(ALL_KINDS, f"the answer for this zone is a {type(item).__name__}, not an object")
        return
    if item.get("error") is True:
        reject(ALL_KINDS, f"Open-Meteo answered an error: {item.get('reason') or 'no reason given'}")
        return
    try:
        out.entities.append(_validate_entity({
            "entity_id": eid, "entity_type": "zone", "name": name, "zone_id": zone_id,
            "geometry": {"type": "Point", "coordinates": [round(point[0], 6), round(point[1], 6)]},
            "properties": {"grid_latitude": _plain_number(item.get("latitude")),
                           "grid_longitude": _plain_number(item.get("longitude")),
                           "elevation_m": _plain_number(item.get("elevation"))},
        }))
    except ValidationError as exc:
        reject(ALL_KINDS, f"entity refused: {exc.errors()[0]['msg']}")
        return
    offset = item.get("utc_offset_seconds", 0)
    offset = offset if isinstance(offset, int) and not isinstance(offset, bool) and abs(offset) <= 86_400 else None
    _current(item, eid, offset, reject, columns)
    _hourly(item, eid, offset, now, options.forecast_hours, reject, out.forecasts)


def _current(item: dict[str, Any], eid: str, offset: int | None, reject: Callable[[str, str], None],
             columns: dict[str, tuple[list[str], list[float], list[float]]]) -> None:
    block, units = item.get("current"), item.get("current_units")
    if not isinstance(block, dict):
        block, units = item.get("current_weather"), item.get("current_weather_units")
    if not isinstance(block, dict):
        for kind in CURRENT:
            reject(kind, "no current conditions (`current` or `current_weather`) in the answer")
    else:
        observed_at, problem = _time(block.get("time"), offset)
        for kind, fields in CURRENT.items():
            field = next((f for f in fields if f in block), fields[0])
            value, why = (None, problem) if problem else _value(block.get(field), f"current {field}",
                                                                 _unit(units, field, kind), kind)
            if why:
                reject(kind, why)
                continue
            ids, values, times = columns[kind]
            ids.append(eid)
            values.append(value)
            times.append(observed_at)


def _hourly(item: dict[str, Any], eid: str, offset: int | None, now: float, hours: int,
            reject: Callable[[str, str], None], forecasts: list[ForecastSeries]) -> None:
    hourly, units = item.get("hourly"), item.get("hourly_units")
    stamps = hourly.get("time") if isinstance(hourly, dict) else None
    if not isinstance(stamps, list):
        for kind in HOURLY:
            reject(kind, "no hourly forecast (`hourly.time`) in the answer")
        return
    times_or_problems = [_time(t, offset) for t in stamps]
    bad = next((p for _, p in times_or_problems if p), None)
    if bad:
        for kind in HOURLY:
            reject(kind, f"hourly.time: {bad}")
        return
    times = [t for t, _ in times_or_problems]
    for kind, (fields, preceding) in HOURLY.items():
        field = next((f for f in fields if f in hourly), None)
        if field is None:
            reject(kind, f"no hourly {fields[0]} in the answer")
            continue
        raw = hourly[field]
        if not isinstance(raw, list) or len(raw) != len(times):
            size = len(raw) if isinstance(raw, list) else type(raw).__name__
            reject(kind, f"hourly arrays of unequal length: time has {len(times)} steps, {field} {size}")
            continue
        unit = _unit(units, field, kind)
        steps, values, problems = [], [], []
        for t, v in zip(times, raw):
            start = t - STEP_S if preceding else t
            if start + STEP_S <= now:
                continue  # over already
            value, why = _value(v, f"hourly {field}", unit, kind)
            if why:
                problems.append(why)
                continue
            steps.append(start)
            values.append(value)
        if problems:
            reject(kind, f"{len(problems)} forecast steps dropped, e.g. {problems[0]}")
        if steps:
            forecasts.append(ForecastSeries(source=SOURCE, entity_id=eid, kind=kind, issued_at=now,
                                            times=steps[:hours], values=values[:hours]))


def _unit(units: Any, field: str, kind: str) -> str:
    unit = units.get(field) if isinstance(units, dict) else None
    return unit if isinstance(unit, str) else UNITS[kind][0]


def _value(value: Any, what: str, unit: str, kind: str) -> tuple[float | None, str | None]:
    if value is None:
        return None, f"{what}: no value (null)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"{what}: {value!r} is not a number"
    conversion = UNITS[kind][1].get(unit)
    if conversion is None:
        return None, f"{what}: unknown unit {unit!r} (known: {', '.join(UNITS[kind][1])})"
    scale, shift = conversion
    return float(value) * scale + shift, None


def _time(value: Any, offset: int | None) -> tuple[float | None, str | None]:
    """Unix seconds from unixtime, or from an ISO 8601 local time and the answer's UTC offset."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (float(value), None) if math.isfinite(value) else (None, f"time {value!r} is not finite")
    if not isinstance(value, str):
        return None, f"time {value!r} is not a time"
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None, f"time {value!r} is not an ISO 8601 time"
    if moment.tzinfo is None:
        if offset is None:
            return None, "utc_offset_seconds is missing or not a whole number of seconds"
        moment = moment.replace(tzinfo=timezone(timedelta(seconds=offset)))
    return moment.timestamp(), None


FEED = Feed(
    feed_id=SOURCE,
    title="Open-Meteo forecast per zone",
    fetch=fetch,
    parse=parse,
    default_interval_s=DEFAULT_INTERVAL_S,
    options_model=OpenMeteoOptions,
)
