"""CAP warnings (feed id `cap`): OASIS Common Alerting Protocol 1.1 / 1.2 XML from any agency.

The payload is one `<alert>` (namespace `urn:oasis:names:tc:emergency:cap:1.2` or `:1.1`; an
alert without a namespace is read as 1.2), or an Atom / RSS document whose entries *embed*
`<alert>` elements. Entries that only link to their CAP message are not followed (that would
take one fetch per entry): point `url` at a CAP message, or at a feed that embeds them.

XML is read with defusedxml: a DTD, entity declarations (billion laughs) and external
entities are refused whole (ParseError).

Each `<info>` block becomes one warning `Event`: event id = the alert's `identifier` for the
first info, `identifier#n` for the n-th info after it (its position in the message, so ids are
stable). When a message carries its text in several languages (one info per language), only
one language is kept: the `language` option (matched on the primary subtag: "pt" matches
"pt-BR"), else the language of the first info; the others are listed in `other_languages`.

Areas: `<polygon>` is "lat,lon lat,lon ..." (latitude first, unlike GeoJSON) -> a lon/lat
polygon. `<circle>` "lat,lon radius_km" -> a 64-vertex polygon round on the ground (an
approximation: see cap/areas.py); a radius of 0 (an epicentre) stays a Point. All areas of an
info are merged into one geometry.
`<geocode>` pairs are kept in `properties.geocodes` ({valueName: [values]}); an area with
only geocodes has no geometry (zone_ids stay empty).

Times: `sent` -> observed_at, onset (else effective, else sent) -> starts_at, expires -> ends_at;
an info without `<expires>` ends `default_lifetime_h` (24 h) after it was sent, so a warning
whose sender never cancels it does not stay on the wall for good. A time without an offset is
read as the city's local time.

msgType Update and Cancel reference earlier messages (`<references>`: "sender,identifier,sent"
triples separated by whitespace): the referenced events end (an Update's own infos replace
them); a Cancel is `cancelled`. Because a referenced message may have had several infos, each
reference also names `identifier#1` .. `identifier#{MAX_INFOS - 1}`.

Rejected with a reason (the rest of a feed document is kept): status other than Actual
(Test, Exercise, System, Draft), msgType Ack / Error, scope other than Public (this data is
drawn on the public map), a missing identifier / sent / event, a bad time or area, an area
wholly outside the city (or one that lies inside once lat and lon are swapped).
"""

from __future__ import annotations

import re
from datetime import timezone, tzinfo
from typing import Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XmlSyntaxError

import defusedxml
import orjson
import shapely
from defusedxml import ElementTree as SafeElementTree
from pydantic import BaseModel, ConfigDict, Field, field_validator

from opscentre.core.errors import FetchError, ParseError
from opscentre.core.models import Event, EventCategory, ParseResult, Rejection
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.feeds.cap.areas import (OUTSIDE_CITY, cap_circle, cap_polygon, city_bounds,
                                               is_skip, outside_city)
from opscentre.workers.feeds.cap.vocabulary import (DEFAULT_LANGUAGE, KIND, MAX_DESCRIPTION, MAX_INFOS,
                                                    MAX_INSTRUCTION, MAX_TITLE, MESSAGE_TYPES, choose_infos,
                                                    clean_text, clip, compact, expand_references, iso,
                                                    message_type_problem, one_line, parse_time, reference_ids,
                                                    severity_of, status_problem)
from opscentre.workers.feeds.http import FeedUrl, fetch_bytes

SOURCE = "cap"
CAP_NAMESPACES = {"urn:oasis:names:tc:emergency:cap:1.2": "1.2", "urn:oasis:names:tc:emergency:cap:1.1": "1.1"}
CAP_10_NAMESPACE = "http://www.incident.com/cap/1.0"
FEED_ROOTS = {"{http://www.w3.org/2005/Atom}feed", "rss", "{http://purl.org/rss/1.0/}RDF",
              "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF"}
ENTRY_TAGS = {"{http://www.w3.org/2005/Atom}entry", "item", "{http://purl.org/rss/1.0/}item"}


class CapOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: FeedUrl | None = Field(None, description="a CAP message, or an Atom/RSS feed that embeds CAP alerts")
    language: str | None = Field(None, description="preferred <language>, e.g. pt-BR (default: the first info's)")
    default_lifetime_h: float = Field(24, gt=0, le=24 * 30,
                                      description="an info without <expires> ends this long after it was sent")
    timeout_s: float = Field(20, gt=0, le=300, description="read timeout, seconds")
    max_bytes: int = Field(5_000_000, ge=1_000, le=100_000_000)

    @field_validator("language")
    @classmethod
    def _language_tag(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*", value):
            raise ValueError("language must be a language tag such as pt-BR or en")
        return value


def fetch(ctx: FeedContext) -> bytes:
    options: CapOptions = ctx.options
    if not options.url:
        raise FetchError("cap: no url configured: set feeds.cap.options.url", kind="config")
    return fetch_bytes(
        options.url,
        headers={"Accept": "application/cap+xml, application/xml;q=0.9, text/xml;q=0.9, "
                           "application/atom+xml;q=0.8, application/rss+xml;q=0.8"},
        timeout=(min(5.0, options.timeout_s), options.timeout_s),
        max_bytes=options.max_bytes,
        exchange=ctx.http,
    )


def parse(payload: bytes, ctx: FeedContext | None = None) -> ParseResult:
    alerts = _alerts(_load(payload))
    tz = ctx.settings.tz if ctx is not None else timezone.utc
    bounds = city_bounds(ctx)
    options = ctx.options if ctx is not None and isinstance(ctx.options, CapOptions) else CapOptions()
    events: list[Event] = []
    rejected: list[Rejection] = []
    for alert in alerts:
        _read_alert(alert, tz, bounds, options, events, rejected)
    return ParseResult(events=events, rejected=rejected)


# ---- the document ----------------------------------------------------------------------


def _load(payload: bytes) -> Element:
    text = payload.strip() if isinstance(payload, (bytes, bytearray)) else b""
    if not text:
        raise ParseError("CAP payload is empty")
    head = text[:200].lower()
    if head[:1] in (b"{", b"["):
        raise ParseError("CAP payload is JSON, not CAP XML (wrong URL?)")
    if head.startswith(b"<!doctype html") or b"<html" in head:
        raise ParseError("CAP payload is an HTML page, not CAP XML (maintenance page or wrong URL?)")
    try:
        return SafeElementTree.fromstring(bytes(text), forbid_dtd=True, forbid_entities=True,
                                          forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise ParseError(f"CAP payload refused: hostile or unsupported XML ({type(exc).__name__}: a DTD, "
                         f"entity declarations or external references are not accepted)")
    except XmlSyntaxError as exc:
        raise ParseError(f"CAP payload is not well-formed XML (truncated?): {exc}")
    except LookupError as exc:  # <?xml encoding="..."?> names an encoding Python does not know
        raise ParseError(f"CAP payload declares an unknown encoding: {exc}")


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _is_alert(element: Element) -> bool:
    return element.tag.rsplit("}", 1)[-1] == "alert" and (
        _namespace(element.tag) in CAP_NAMESPACES or _namespace(element.tag) == "")


def _alerts(root: Element) -> list[Element]:
    if _is_alert(root):
        return [root]
    if root.tag.rsplit("}", 1)[-1] == "alert" and _namespace(root.tag) == CAP_10_NAMESPACE:
        raise ParseError("CAP 1.0 is not supported (only CAP 1.1 and 1.2)")
    if root.tag in FEED_ROOTS:
        alerts = [e for e in root.iter() if e is not root and _is_alert(e)]
        entries = [e for e in root.iter() if e.tag in ENTRY_TAGS]
        if entries and not alerts:
            raise ParseError(f"the feed has {len(entries)} entries but none embeds a CAP <alert>; entries that "
                             f"only link to CAP messages are not followed (point url at a CAP message)")
        return alerts
    raise ParseError(f"root element <{root.tag}> is not a CAP 1.1/1.2 <alert> (nor an Atom/RSS feed of them)")


class _Reader:
    """Child lookups in the alert's own namespace (1.1, 1.2, or none)."""

    def __init__(self, alert: Element):
        ns = _namespace(alert.tag)
        self.prefix = f"{{{ns}}}" if ns else ""

    def all(self, element: Element, name: str) -> list[Element]:
        return element.findall(self.prefix + name)

    def text(self, element: Element, name: str) -> str | None:
        child = element.find(self.prefix + name)
        if child is None or child.text is None:
            return None
        value = child.text.strip()
        return value or None

    def texts(self, element: Element, name: str) -> list[str]:
        return [c.text.strip() for c in self.all(element, name) if c.text and c.text.strip()]

    def pairs(self, element: Element, name: str) -> dict[str, list[str]]:
        """valueName/value pairs (geocode, parameter, eventCode) as {valueName: [values]}."""
        out: dict[str, list[str]] = {}
        for pair in self.all(element, name):
            key, value = self.text(pair, "valueName"), self.text(pair, "value")
            if key and value:
                out.setdefault(key, []).append(value)
        return out


# ---- one alert ---------------------------------------------------------------------------


def _read_alert(alert: Element, tz: tzinfo, bounds: tuple[float, float, float, float] | None,
                options: CapOptions, events: list[Event], rejected: list[Rejection]) -> None:
    cap = _Reader(alert)
    identifier = cap.text(alert, "identifier")
    if not identifier:
        rejected.append(Rejection(entity_id="?", kind=KIND, reason="alert has no <identifier>"))
        return
    if len(identifier) > 280:
        rejected.append(Rejection(entity_id=identifier[:280], kind=KIND,
                                  reason="identifier longer than 280 characters"))
        return

    def reject(reason: str, event_id: str = identifier) -> None:
        rejected.append(Rejection(entity_id=event_id, kind=KIND, reason=reason, skipped=is_skip(reason)))

    status = cap.text(alert, "status") or ""
    problem = status_problem(status)
    if problem:
        return reject(problem)
    msg_type = (cap.text(alert, "msgType") or "").lower()
    if msg_type not in MESSAGE_TYPES:
        return reject(message_type_problem(cap.text(alert, "msgType")))
    scope = cap.text(alert, "scope") or "Public"
    if scope.lower() != "public":
        return reject(f"scope {scope!r}: only Public alerts are drawn on the (public) map")
    sent, problem = parse_time(cap.text(alert, "sent"), tz, "sent")
    if problem:
        return reject(problem)
    references = expand_references(reference_ids(cap.text(alert, "references")))
    cancelled = msg_type == "cancel"
    infos = cap.all(alert, "info")
    base = {
        "sender": cap.text(alert, "sender"),
        "message_type": msg_type.capitalize(),
        "status": status,
        "scope": scope,
        "cap_version": CAP_NAMESPACES.get(_namespace(alert.tag), "1.2"),
        "identifier": identifier,
        "sent": iso(sent),
        "note": clip(cap.text(alert, "note"), 500),
        "incidents": cap.text(alert, "incidents"),
    }
    if not infos:
        if cancelled and references:
            events.append(Event(event_id=identifier, source=SOURCE, category=EventCategory.WARNING,
                                event_type="Cancel", title="Cancel", observed_at=sent, references=references,
                                cancelled=True, properties=compact(base)))
        else:
            reject("alert has no <info> block")
        return
    chosen, others = choose_infos([cap.text(i, "language") or DEFAULT_LANGUAGE for i in infos], options.language)
    lifetime_s = options.default_lifetime_h * 3600
    base["other_languages"] = others
    for index in chosen:
        event_id = identifier if index == 0 else f"{identifier}#{index}"
        if index >= MAX_INFOS:
            reject(f"more than {MAX_INFOS} <info> blocks in one message", event_id)
            continue
        event, problem = _info_event(cap, infos[index], event_id, sent, tz, bounds, base, references, cancelled,
                                     lifetime_s)
        if problem:
            reject(problem, event_id)
            if references and problem == OUTSIDE_CITY:
                # an update that moves the warning away from the city ends what it replaces here
                events.append(Event(event_id=event_id, source=SOURCE, category=EventCategory.WARNING,
                                    event_type="Moved away", observed_at=sent, references=references,
                                    cancelled=True, properties=compact(base)))
            continue
        events.append(event)


def _info_event(cap: _Reader, info: Element, event_id: str, sent: float, tz: tzinfo,
                bounds: tuple[float, float, float, float] | None, base: dict[str, Any],
                references: list[str], cancelled: bool, lifetime_s: float) -> tuple[Event | None, str | None]:
    event_type = cap.text(info, "event")
    if not event_type:
        return None, "info has no <event>"
    times = {}
    for name in ("effective", "onset", "expires"):
        times[name], problem = parse_time(cap.text(info, name), tz, name, required=False)
        if problem:
            return None, problem
    geometry, area_desc, geocodes, problem = _areas(cap, info)
    if problem and not cancelled:  # a Cancel needs no area to end what it references
        return None, problem
    if geometry is not None and bounds is not None and not cancelled:
        problem = outside_city(geometry, bounds)
        if problem:
            return None, problem
    severity, raw_severity = severity_of(cap.text(info, "severity"))
    headline = one_line(cap.text(info, "headline"))
    properties = {
        **base,
        "language": cap.text(info, "language") or DEFAULT_LANGUAGE,
        "categories": cap.texts(info, "category"),
        "urgency": cap.text(info, "urgency"),
        "certainty": cap.text(info, "certainty"),
        "severity_source": raw_severity,
        "response_types": cap.texts(info, "responseType"),
        "sender_name": one_line(cap.text(info, "senderName")),
        "headline": headline,
        "description": clean_text(cap.text(info, "description"), MAX_DESCRIPTION),
        "instruction": clean_text(cap.text(info, "instruction"), MAX_INSTRUCTION),
        "web": cap.text(info, "web"),
        "contact": one_line(cap.text(info, "contact")),
        "event_codes": cap.pairs(info, "eventCode"),
        "parameters": cap.pairs(info, "parameter"),
        "area_desc": area_desc,
        "geocodes": geocodes,
        "effective": iso(times["effective"]),
        "onset": iso(times["onset"]),
        "expires": iso(times["expires"]),
    }
    event = Event(
        event_id=event_id,
        source=SOURCE,
        category=EventCategory.WARNING,
        event_type=one_line(event_type)[:200],
        title=(headline or one_line(event_type))[:MAX_TITLE],
        severity=severity,
        observed_at=sent,
        starts_at=times["onset"] if times["onset"] is not None else (times["effective"] or sent),
        ends_at=times["expires"] if times["expires"] is not None else sent + lifetime_s,
        geometry=geometry,
        references=references,
        cancelled=cancelled,
        properties=compact(properties),
    )
    return event, None


def _areas(cap: _Reader, info: Element) -> tuple[dict[str, Any] | None, str | None, dict[str, list[str]], str | None]:
    """(GeoJSON geometry of every polygon and circle, area descriptions, geocodes, problem)."""
    shapes: list[Any] = []
    descriptions: list[str] = []
    geocodes: dict[str, list[str]] = {}
    for area in cap.all(info, "area"):
        desc = one_line(cap.text(area, "areaDesc"))
        if desc:
            descriptions.append(desc)
        for key, values in cap.pairs(area, "geocode").items():
            geocodes.setdefault(key, []).extend(v for v in values if v not in geocodes.get(key, []))
        for text in cap.texts(area, "polygon"):  # an empty <polygon></polygon> (NWS) is no polygon
            polygon, problem = cap_polygon(text)
            if problem:
                return None, None, {}, problem
            shapes.append(polygon)
        for text in cap.texts(area, "circle"):
            circle, problem = cap_circle(text)
            if problem:
                return None, None, {}, problem
            shapes.append(circle)
    geometry = None
    if shapes:
        merged = shapes[0] if len(shapes) == 1 else shapely.union_all(shapes)
        geometry = orjson.loads(shapely.to_geojson(merged))
    return geometry, "; ".join(descriptions) or None, geocodes, None


FEED = Feed(
    feed_id="cap",
    title="CAP warnings",
    fetch=fetch,
    parse=parse,
    default_interval_s=120,
    options_model=CapOptions,
    events_snapshot=False,
)
