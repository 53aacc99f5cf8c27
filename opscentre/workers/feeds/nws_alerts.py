"""NWS alerts (feed id `nws_alerts`): the US National Weather Service's active alerts API.

`GET https://api.weather.gov/alerts/active?area=XX|zone=ORZ004,...|point=lat,lon` with
`Accept: application/geo+json` answers a GeoJSON FeatureCollection; each feature's properties
carry CAP fields (id, event, severity, urgency, certainty, sent/effective/onset/expires/ends,
headline, description, instruction, areaDesc, geocode {UGC, SAME}, messageType, references,
status). api.weather.gov refuses requests without a User-Agent and asks for a contact in it:
set `user_agent` (e.g. "opscentre (ops.mycity.gov, ops@mycity.gov)"). It sends ETag /
Last-Modified, so polls are conditional (a 304 keeps the stored warnings).

One warning `Event` per alert: event_id = the alert id, starts_at = onset or effective,
ends_at = ends or expires. Most zone-based alerts have no geometry (`null`): they keep their
UGC / SAME geocodes and areaDesc in properties and get no zone ids. A polygon wholly outside
the city (or inside it only once lat/lon are swapped) is rejected with the reason. An Update
or Cancel lists the ids it references; a Cancel is `cancelled`. The endpoint lists every
current alert, so the feed is a snapshot (`events_snapshot=True`): alerts it no longer lists
have ended. Alerts whose status is not Actual (Test, Exercise, System, Draft) are skipped.
"""

from __future__ import annotations

import re
from datetime import timezone
from typing import Any

import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import shape

from opscentre.core.errors import ParseError
from opscentre.core.models import Event, EventCategory, ParseResult, Rejection
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.feeds.cap.areas import city_bounds, is_skip, outside_city
from opscentre.workers.feeds.cap.vocabulary import (KIND, MAX_DESCRIPTION, MAX_INSTRUCTION, MAX_TITLE, clean_text,
                                                    iso, message_type_problem, parse_time, severity_of,
                                                    status_problem)
from opscentre.workers.feeds.http import FeedUrl, USER_AGENT, fetch_bytes
from opscentre.workers.feeds.payloads import load_json_object

SOURCE = "nws_alerts"
DEFAULT_URL = "https://api.weather.gov/alerts/active"
AREA_GEOMETRIES = {"Polygon", "MultiPolygon"}


class NwsAlertsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: FeedUrl = DEFAULT_URL
    area: str | None = Field(None, description="state / territory / marine area code, e.g. OR")
    zone: list[str] | None = Field(None, description="forecast or county zone ids, e.g. [ORZ004, ORC051]")
    point: str | None = Field(None, description="'lat,lon': the alerts in force at that point")
    user_agent: str = Field(f"{USER_AGENT} (no contact configured)", min_length=3, max_length=300,
                            description="api.weather.gov requires a User-Agent; put a contact in it")
    timeout_s: float = Field(20, gt=0, le=300, description="read timeout, seconds")
    max_bytes: int = Field(10_000_000, ge=1_000, le=100_000_000)


    @field_validator("area")
    @classmethod
    def _area_code(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError("area must be a two-letter code such as OR or PZ")
        return None if value is None else value.upper()

    @field_validator("zone")
    @classmethod
    def _zone_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value or any(not re.fullmatch(r"[A-Za-z]{2}[CZcz]\d{3}", z) for z in value):
            raise ValueError("zone must list zone ids such as ORZ004 or ORC051")
        return [z.upper() for z in value]

    @field_validator("point")
    @classmethod
    def _lat_lon(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*", value)
        if not match or not (-90 <= float(match[1]) <= 90 and -180 <= float(match[2]) <= 180):
            raise ValueError("point must be 'lat,lon', e.g. 45.52,-122.68")
        return f"{float(match[1]):.4f},{float(match[2]):.4f}"

    @field_validator("user_agent")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(c in value for c in "\r\n"):
            raise ValueError("user_agent must be one line")
        return value

    @model_validator(mode="after")
    def _one_selector(self) -> NwsAlertsOptions:
        if sum(x is not None for x in (self.area, self.zone, self.point)) > 1:
            raise ValueError("set at most one of area, zone and point (the API does not combine them)")
        return self

    def params(self) -> dict[str, str]:
        if self.area:
            return {"area": self.area}
        if self.zone:
            return {"zone": ",".join(self.zone)}
        if self.point:
            return {"point": self.point}
        return {}


def fetch(ctx: FeedContext) -> bytes:
    options: NwsAlertsOptions = ctx.options
    return fetch_bytes(
        options.url,
        params=options.params(),
        headers={"Accept": "application/geo+json", "User-Agent": options.user_agent},
        timeout=(min(5.0, options.timeout_s), options.timeout_s),
        max_bytes=options.max_bytes,
        exchange=ctx.http,
    )


def parse(payload: bytes, ctx: FeedContext | None = None) -> ParseResult:
    data = load_json_object(payload, "NWS alerts")
    features = data.get("features")
    if not isinstance(features, list):
        # api.weather.gov explains its errors as application/problem+json: say what it said
        detail = data.get("detail") or data.get("title")
        said = f" (the API says: {str(detail)[:200]})" if detail else ""
        raise ParseError(f"NWS alerts payload has no 'features' list{said}")
    tz = ctx.settings.tz if ctx is not None else timezone.utc
    bounds = city_bounds(ctx)
    events: list[Event] = []
    rejected: list[Rejection] = []
    for index, feature in enumerate(features):
        event, problem = _alert(feature, tz, bounds)
        if problem:
            alert_id = _alert_id(feature) or f"features[{index}]"
            rejected.append(Rejection(entity_id=alert_id, kind=KIND, reason=problem, skipped=is_skip(problem)))
        else:
            events.append(event)
    return ParseResult(events=events, rejected=rejected)


def _alert_id(feature: Any) -> str | None:
    props = feature.get("properties") if isinstance(feature, dict) else None
    alert_id = props.get("id") if isinstance(props, dict) else None
    return alert_id.strip()[:280] if isinstance(alert_id, str) and alert_id.strip() else None


def _alert(feature: Any, tz, bounds) -> tuple[Event | None, str | None]:
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        return None, "feature is not an object with properties"
    props = feature["properties"]
    alert_id = _alert_id(feature)
    if alert_id is None:
        return None, "alert has no id"
    problem = status_problem(props.get("status"))
    if problem:
        return None, problem
    msg_type = props.get("messageType")
    if not isinstance(msg_type, str) or msg_type.lower() not in ("alert", "update", "cancel"):
        return None, message_type_problem(msg_type)
    event_type = props.get("event")
    if not isinstance(event_type, str) or not event_type.strip():
        return None, "alert has no event"
    times = {}
    for name in ("sent", "effective", "onset", "expires", "ends"):
        times[name], problem = parse_time(props.get(name), tz, name, required=False)
        if problem:
            return None, problem
    observed_at = times["sent"] if times["sent"] is not None else times["effective"]
    if observed_at is None:
        return None, "alert has neither sent nor effective time"
    geometry, problem = _geometry(feature.get("geometry"), bounds)
    if problem:
        return None, problem
    severity, raw_severity = severity_of(props.get("severity"))
    headline = _text(props.get("headline"))
    parameters = props.get("parameters") if isinstance(props.get("parameters"), dict) else {}
    properties = {
        "urgency": _text(props.get("urgency")),
        "certainty": _text(props.get("certainty")),
        "severity_source": raw_severity,
        "category": _text(props.get("category")),
        "response": _text(props.get("response")),
        "area_desc": _text(props.get("areaDesc")),
        "geocodes": _geocodes(props.get("geocode")),
        "sender": _text(props.get("sender")),
        "sender_name": _text(props.get("senderName")),
        "message_type": msg_type.capitalize(),
        "status": props["status"],
        "headline": headline,
        "nws_headline": _first(parameters.get("NWSheadline")),
        "vtec": _first(parameters.get("VTEC")),
        "description": clean_text(_text(props.get("description"), multiline=True), MAX_DESCRIPTION),
        "instruction": clean_text(_text(props.get("instruction"), multiline=True), MAX_INSTRUCTION),
        "web": _text(props.get("@id")) or _text(feature.get("id")),
        **{name: iso(times[name]) for name in ("sent", "effective", "onset", "expires", "ends")},
    }
    start = times["onset"] if times["onset"] is not None else times["effective"]
    end = times["ends"] if times["ends"] is not None else times["expires"]
    event = Event(
        event_id=alert_id,
        source=SOURCE,
        category=EventCategory.WARNING,
        event_type=" ".join(event_type.split())[:200],
        title=(headline or " ".join(event_type.split()))[:MAX_TITLE],
        severity=severity,
        observed_at=observed_at,
        starts_at=start,
        ends_at=end,
        geometry=geometry,
        references=_references(props.get("references")),
        cancelled=msg_type.lower() == "cancel",
        properties={k: v for k, v in properties.items() if v not in (None, [], {})},
    )
    return event, None


def _geometry(geometry: Any, bounds) -> tuple[dict[str, Any] | None, str | None]:
    if geometry is None:
        return None, None
    if not isinstance(geometry, dict) or geometry.get("type") not in AREA_GEOMETRIES:
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        return None, f"geometry {kind!r} is not a Polygon or MultiPolygon"
    try:
        area = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException):
        return None, "geometry is not valid GeoJSON"
    if area.is_empty:
        return None, None
    lon_min, lat_min, lon_max, lat_max = area.bounds
    if not (-180 <= lon_min <= lon_max <= 180 and -90 <= lat_min <= lat_max <= 90):
        return None, "geometry has coordinates outside lon -180..180 / lat -90..90 (swapped?)"
    if bounds is not None:
        problem = outside_city(geometry, bounds)
        if problem:
            return None, problem
    return geometry, None


def _references(value: Any) -> list[str]:
    ids = []
    for ref in value if isinstance(value, list) else ():
        identifier = ref.get("identifier") if isinstance(ref, dict) else ref
        if isinstance(identifier, str) and identifier.strip() and identifier.strip() not in ids:
            ids.append(identifier.strip())
    return ids


def _geocodes(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        return {}
    return {str(k): [str(v) for v in values if isinstance(v, (str, int))]
            for k, values in value.items() if isinstance(values, list)}


def _text(value: Any, multiline: bool = False) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip() if multiline else " ".join(value.split())


def _first(value: Any) -> str | None:
    return _text(value[0]) if isinstance(value, list) and value else _text(value)


FEED = Feed(
    feed_id="nws_alerts",
    title="NWS alerts (api.weather.gov)",
    fetch=fetch,
    parse=parse,
    default_interval_s=120,
    options_model=NwsAlertsOptions,
    events_snapshot=True,
)
