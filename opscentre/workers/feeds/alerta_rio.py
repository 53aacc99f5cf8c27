"""Alerta Rio rain gauges (feed id `alerta_rio`): GEO-RIO's 33 telemetric stations.

`GET https://websempre.rio.rj.gov.br/json/chuvas` answers (shape documented from public code;
no real response was found publicly):

    {"objects": [{"kind": "pluviometric", "read_at": "...", "name": "Vidigal", "is_new": false,
                  "location": [lat, lon],
                  "data": {"m05": .., "m15": .., "h01": .., "h02": .., "h03": .., "h04": ..,
                           "h24": .., "h96": .., "mes": ..}}]}

Each pluviometric object becomes a `rain_gauge` entity `alerta-rio:<slug of the name>` and up
to four readings: m15 -> rain_mm, h01 -> rain_1h_mm, h24 -> rain_24h_mm, h96 -> rain_96h_mm.
Values may be numbers or numeric strings; null / "ND" (no data) rejects that reading only.
`read_at` is ISO 8601; without an offset it is the city's local time (America/Sao_Paulo).
A station whose location is swapped or outside the city has all its readings rejected (and
is not registered: the registry keeps an entity's first location, and its zone, for good).
A payload that is not a JSON object with an `objects` list is refused whole (ParseError).
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opscentre.core.errors import ParseError
from opscentre.core.models import Entity, EntityValidator, ObservationBatch, ParseResult, Rejection
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.feeds.http import FeedUrl, fetch_bytes
from opscentre.workers.feeds.payloads import load_json_object

SOURCE = "alerta_rio"
DEFAULT_URL = "https://websempre.rio.rj.gov.br/json/chuvas"
DEFAULT_TZ = "America/Sao_Paulo"
# (min lon, min lat, max lon, max lat) of the municipality, used when parse runs without a city.
RIO_BOUNDS = (-43.80, -23.09, -43.09, -22.74)
BOUNDS_MARGIN_DEG = 0.05  # ~5 km: a gauge on the city's edge is still the city's
# Source field -> observation kind.
READINGS = {"m15": "rain_mm", "h01": "rain_1h_mm", "h24": "rain_24h_mm", "h96": "rain_96h_mm"}
NO_DATA = {"nd", "n/d", "-", "--", ""}

_validate_entity = EntityValidator(SOURCE)


class AlertaRioOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: FeedUrl = DEFAULT_URL
    timeout_s: float = Field(20, gt=0, le=300, description="read timeout, seconds")
    max_bytes: int = Field(5_000_000, ge=1_000, le=100_000_000)



def fetch(ctx: FeedContext) -> bytes:
    options: AlertaRioOptions = ctx.options
    return fetch_bytes(
        options.url,
        headers={"Accept": "application/json"},
        timeout=(min(5.0, options.timeout_s), options.timeout_s),
        max_bytes=options.max_bytes,
        exchange=ctx.http,
    )


def parse(payload: bytes, ctx: FeedContext | None = None) -> ParseResult:
    objects = _load(payload)
    tz = ctx.settings.tz if ctx is not None else ZoneInfo(DEFAULT_TZ)
    bounds = _bounds(ctx)
    entities: list[Entity] = []
    columns: dict[str, tuple[list[str], list[float], list[float]]] = {k: ([], [], []) for k in READINGS.values()}
    rejected: list[Rejection] = []
    seen: set[str] = set()
    for index, item in enumerate(objects):
        if not isinstance(item, dict):
            rejected.append(Rejection(entity_id="?", kind="?", reason=f"objects[{index}] is not an object"))
            continue
        kind = item.get("kind")
        if kind != "pluviometric":
            name = item.get("name")
            label = station_id(name) if isinstance(name, str) and slug(name) else "?"
            rejected.append(Rejection(entity_id=label, kind="?", reason=f"unknown object kind {kind!r}, skipped"))
            continue
        name = item.get("name")
        if not isinstance(name, str) or not slug(name):
            rejected.append(Rejection(entity_id="?", kind="?", reason=f"objects[{index}] has no station name"))
            continue
        entity_id = station_id(name)

        def reject_all(reason: str) -> None:
            rejected.extend(Rejection(entity_id=entity_id, kind=k, reason=reason) for k in READINGS.values())

        if entity_id in seen:
            reject_all(f"station {name!r} appears twice in the payload")
            continue
        seen.add(entity_id)
        point, problem = _location(item.get("location"), bounds)
        if problem:
            reject_all(problem)
            continue
        observed_at, problem = _observed_at(item.get("read_at"), tz)
        if problem:
            reject_all(problem)
            continue
        data = item.get("data")
        if not isinstance(data, dict):
            reject_all("station has no 'data' object")
            continue
        try:
            entity = _validate_entity({
                "entity_id": entity_id,
                "entity_type": "rain_gauge",
                "name": name.strip(),
                "geometry": {"type": "Point", "coordinates": [point[1], point[0]]},
                "properties": {"network": "Alerta Rio", "station": name.strip()},
            })
        except ValidationError as exc:
            reject_all(f"entity refused: {exc.errors()[0]['msg']}")
            continue
        entities.append(entity)
        for field, obs_kind in READINGS.items():
            value, problem = _number(data.get(field), field)
            if problem:
                rejected.append(Rejection(entity_id=entity_id, kind=obs_kind, reason=problem))
                continue
            ids, values, times = columns[obs_kind]
            ids.append(entity_id)
            values.append(value)
            times.append(observed_at)
    batches = [
        ObservationBatch(source=SOURCE, kind=kind, entity_ids=ids, values=values, observed_at=times)
        for kind, (ids, values, times) in columns.items()
        if ids
    ]
    return ParseResult(entities=entities, batches=batches, rejected=rejected)


def slug(name: str) -> str:
    """'Jacarepaguá/Tanque' -> 'jacarepagua-tanque' (ASCII, lower case, stable)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def station_id(name: str) -> str:
    return f"alerta-rio:{slug(name)}"


def _load(payload: bytes) -> list[Any]:
    data = load_json_object(payload, "Alerta Rio")
    objects = data.get("objects")
    if not isinstance(objects, list):
        raise ParseError("Alerta Rio payload has no 'objects' list")
    return objects


def _bounds(ctx: FeedContext | None) -> tuple[float, float, float, float]:
    if ctx is not None:
        try:
            min_lon, min_lat, max_lon, max_lat = ctx.settings.zones.bounds
        except (ValueError, KeyError, OSError, AttributeError):
            min_lon, min_lat, max_lon, max_lat = RIO_BOUNDS
    else:
        min_lon, min_lat, max_lon, max_lat = RIO_BOUNDS
    m = BOUNDS_MARGIN_DEG
    return (min_lon - m, min_lat - m, max_lon + m, max_lat + m)


def _inside(lat: float, lon: float, bounds: tuple[float, float, float, float]) -> bool:
    min_lon, min_lat, max_lon, max_lat = bounds
    return min_lat <= lat <= max_lat and min_lon <= lon <= max_lon


def _location(value: Any, bounds: tuple[float, float, float, float]) -> tuple[tuple[float, float] | None, str | None]:
    """(lat, lon) from the documented [lat, lon], or the reason it cannot be used."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None, "location is not a [lat, lon] pair"
    coords = []
    for part in value:
        number, problem = _number(part, "location")
        if problem:
            return None, "location is not a [lat, lon] pair of numbers"
        coords.append(number)
    lat, lon = coords
    if _inside(lat, lon, bounds):
        return (lat, lon), None
    if _inside(lon, lat, bounds):
        return None, f"location {list(value)} looks swapped ([lon, lat]; expected [lat, lon])"
    return None, f"location {list(value)} is outside the city"


def _observed_at(value: Any, tz: ZoneInfo) -> tuple[float | None, str | None]:
    if not isinstance(value, str) or not value.strip():
        return None, "read_at is missing"
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        return None, f"read_at {value!r} is not an ISO 8601 time"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)  # naive = the city's local time
    return moment.timestamp(), None


def _number(value: Any, field: str) -> tuple[float | None, str | None]:
    if value is None:
        return None, f"{field}: no data (null)"
    if isinstance(value, bool):
        return None, f"{field}: {value!r} is not a number"
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in NO_DATA:
            return None, f"{field}: no data ({value!r})"
        if "," in text and "." not in text:
            text = text.replace(",", ".")  # a Brazilian decimal comma
        try:
            number = float(text)
        except ValueError:
            return None, f"{field}: {value!r} is not a number"
    else:
        return None, f"{field}: {type(value).__name__} is not a number"
    if not math.isfinite(number):
        return None, f"{field}: {value!r} is not a finite number"
    return number, None


FEED = Feed(
    feed_id="alerta_rio",
    title="Alerta Rio rain gauges",
    fetch=fetch,
    parse=parse,
    default_interval_s=300,
    options_model=AlertaRioOptions,
)
