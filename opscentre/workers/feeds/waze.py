"""Waze for Cities (CCP) partner feed (feed id `waze`): jams and user reports, as events.

The partner feed (JSON, one document per poll, the full current picture) looks like:

    {"startTime": "2019-03-22 21:38:00:000", "endTime": "...", "startTimeMillis": ..,
     "endTimeMillis": .., "alerts": [...], "jams": [...], "irregularities": [...]}

Lists with nothing in them may be left out. Each jam becomes a `traffic` event `JAM`
(`waze:jam:<uuid>`, LineString from `line` [{x, y}]) with level 0-5, speed (m/s) and speedKMH,
delay (s; Waze sends -1 when the road is blocked), length (m), street, city, roadType...
Each alert becomes a `traffic` event whose type is the Waze `type` (ACCIDENT, JAM,
WEATHERHAZARD, HAZARD, ROAD_CLOSED, ...) at `location` {x, y}, with subtype, reliability,
confidence, nThumbsUp, reportRating. An alert type not in ALERT_TYPES is kept under its own
name with `type_known: false`. Times are `pubMillis` (UTC ms); a missing one falls back to the
snapshot time (`endTimeMillis`, else `endTime`), which a payload must carry.

Severity, from a jam's level: 5 (blocked) severe, 4 (very heavy) and 3 (heavy) moderate,
0-2 minor. From an alert: ALERT_SEVERITY by type, raised by SUBTYPE_SEVERITY (a major
accident, a flood...); an unknown type is `unknown`.

Observations, at the snapshot time: `jam_km` per zone (entity `waze:zone:<zone id>`, every zone
each poll, 0 when it has no jam, so a cleared jam goes back to 0) and city-wide (`waze:city`),
the sum of the zones. A jam counts, whole, in the zone holding its midpoint (or the nearest
within ~1 km); a jam whose midpoint is in no zone is kept as an event but counted nowhere.

Rejected with a reason: items that are not objects, without an id, with a bad line/location,
or wholly outside the city's bounds (plus ~5 km, city_bounds.py), or with x/y swapped; jams whose
level is not 0-5; a second item with the same id. `irregularities` (Waze's own anomaly
detection) are not supported: they are ignored, not rejected.
"""

from __future__ import annotations

import math
import os
import re
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opscentre.core.errors import FetchError, ParseError
from opscentre.core.geo import anchor_point
from opscentre.core.models import EntityValidator, Event, ObservationBatch, ParseResult, Rejection, Severity
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.feeds.city_bounds import Bounds, city_bounds, inside, point_problem
from opscentre.workers.feeds.http import FeedUrl, fetch_bytes, safe_url
from opscentre.workers.feeds.payloads import load_json_object

SOURCE = "waze"
CITY_ID = "waze:city"

JAM_LEVELS = {0: "free flow", 1: "light", 2: "moderate", 3: "heavy", 4: "very heavy", 5: "blocked"}
JAM_SEVERITY = {0: Severity.MINOR, 1: Severity.MINOR, 2: Severity.MINOR, 3: Severity.MODERATE,
                4: Severity.MODERATE, 5: Severity.SEVERE}
# Alert types of the CCP specification (HAZARD is seen in some feeds besides WEATHERHAZARD).
ALERT_TYPES = {"ACCIDENT": "Accident", "JAM": "Traffic jam", "WEATHERHAZARD": "Hazard", "HAZARD": "Hazard",
               "ROAD_CLOSED": "Road closed", "CONSTRUCTION": "Construction", "MISC": "Report",
               "POLICE": "Police"}
ALERT_SEVERITY = {"ACCIDENT": Severity.MODERATE, "ROAD_CLOSED": Severity.MODERATE, "JAM": Severity.MINOR,
                  "WEATHERHAZARD": Severity.MINOR, "HAZARD": Severity.MINOR, "CONSTRUCTION": Severity.MINOR,
                  "MISC": Severity.MINOR, "POLICE": Severity.MINOR}
SUBTYPE_SEVERITY = {
    "ACCIDENT_MAJOR": Severity.SEVERE, "HAZARD_WEATHER_FLOOD": Severity.SEVERE,
    "HAZARD_WEATHER_TORNADO": Severity.SEVERE, "HAZARD_WEATHER_HURRICANE": Severity.SEVERE,
    "HAZARD_WEATHER_MONSOON": Severity.MODERATE, "HAZARD_WEATHER_HEAVY_RAIN": Severity.MODERATE,
    "HAZARD_WEATHER_HAIL": Severity.MODERATE, "HAZARD_WEATHER_FREEZING_RAIN": Severity.MODERATE,
    "HAZARD_ON_ROAD_ICE": Severity.MODERATE, "HAZARD_ON_ROAD_OIL": Severity.MODERATE,
    "HAZARD_ON_ROAD_LANE_CLOSED": Severity.MODERATE, "JAM_STAND_STILL_TRAFFIC": Severity.MODERATE,
}
JAM_FIELDS = ("uuid", "id", "level", "speed", "speedKMH", "delay", "length", "street", "city", "endNode",
              "roadType", "turnType", "type", "blockingAlertUuid", "country")
ALERT_FIELDS = ("uuid", "type", "subtype", "reliability", "confidence", "nThumbsUp", "reportRating",
                "reportDescription", "street", "city", "roadType", "magvar", "country")

_validate_entity = EntityValidator(SOURCE)


class WazeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The partner URL carries a secret token: keep it out of the YAML. Either the whole URL in
    # $url_env, or `url` with a `{token}` placeholder filled from $token_env. A plain `url`
    # (a tokenless test server) is used as it is.
    url: FeedUrl | None = None
    url_env: str = "WAZE_FEED_URL"
    token_env: str = "WAZE_FEED_TOKEN"
    timeout_s: float = Field(20, gt=0, le=300, description="read timeout, seconds")
    max_bytes: int = Field(20_000_000, ge=1_000, le=200_000_000)

    @field_validator("url_env", "token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("must be the name of an environment variable")
        return value


def feed_url(options: WazeOptions) -> tuple[str, str | None]:
    """(URL to fetch, the secret part of it to hide in messages). FetchError when not configured."""
    if options.url is None:
        url = os.environ.get(options.url_env, "").strip()
        if not url:
            raise FetchError(f"waze: no feed URL: set ${options.url_env} to the partner feed URL "
                             "(or `url` in the feed's options)", kind="config")
        if not re.match(r"^https?://[^/\s]+", url):
            raise FetchError(f"waze: ${options.url_env} is not an http:// or https:// URL", kind="config")
        return url, url
    if "{token}" not in options.url:
        return options.url, None
    token = os.environ.get(options.token_env, "").strip()
    if not token:
        raise FetchError(f"waze: no partner token: set ${options.token_env}", kind="config")
    return options.url.replace("{token}", token), token


def fetch(ctx: FeedContext) -> bytes:
    options: WazeOptions = ctx.options
    url, secret = feed_url(options)
    try:
        return fetch_bytes(url, headers={"Accept": "application/json"},
                           timeout=(min(5.0, options.timeout_s), options.timeout_s),
                           max_bytes=options.max_bytes, exchange=ctx.http)
    except FetchError as exc:
        if secret is None:
            raise
        # fetch_bytes drops the query from its messages, but a partner token may sit in the path.
        if secret == url:
            message = str(exc).replace(safe_url(url), f"<${options.url_env}>").replace(secret, "***")
        else:
            message = str(exc).replace(secret, "***")
        raise FetchError(message, exc.kind) from None


def parse(payload: bytes, ctx: FeedContext) -> ParseResult:
    data = load_json_object(payload, "Waze")
    snapshot_at = _snapshot_time(data)
    bounds = city_bounds(ctx.settings)
    rejected: list[Rejection] = []
    events: list[Event] = []
    jam_lengths: list[tuple[dict[str, Any], float]] = []  # (geometry, km) of each kept jam
    seen: set[str] = set()
    for index, item in enumerate(_list(data, "jams")):
        event, km, problem = _jam(item, index, bounds, snapshot_at)
        if event is not None and event.event_id in seen:
            event, problem = None, (event.event_id, "jam listed twice in the payload")
        if problem:
            rejected.append(Rejection(entity_id=problem[0], kind="event:traffic", reason=problem[1]))
            continue
        seen.add(event.event_id)
        events.append(event)
        jam_lengths.append((event.geometry, km))
    for index, item in enumerate(_list(data, "alerts")):
        event, problem = _alert(item, index, bounds, snapshot_at)
        if event is not None and event.event_id in seen:
            event, problem = None, (event.event_id, "alert listed twice in the payload")
        if problem:
            rejected.append(Rejection(entity_id=problem[0], kind="event:traffic", reason=problem[1]))
            continue
        seen.add(event.event_id)
        events.append(event)
    entities, batch = _jam_km(jam_lengths, ctx, snapshot_at)
    return ParseResult(entities=entities, batches=[batch], events=events, rejected=rejected)


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ParseError(f"Waze payload: '{key}' must be a list, got {type(value).__name__}")
    return value


def _snapshot_time(data: dict[str, Any]) -> float:
    millis = data.get("endTimeMillis")
    if isinstance(millis, (int, float)) and not isinstance(millis, bool) and math.isfinite(millis) and millis > 0:
        return millis / 1000
    text = data.get("endTime")
    if isinstance(text, str):
        try:  # "2019-03-22 21:39:00:000" (UTC, milliseconds after a colon)
            return datetime.strptime(text.strip()[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    raise ParseError("Waze payload has no snapshot time (endTimeMillis or endTime): not a Waze CCP feed?")


def _point(value: Any) -> tuple[float, float] | None:
    """(x, y) = (lon, lat) of a Waze {x, y} point, or None."""
    if not isinstance(value, dict):
        return None
    x, y = _number(value.get("x")), _number(value.get("y"))
    return None if x is None or y is None else (x, y)


def _placement(points: list[tuple[float, float]], bounds: Bounds | None) -> str | None:
    """Why these (x, y) points cannot be placed in the city (None when one of them is in it)."""
    if bounds is None or any(inside(y, x, bounds) for x, y in points):
        return None
    return point_problem(points[0][1], points[0][0], bounds)


def _item_id(item: dict[str, Any], kind: str) -> str | None:
    for key in ("uuid", "id"):
        value = item.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int) or (isinstance(value, str) and value.strip()):
            return f"waze:{kind}:{str(value).strip()}"
    return None


def _pub_time(item: dict[str, Any], snapshot_at: float) -> float:
    millis = _number(item.get("pubMillis"))
    return millis / 1000 if millis is not None and millis > 0 else snapshot_at


def _jam(item: Any, index: int, bounds, snapshot_at: float):
    """(event, length km, None) or (None, None, (label, reason))."""
    if not isinstance(item, dict):
        return None, None, (f"jams[{index}]", "jam is not an object")
    event_id = _item_id(item, "jam")
    if event_id is None:
        return None, None, (f"jams[{index}]", "jam has no uuid or id")
    line = item.get("line")
    points = [_point(p) for p in line] if isinstance(line, list) else []
    if len(points) < 2 or None in points:
        return None, None, (event_id, "line is not a list of at least two {x, y} points")
    problem = _placement(points, bounds)
    if problem:
        return None, None, (event_id, problem)
    level = _number(item.get("level"))
    if level is None or level not in JAM_LEVELS:
        return None, None, (event_id, f"level {item.get('level')!r} is not a Waze jam level 0-5")
    level = int(level)
    properties = _properties(item, JAM_FIELDS)
    speed = _number(item.get("speed"))
    if properties.get("speedKMH") is None and speed is not None:
        properties["speedKMH"] = round(speed * 3.6, 2)
    delay = _number(item.get("delay"))
    properties["blocked"] = delay == -1  # Waze's delay for a blocked road
    length_m = _number(item.get("length"))
    if length_m is None or length_m < 0:
        length_m = _line_length_m(points)
        properties["length"], properties["length_estimated"] = round(length_m), True
    properties["level_label"] = JAM_LEVELS[level]
    street = properties.get("street") or "unnamed road"
    observed_at = _pub_time(item, snapshot_at)
    try:
        event = Event(
            event_id=event_id, source=SOURCE, category="traffic", event_type="JAM",
            title=f"Jam, {JAM_LEVELS[level]} ({level}/5): {street}{_in_city(properties)}"[:2000],
            severity=JAM_SEVERITY[level], observed_at=observed_at, starts_at=observed_at,
            geometry={"type": "LineString", "coordinates": [[x, y] for x, y in points]},
            properties=properties,
        )
    except ValidationError as exc:
        return None, None, (event_id[:300], f"jam refused: {exc.errors()[0]['msg']}")
    return event, length_m / 1000, None


def _alert(item: Any, index: int, bounds, snapshot_at: float):
    """(event, None) or (None, (label, reason))."""
    if not isinstance(item, dict):
        return None, (f"alerts[{index}]", "alert is not an object")
    event_id = _item_id(item, "alert")
    if event_id is None:
        return None, (f"alerts[{index}]", "alert has no uuid")
    point = _point(item.get("location"))
    if point is None:
        return None, (event_id, "location is not an {x, y} point")
    problem = _placement([point], bounds)
    if problem:
        return None, (event_id, problem)
    alert_type = item.get("type")
    if not isinstance(alert_type, str) or not alert_type.strip():
        return None, (event_id, "alert has no type")
    alert_type = alert_type.strip().upper()
    properties = _properties(item, ALERT_FIELDS)
    properties["type_known"] = alert_type in ALERT_TYPES
    subtype = properties.get("subtype") if isinstance(properties.get("subtype"), str) else ""
    severity = SUBTYPE_SEVERITY.get(subtype) or ALERT_SEVERITY.get(alert_type, Severity.UNKNOWN)
    label = ALERT_TYPES.get(alert_type, alert_type.replace("_", " ").capitalize())
    detail = subtype.replace("_", " ").lower() if subtype else ""
    where = properties.get("street") or ""
    title = label + (f" ({detail})" if detail else "") + (f": {where}" if where else "") + _in_city(properties)
    observed_at = _pub_time(item, snapshot_at)
    try:
        event = Event(event_id=event_id, source=SOURCE, category="traffic", event_type=alert_type[:200],
                      title=title[:2000], severity=severity, observed_at=observed_at, starts_at=observed_at,
                      geometry={"type": "Point", "coordinates": list(point)}, properties=properties)
    except ValidationError as exc:
        return None, (event_id[:300], f"alert refused: {exc.errors()[0]['msg']}")
    return event, None


def _in_city(properties: dict[str, Any]) -> str:
    return f", {properties['city']}" if isinstance(properties.get("city"), str) and properties["city"] else ""


def _properties(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The source fields worth keeping, when they are plain values."""
    out = {}
    for name in fields:
        value = item.get(name)
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if isinstance(value, (str, int, float, bool)):
            out[name] = value
    return out


def _jam_km(jams: list[tuple[dict[str, Any], float]], ctx: FeedContext, snapshot_at: float):
    """The zone and city entities and one jam_km batch: every zone, then the city."""
    zones = ctx.settings.zones
    km = dict.fromkeys(zones.ids, 0.0)
    for zone_id, (_, length) in zip(zones.assign([anchor_point(g) for g, _ in jams]), jams):
        if zone_id is not None:
            km[zone_id] += length
    entities = [_validate_entity({
        "entity_id": f"waze:zone:{zone_id}", "entity_type": "zone", "name": f"Waze jams, {name}",
        "zone_id": zone_id, "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "properties": {"what": "km of Waze jams whose midpoint is in the zone"},
    }) for zone_id, name, (lon, lat) in zip(zones.ids, zones.names, zones.representative_points)]
    entities.append(_validate_entity({"entity_id": CITY_ID, "entity_type": "city", "name": "Waze jams, city-wide",
                                      "properties": {"what": "km of Waze jams in the city's zones"}}))
    values = [round(km[z], 3) for z in zones.ids]
    values.append(round(sum(values), 3))
    batch = ObservationBatch(source=SOURCE, kind="jam_km", entity_ids=[e.entity_id for e in entities],
                             values=values, observed_at=[snapshot_at] * len(entities))
    return entities, batch


def _line_length_m(points: list[tuple[float, float]]) -> float:
    """Great-circle length of a lon/lat polyline, metres."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:]):
        p1, p2 = math.radians(y1), math.radians(y2)
        dp, dl = p2 - p1, math.radians(x2 - x1)
        a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        total += 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(a)))
    return total


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


FEED = Feed(
    feed_id="waze",
    title="Waze for Cities jams and reports",
    fetch=fetch,
    parse=parse,
    default_interval_s=120,
    options_model=WazeOptions,
    events_snapshot=True,
)
