"""GTFS-realtime (feed id `gtfs_rt`): vehicle positions, service alerts and trip delays.

An agency publishes up to three protobuf `FeedMessage`s (often at three URLs; some put every
entity in one). Each configured URL is fetched; with one URL the payload is its body as is,
with several it is a small JSON bundle of the bodies,
`{"gtfs_rt_bundle": 1, "parts": {"vehicle_positions": "<base64>", ...}}`. Parse takes either,
and also the proto3-JSON rendering of a FeedMessage (`{"header": ..., "entity": [...]}`), so
`opscentre ingest gtfs_rt FILE` replays a raw `.pb`, a `.pb.json` or a recorded bundle. Every
entity of every part is read, whichever URL it came from:

- VehiclePosition -> an Event (category `vehicle`) `gtfs:vehicle:<vehicle id, else entity id>`
  at its position, with route, trip, label, bearing, speed (m/s), stop status, stop and
  occupancy. A position older than `vehicle_max_age_s` at poll time is rejected (the agency
  still lists a vehicle that stopped reporting). Vehicles have no `ends_at`: if the feed goes
  down, the last positions stay (the map greys a stale feed's layer) until the next snapshot.
- Alert -> an Event (category `transit`) `gtfs:alert:<entity id>`: event type = the effect
  (DETOUR, NO_SERVICE...), title = header_text in `language` (else the untagged or first
  translation), cause, effect, severity, informed routes / stops / agencies / trips,
  description and url; starts_at / ends_at from the active periods. No geometry: stops'
  positions live in the static GTFS, which this feed does not read.
- TripUpdate -> `transit_delay_s` per route (entity `gtfs:route:<route_id>`, no geometry):
  the **mean** (or, with `delay_aggregate: max`, the largest) of the route's trips' current
  delays. A trip's current delay is its `delay` field, else the delay of its first stop-time
  update (the next stop). Trips without a route_id, without any delay (absolute times only:
  the static schedule is not read), cancelled or listed twice are rejected with the reason.

The feed is a snapshot (FULL_DATASET): vehicles and alerts it no longer lists have ended.
DIFFERENTIAL feeds are refused. Unsupported: static GTFS (stop and shape positions, route
names and colours), trip modifications, TripUpdates' absolute times, and conditional GET (the
parts are several URLs polled every few seconds to minutes; most agencies send no validators).
"""

from __future__ import annotations

import base64
import binascii
import math
import os
from statistics import fmean
from typing import TYPE_CHECKING, Any, Literal

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as rt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opscentre.core.errors import FetchError, ParseError
from opscentre.core.models import EntityValidator, Event, ObservationBatch, ParseResult, Rejection, Severity
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.feeds.city_bounds import city_bounds, point_problem
from opscentre.workers.feeds.http import FeedUrl, fetch_bytes

if TYPE_CHECKING:
    from opscentre.core.settings import Settings

SOURCE = "gtfs_rt"
BUNDLE_KEY = "gtfs_rt_bundle"
PARTS = ("vehicle_positions", "service_alerts", "trip_updates")
SEVERITY = {"SEVERE": Severity.SEVERE, "WARNING": Severity.MODERATE, "INFO": Severity.MINOR}
MAX_TITLE = 2000
MAX_DESCRIPTION = 4000

_validate_entity = EntityValidator(SOURCE)


class GtfsRtOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vehicle_positions_url: FeedUrl | None = None
    service_alerts_url: FeedUrl | None = None
    trip_updates_url: FeedUrl | None = None
    api_key_env: str | None = Field(None, description="environment variable holding the agency's API key")
    api_key_header: str | None = Field(None, description="header that carries the key, e.g. x-api-key")
    api_key_prefix: str = Field("", description="text before the key in the header, e.g. 'apikey '")
    api_key_query_param: str | None = Field(None, description="only for agencies that take no header: ?<name>=key")
    language: str | None = Field(None, description="preferred translation of alert texts, e.g. 'en' or 'pt'")
    delay_aggregate: Literal["mean", "max"] = "mean"
    vehicle_max_age_s: int = Field(900, ge=30, le=86400, description="older positions are rejected")
    timeout_s: float = Field(20, gt=0, le=300, description="read timeout, seconds")
    max_bytes: int = Field(20_000_000, ge=1_000, le=200_000_000, description="per URL")

    def urls(self) -> dict[str, str]:
        return {part: url for part in PARTS if (url := getattr(self, f"{part}_url"))}

    def check(self, settings: Settings) -> list[str]:
        problems = []
        if not self.urls():
            problems.append("set at least one of vehicle_positions_url, service_alerts_url, trip_updates_url")
        if self.api_key_env and not (self.api_key_header or self.api_key_query_param):
            problems.append("api_key_env is set but neither api_key_header nor api_key_query_param "
                            "says where to send it")
        if (self.api_key_header or self.api_key_query_param) and not self.api_key_env:
            problems.append("api_key_env must name the environment variable that holds the API key")
        return problems


def fetch(ctx: FeedContext) -> bytes:
    options: GtfsRtOptions = ctx.options
    urls = options.urls()
    if not urls:
        raise FetchError("gtfs_rt: no URL configured (set vehicle_positions_url, service_alerts_url "
                         "or trip_updates_url)", kind="config")
    headers = {"Accept": "application/x-protobuf, application/octet-stream"}
    params = None
    if options.api_key_env:
        key = os.environ.get(options.api_key_env, "").strip()
        if not key:
            raise FetchError(f"gtfs_rt: no API key: set ${options.api_key_env}", kind="config")
        if options.api_key_header:
            headers[options.api_key_header] = options.api_key_prefix + key
        if options.api_key_query_param:
            params = {options.api_key_query_param: key}
    bodies = {}
    # All or nothing: vehicles and alerts are one snapshot, so storing a poll in which the alerts
    # URL failed would end every stored alert. A failed part fails the poll; the last good stays.
    for part, url in urls.items():
        bodies[part] = fetch_bytes(url, params=params, headers=headers, max_bytes=options.max_bytes,
                                   timeout=(min(5.0, options.timeout_s), options.timeout_s))
    if len(bodies) == 1:
        return next(iter(bodies.values()))
    return orjson.dumps({BUNDLE_KEY: 1, "parts": {p: base64.b64encode(b).decode("ascii") for p, b in bodies.items()}})


def parse(payload: bytes, ctx: FeedContext) -> ParseResult:
    options: GtfsRtOptions = ctx.options
    reader = _Reader(options, city_bounds(ctx.settings), ctx.now.timestamp())
    for part, message in _messages(payload):
        reader.read(part, message)
    return reader.result()


# ---- reading the payload --------------------------------------------------------------


def _messages(payload: bytes) -> list[tuple[str, rt.FeedMessage]]:
    """(part name, FeedMessage) for a raw protobuf, a proto3-JSON rendering or a bundle."""
    if not isinstance(payload, (bytes, bytearray)) or not payload.strip():
        raise ParseError("GTFS-realtime payload is empty")
    payload = bytes(payload)
    # Binary may start with whitespace bytes (0x0a is the header's tag), so text is only sniffed.
    text_head = payload.lstrip()[:1]
    if text_head in (b"{", b"["):
        try:
            return _from_json(orjson.loads(payload))
        except orjson.JSONDecodeError:
            pass  # binary that happens to start like JSON, or truncated JSON: protobuf decides
    try:
        return [("feed", _protobuf(payload, "payload"))]
    except ParseError:
        if text_head == b"<":
            raise ParseError("GTFS-realtime payload is an HTML/XML page, not protobuf "
                             "(maintenance page or wrong URL?)") from None
        if text_head in (b"{", b"["):
            raise ParseError("GTFS-realtime payload is neither protobuf nor complete JSON (truncated?)") from None
        raise


def _from_json(document: Any) -> list[tuple[str, rt.FeedMessage]]:
    if isinstance(document, dict) and BUNDLE_KEY in document:
        parts = document.get("parts")
        if not isinstance(parts, dict) or not parts:
            raise ParseError("GTFS-realtime bundle has no 'parts' object")
        messages = []
        for part, encoded in parts.items():
            try:
                body = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else None
            except (binascii.Error, ValueError):
                body = None
            if body is None:
                raise ParseError(f"GTFS-realtime bundle part {part!r} is not base64 text")
            if not body:
                raise ParseError(f"GTFS-realtime bundle part {part!r} is empty")
            messages.append((str(part), _protobuf(body, f"part {part!r}")))
        return messages
    if isinstance(document, dict) and "header" in document:
        message = rt.FeedMessage()
        try:
            json_format.ParseDict(document, message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise ParseError(f"GTFS-realtime JSON rendering does not match FeedMessage: {exc}")
        return [("feed", _checked(message, "payload"))]
    raise ParseError("GTFS-realtime payload is JSON but neither a FeedMessage rendering nor a bundle "
                     "(is the URL the agency's JSON API rather than its GTFS-rt feed?)")


def _protobuf(body: bytes, what: str) -> rt.FeedMessage:
    message = rt.FeedMessage()
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise ParseError(f"GTFS-realtime {what} is not a protobuf FeedMessage (truncated or another format): {exc}")
    return _checked(message, what)


def _checked(message: rt.FeedMessage, what: str) -> rt.FeedMessage:
    # Protobuf decodes many byte strings without complaint; a real FeedMessage has its header.
    if not message.HasField("header") or not message.header.gtfs_realtime_version:
        raise ParseError(f"GTFS-realtime {what} is not a FeedMessage (no header with gtfs_realtime_version)")
    if message.header.incrementality == rt.FeedHeader.DIFFERENTIAL:
        raise ParseError(f"GTFS-realtime {what} is DIFFERENTIAL; only FULL_DATASET feeds are supported")
    _repair_text(message)
    return message


def _repair_text(message: Any) -> None:
    """A string field that is not UTF-8 (a corrupt byte: protobuf does not check proto2 strings)
    comes back as bytes, which no text code here expects (an event's JSON, sorting routes):
    such a string is read with U+FFFD in place of its bad bytes (found by `drill fuzz`)."""
    for descriptor, value in message.ListFields():
        if descriptor.is_extension:
            continue
        if descriptor.type == descriptor.TYPE_MESSAGE:
            for item in value if descriptor.is_repeated else (value,):
                _repair_text(item)
        elif descriptor.type == descriptor.TYPE_STRING:
            if descriptor.is_repeated:
                for i, item in enumerate(value):
                    if isinstance(item, bytes):
                        value[i] = item.decode("utf-8", "replace")
            elif isinstance(value, bytes):
                setattr(message, descriptor.name, value.decode("utf-8", "replace"))


class _Reader:
    """Collects events, delays and rejections over the messages of one payload."""

    def __init__(self, options: GtfsRtOptions, bounds, now: float):
        self.options, self.bounds, self.now = options, bounds, now
        self.events: list[Event] = []
        self.rejected: list[Rejection] = []
        self.delays: dict[str, list[tuple[float, float]]] = {}  # route -> [(delay s, observed_at)]
        self.trips_seen: set[str] = set()

    def reject(self, entity_id: str, kind: str, reason: str) -> None:
        self.rejected.append(Rejection(entity_id=entity_id, kind=kind, reason=reason))

    def add_event(self, **fields: Any) -> None:
        try:
            self.events.append(Event(source=SOURCE, **fields))
        except ValidationError as exc:
            error = exc.errors()[0]
            self.reject(str(fields["event_id"])[:300], f"event:{fields['category']}",
                        f"event refused: {_dotted(error['loc'])}: {error['msg']}")

    def read(self, part: str, message: rt.FeedMessage) -> None:
        header_ts = float(message.header.timestamp) if message.header.timestamp else None
        for index, entity in enumerate(message.entity):
            if entity.is_deleted:
                continue
            label = entity.id or f"{part}[{index}]"
            found = False
            for field, read in (("vehicle", self.vehicle), ("alert", self.alert), ("trip_update", self.trip_update)):
                if entity.HasField(field):
                    found = True
                    read(entity, getattr(entity, field), header_ts)
            if not found:
                self.reject(f"gtfs:entity:{label}", "?", "entity carries no vehicle, alert or trip update "
                            "(another entity type, not read)")

    def vehicle(self, entity: rt.FeedEntity, vp: rt.VehiclePosition, header_ts: float | None) -> None:
        vehicle_id = (vp.vehicle.id if vp.HasField("vehicle") else "") or entity.id
        if not vehicle_id:
            self.reject("gtfs:vehicle:?", "event:vehicle", "vehicle has no vehicle id and no entity id")
            return
        event_id = f"gtfs:vehicle:{vehicle_id}"
        if not vp.HasField("position"):
            self.reject(event_id, "event:vehicle", "vehicle has no position")
            return
        lat, lon = float(vp.position.latitude), float(vp.position.longitude)
        problem = point_problem(lat, lon, self.bounds)
        if problem:
            self.reject(event_id, "event:vehicle", problem)
            return
        observed_at = float(vp.timestamp) if vp.timestamp else header_ts or self.now
        if observed_at + self.options.vehicle_max_age_s <= self.now:
            age_min = (self.now - observed_at) / 60
            self.reject(event_id, "event:vehicle", f"position is {age_min:.0f} min old (vehicle_max_age_s "
                        f"{self.options.vehicle_max_age_s}): the vehicle has stopped reporting")
            return
        route_id = vp.trip.route_id or None
        label = vp.vehicle.label or None
        position = vp.position
        properties = {
            "route_id": route_id,
            "trip_id": vp.trip.trip_id or None,
            "direction_id": vp.trip.direction_id if vp.trip.HasField("direction_id") else None,
            "vehicle_id": vp.vehicle.id or None,
            "label": label,
            "bearing": _finite(position.bearing) if position.HasField("bearing") else None,
            "speed_ms": _finite(position.speed) if position.HasField("speed") else None,
            "current_status": _name(rt.VehiclePosition.VehicleStopStatus, vp.current_status)
            if vp.HasField("current_status") else None,
            "stop_id": vp.stop_id or None,
            "occupancy": _name(rt.VehiclePosition.OccupancyStatus, vp.occupancy_status)
            if vp.HasField("occupancy_status") else None,
        }
        title = f"Route {route_id} · vehicle {label or vehicle_id}" if route_id else f"Vehicle {label or vehicle_id}"
        self.add_event(
            event_id=event_id, category="vehicle", event_type="vehicle", title=title,
            observed_at=observed_at,
            geometry={"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]}, properties=properties,
        )

    def alert(self, entity: rt.FeedEntity, alert: rt.Alert, header_ts: float | None) -> None:
        if not entity.id:
            self.reject("gtfs:alert:?", "event:transit", "service alert has no entity id")
            return
        effect = _name(rt.Alert.Effect, alert.effect) if alert.HasField("effect") else "UNKNOWN_EFFECT"
        cause = _name(rt.Alert.Cause, alert.cause) if alert.HasField("cause") else "UNKNOWN_CAUSE"
        severity = _name(rt.Alert.SeverityLevel, alert.severity_level) if alert.HasField("severity_level") else None
        informed = alert.informed_entity
        starts, ends = [], []
        for period in alert.active_period:
            starts.append(float(period.start) if period.start else None)
            ends.append(float(period.end) if period.end else None)
        title = _text(alert.header_text, self.options.language) or effect.replace("_", " ").capitalize()
        self.add_event(
            event_id=f"gtfs:alert:{entity.id}", category="transit", event_type=effect,
            title=title[:MAX_TITLE], severity=SEVERITY.get(severity or "", Severity.UNKNOWN),
            observed_at=header_ts or self.now,
            # Open-ended when any period is: a period without start began long ago, one without end lasts.
            starts_at=None if not starts or None in starts else min(starts),
            ends_at=None if not ends or None in ends else max(ends),
            properties={
                "cause": cause,
                "effect": effect,
                "severity_level": severity,
                "routes": _unique(e.route_id for e in informed),
                "stops": _unique(e.stop_id for e in informed),
                "agencies": _unique(e.agency_id for e in informed),
                "trips": _unique(e.trip.trip_id for e in informed if e.HasField("trip")),
                "description": (_text(alert.description_text, self.options.language) or "")[:MAX_DESCRIPTION] or None,
                "url": _text(alert.url, self.options.language),
            },
        )

    def trip_update(self, entity: rt.FeedEntity, update: rt.TripUpdate, header_ts: float | None) -> None:
        trip_id = update.trip.trip_id or entity.id
        route_id = update.trip.route_id
        label = f"gtfs:route:{route_id}" if route_id else f"gtfs:trip:{trip_id or '?'}"
        if not route_id:
            self.reject(label, "transit_delay_s", "trip update has no route_id (the static GTFS is not read)")
            return
        if update.trip.schedule_relationship == rt.TripDescriptor.CANCELED:
            self.reject(label, "transit_delay_s", f"trip {trip_id} is cancelled: no delay to report")
            return
        key = f"{trip_id}|{update.trip.start_date}"
        if key in self.trips_seen:
            self.reject(label, "transit_delay_s", f"trip {trip_id} appears twice in the payload")
            return
        self.trips_seen.add(key)
        delay = _current_delay(update)
        if delay is None:
            self.reject(label, "transit_delay_s", f"trip {trip_id} has no delay (only absolute times; "
                        "the static schedule is not read)")
            return
        observed_at = float(update.timestamp) if update.timestamp else header_ts or self.now
        self.delays.setdefault(route_id, []).append((float(delay), observed_at))

    def result(self) -> ParseResult:
        entities, ids, values, times = [], [], [], []
        aggregate = max if self.options.delay_aggregate == "max" else fmean
        for route_id, delays in sorted(self.delays.items()):
            entity_id = f"gtfs:route:{route_id}"
            try:
                entities.append(_validate_entity({
                    "entity_id": entity_id, "entity_type": "transit_route", "name": f"Route {route_id}",
                    "properties": {"route_id": route_id, "delay_aggregate": self.options.delay_aggregate},
                }))
            except ValidationError as exc:
                self.reject(entity_id, "transit_delay_s", f"entity refused: {exc.errors()[0]['msg']}")
                continue
            ids.append(entity_id)
            values.append(float(aggregate(d for d, _ in delays)))
            times.append(max(t for _, t in delays))
        batches = [ObservationBatch(source=SOURCE, kind="transit_delay_s", entity_ids=ids, values=values,
                                    observed_at=times)] if ids else []
        return ParseResult(entities=entities, batches=batches, events=self.events, rejected=self.rejected)


def _current_delay(update: rt.TripUpdate) -> int | None:
    if update.HasField("delay"):
        return update.delay
    for stop in update.stop_time_update:
        for event in ("arrival", "departure"):
            if stop.HasField(event) and getattr(stop, event).HasField("delay"):
                return getattr(stop, event).delay
    return None


def _text(translated: rt.TranslatedString, language: str | None) -> str | None:
    """The translation in `language`, else the untagged one, else the first; None when empty."""
    translations = [t for t in translated.translation if t.text.strip()]
    if not translations:
        return None
    wanted = (language or "").lower()
    for match in (lambda t: wanted and t.language.lower().split("-")[0] == wanted.split("-")[0],
                  lambda t: not t.language):
        chosen = next((t for t in translations if match(t)), None)
        if chosen is not None:
            return chosen.text.strip()
    return translations[0].text.strip()


def _dotted(loc: tuple) -> str:
    return ".".join(str(part) for part in loc)


def _name(enum: Any, value: int) -> str:
    try:
        return enum.Name(value)
    except ValueError:
        return f"UNKNOWN_{value}"


def _finite(value: float) -> float | None:
    return round(float(value), 2) if math.isfinite(value) else None


def _unique(values: Any) -> list[str]:
    return sorted({v for v in values if v})


FEED = Feed(
    feed_id="gtfs_rt",
    title="Transit (GTFS-realtime)",
    fetch=fetch,
    parse=parse,
    default_interval_s=30,
    options_model=GtfsRtOptions,
    events_snapshot=True,
)
