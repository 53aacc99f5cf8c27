"""A utility's outage map as GeoJSON (feed id `outages_geojson`): current outages, as events.

Utilities publish a FeatureCollection of Point or Polygon features, one per outage, each
utility with its own property names, which the options map:

    customers_field  "CustomersAffected"  customers without power (required; a number or a
                                          numeric string, >= 0)
    cause_field      "Cause"              optional
    start_field      "StartTime"          optional; ISO 8601 or UNIX seconds / milliseconds;
                                          a time without an offset is the city's local time
    id_field         none                 optional; without it an outage's id is a stable hash
                                          of its geometry and start time

Each outage becomes an `outage` event `outages:<id>` (properties customers, cause, and every
other plain property the source gives, a feeder / substation under those lower-case keys),
starting and observed at its start time (observed at the poll's time when it has none). Every
payload is the full current picture (events_snapshot): an outage no longer listed has been restored.

Observations, at the poll's time: `outage_customers` per zone (entity `outages:zone:<zone id>`),
for every zone each poll, 0 when it has no outage, so a restored outage brings its zone back to
0. An outage counts in the zone holding its point (a polygon's representative point), or the
nearest zone within ~1 km; one outside every zone is kept as an event but counted nowhere.

Rejected with a reason: features that are not objects, without a usable Point / Polygon /
MultiPolygon geometry, wholly outside the city's bounds (plus ~5 km, city_bounds.py) or with
lon/lat swapped, without a customer count, with a start time that cannot be read, and a second
feature with the same id. Other geometry types (lines) are not supported.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opscentre.core.errors import ParseError
from opscentre.core.geo import anchor_point
from opscentre.core.models import Entity, EntityValidator, Event, ObservationBatch, ParseResult, Rejection, Severity
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.feeds.city_bounds import Bounds, city_bounds, inside, point_problem
from opscentre.workers.feeds.http import FeedUrl, fetch_bytes
from opscentre.workers.feeds.payloads import load_json_object

SOURCE = "outages_geojson"
GEOMETRY_TYPES = ("Point", "Polygon", "MultiPolygon")
# Severity by customers affected (lower bounds).
SEVERITY_BY_CUSTOMERS = ((5000, Severity.SEVERE), (500, Severity.MODERATE), (0, Severity.MINOR))
PROPERTY_TEXT_MAX = 200
MAX_TIME_S = 253_402_300_799  # 9999-12-31T23:59:59Z: a start time past it is not a time

_validate_entity = EntityValidator(SOURCE)


class OutagesOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: FeedUrl = Field(description="the utility's outage GeoJSON")
    customers_field: str = "CustomersAffected"
    cause_field: str = "Cause"
    start_field: str = "StartTime"
    id_field: str | None = None
    utility: str = Field("", description="the utility's name, shown with each outage")
    timeout_s: float = Field(20, gt=0, le=300, description="read timeout, seconds")
    max_bytes: int = Field(20_000_000, ge=1_000, le=200_000_000)



def fetch(ctx: FeedContext) -> bytes:
    options: OutagesOptions = ctx.options
    return fetch_bytes(options.url, headers={"Accept": "application/geo+json, application/json"},
                       timeout=(min(5.0, options.timeout_s), options.timeout_s),
                       max_bytes=options.max_bytes, exchange=ctx.http)


def parse(payload: bytes, ctx: FeedContext) -> ParseResult:
    options: OutagesOptions = ctx.options
    data = load_json_object(payload, "Outage GeoJSON")
    features = data.get("features")
    if data.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise ParseError("Outage GeoJSON payload is not a FeatureCollection with a 'features' list")
    now = ctx.now.timestamp()
    bounds = city_bounds(ctx.settings)
    events: list[Event] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        event, problem = _outage(feature, index, options, ctx.settings.tz, bounds, now)
        if event is not None and event.event_id in seen:
            event, problem = None, (event.event_id, "outage listed twice in the payload")
        if problem:
            rejected.append(Rejection(entity_id=problem[0], kind="event:outage", reason=problem[1]))
            continue
        seen.add(event.event_id)
        events.append(event)
    entities, batch = _customers_by_zone(events, ctx, now)
    return ParseResult(entities=entities, batches=[batch], events=events, rejected=rejected)


def _outage(feature: Any, index: int, options: OutagesOptions, tz: ZoneInfo, bounds, now: float):
    """(event, None) or (None, (label, reason))."""
    label = f"features[{index}]"
    if not isinstance(feature, dict):
        return None, (label, "feature is not an object")
    properties = feature.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    geometry, problem = _geometry(feature.get("geometry"), bounds)
    given_id = _text(properties.get(options.id_field)) if options.id_field else None
    if given_id:
        label = f"outages:{given_id}"
    if problem:
        return None, (label, problem)
    start, problem = _start(properties.get(options.start_field), options.start_field, tz)
    if problem:
        return None, (label, problem)
    event_id = f"outages:{given_id}" if given_id else _hashed_id(geometry, start)
    customers = _count(properties.get(options.customers_field))
    if customers is None:
        shown = properties.get(options.customers_field)
        return None, (event_id, f"{options.customers_field} {shown!r} is not a customer count")
    cause = _text(properties.get(options.cause_field))
    kept = {_key(k): v for k, v in properties.items()
            if k not in (options.customers_field, options.cause_field, options.start_field)
            and isinstance(v, (str, int, float, bool)) and not (isinstance(v, float) and not math.isfinite(v))
            and not (isinstance(v, str) and (not v.strip() or len(v) > PROPERTY_TEXT_MAX))}
    where = " ".join(f"{k} {kept[k]}" for k in ("substation", "feeder") if k in kept)
    title = f"Power outage: {customers:g} customers" + (f" ({cause})" if cause else "")
    title += f", {where}" if where else ""
    try:
        event = Event(
            event_id=event_id, source=SOURCE, category="outage", event_type="outage", title=title[:2000],
            severity=next(s for bound, s in SEVERITY_BY_CUSTOMERS if customers >= bound),
            observed_at=start if start is not None else now, starts_at=start, geometry=geometry,
            properties={**kept, "customers": customers, "cause": cause, "utility": options.utility or None,
                        "start_known": start is not None},
        )
    except ValidationError as exc:
        return None, (event_id[:300], f"outage refused: {exc.errors()[0]['msg']}")
    return event, None


def _key(name: str) -> str:
    """Feeder / substation under one spelling, whatever the utility calls them; others as given."""
    return name.lower() if name.lower() in ("feeder", "substation") else name


def _geometry(value: Any, bounds: Bounds | None) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        kind = value.get("type") if isinstance(value, dict) else None
        return None, f"geometry {kind!r} is not a Point, Polygon or MultiPolygon" if kind else "feature has no geometry"
    coordinates = value.get("coordinates")
    points = list(_points(coordinates, {"Point": 0, "Polygon": 2, "MultiPolygon": 3}[value["type"]]))
    if not points or None in points:
        return None, f"{value['type']} coordinates are not [lon, lat] numbers"
    if bounds is not None and not any(inside(y, x, bounds) for x, y in points):
        problem = point_problem(points[0][1], points[0][0], bounds) or "outside the city"
        return None, problem + " (GeoJSON is [lon, lat])"
    geometry = {"type": value["type"], "coordinates": coordinates}
    try:  # what the zone join reads: a ring of 2 positions, or 4 numbers to a position, is no shape
        anchor_point(geometry)
    except (ValueError, TypeError) as exc:
        return None, f"{value['type']} is not a valid shape: {str(exc)[:100]}"
    return geometry, None


def _points(node: Any, depth: int):
    """The (lon, lat) positions of GeoJSON coordinates nested `depth` lists deep (None if malformed)."""
    if depth == 0:
        if isinstance(node, list) and len(node) >= 2:
            x, y = _number(node[0]), _number(node[1])
            if x is not None and y is not None:
                yield (x, y)
                return
        yield None
        return
    if not isinstance(node, list) or not node:
        yield None
        return
    for child in node:
        yield from _points(child, depth - 1)


def _start(value: Any, field: str, tz: ZoneInfo) -> tuple[float | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    number = _number(value)
    if number is not None:  # UNIX seconds, or milliseconds (as ArcGIS exports give)
        seconds = number / 1000 if number > 1e11 else number
        if abs(seconds) > MAX_TIME_S:  # not a time (a hashed id could not even be built from it)
            return None, f"{field} {value!r} is not a time"
        return seconds, None
    if not isinstance(value, str):
        return None, f"{field} {value!r} is not a time"
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        return None, f"{field} {value!r} is not an ISO 8601 time"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)  # naive = the city's local time
    return moment.timestamp(), None


def _hashed_id(geometry: dict[str, Any], start: float | None) -> str:
    """Stable across polls while the outage's place and start time do not change."""
    shape = orjson.dumps({"t": geometry["type"], "c": _rounded(geometry["coordinates"]),
                          "s": None if start is None else round(start)})
    return f"outages:{hashlib.blake2b(shape, digest_size=8).hexdigest()}"


def _rounded(node: Any) -> Any:
    return round(float(node), 6) if not isinstance(node, list) else [_rounded(n) for n in node]


def _customers_by_zone(events: list[Event], ctx: FeedContext, now: float) -> tuple[list[Entity], ObservationBatch]:
    zones = ctx.settings.zones
    totals = dict.fromkeys(zones.ids, 0.0)
    for zone_id, event in zip(zones.assign([anchor_point(e.geometry) for e in events]), events):
        if zone_id is not None:
            totals[zone_id] += event.properties["customers"]
    entities = [_validate_entity({
        "entity_id": f"outages:zone:{zone_id}", "entity_type": "zone", "name": f"Customers without power, {name}",
        "zone_id": zone_id, "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "properties": {"what": "customers affected by the outages whose point is in the zone"},
    }) for zone_id, name, (lon, lat) in zip(zones.ids, zones.names, zones.representative_points)]
    batch = ObservationBatch(source=SOURCE, kind="outage_customers", entity_ids=[e.entity_id for e in entities],
                             values=[totals[z] for z in zones.ids], observed_at=[now] * len(entities))
    return entities, batch


def _count(value: Any) -> float | None:
    number = _number(value)
    if number is None and isinstance(value, str):
        try:
            number = float(value.strip().replace(",", ""))  # "1,234"
        except ValueError:
            return None
    if number is None or not math.isfinite(number) or number < 0:
        return None
    return int(number) if number.is_integer() else number


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = str(value).strip()
    return text[:PROPERTY_TEXT_MAX] or None


FEED = Feed(
    feed_id="outages_geojson",
    title="Utility outages (GeoJSON)",
    fetch=fetch,
    parse=parse,
    default_interval_s=300,
    options_model=OutagesOptions,
    events_snapshot=True,
)
