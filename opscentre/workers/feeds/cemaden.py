"""CEMADEN hydrological stations (feed id `cemaden`): river levels with the station's own stages.

CEMADEN's level sensor service, asked one station at a time,

    GET https://resources.cemaden.gov.br/graficos/cemaden/hidro/resources/json/MedidaResource.php
        ?est=<station id>&sen=20&pag=<hours>

answers a JSON list of hourly readings, all strings:

    [{"codigo": "311830410H", "estacao": "Rio Bananeiras", "cidade": "CONSELHEIRO LAFAIETE", "uf": "MG",
      "datahora": "2024-12-05 00:00:00", "valor": "6.96", "qualificacao": "0000", "offset": "7.714",
      "cota_atencao": "2.55", "cota_alerta": "3.40", "cota_transbordamento": "4.25"}, ...]

Units and meaning (the payload states neither; this is how the public code that reads it
uses it, and the only reading under which the numbers make sense): every figure is in
**metres**. The sensor hangs above the river: `offset` is its height above the channel
bottom and `valor` its distance down to the water, so the level is `offset - valor`
(7.714 - 6.96 = 0.754 m), to compare with the stage levels `cota_atencao` / `cota_alerta` /
`cota_transbordamento` (2.55 / 3.40 / 4.25 m). Reading `valor` as the level would put this
small river 2.7 m over its banks at every reading; centimetres would make the stages 2.5 cm.
A station that reports its level directly can be configured with `level_field: valor`.
`datahora` carries no offset; it is **UTC** (CEMADEN's data service states UTC, and the
public code that stores these readings converts them from UTC) unless `naive_times: local`.

The payload has no coordinates, so each station's position comes from the config
(`stations: {"311830410H": {"est": 6622, "lat": -20.66, "lon": -43.79}}`; `est` is the id
the service is asked with). A reading that carries `latitude` / `longitude` (the PED
service's field names) uses those instead. Each station becomes a `river_station` entity
`cemaden:<codigo>` with `attention_m`, `alert_m`, `overflow_m` (the names every river source
uses) and `river_level_m` from its newest reading; older readings are history, not stored.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opscentre.core.errors import FetchError, ParseError
from opscentre.core.models import EntityValidator, ObservationBatch, ParseResult, Rejection
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.feeds.city_bounds import city_bounds, point_problem
from opscentre.workers.feeds.http import FeedUrl, fetch_bytes

if TYPE_CHECKING:
    from opscentre.core.settings import Settings

SOURCE = "cemaden"
KIND = "river_level_m"
DEFAULT_URL = "https://resources.cemaden.gov.br/graficos/cemaden/hidro/resources/json/MedidaResource.php"
LEVEL_SENSOR = 20
THRESHOLDS = {"cota_atencao": "attention_m", "cota_alerta": "alert_m", "cota_transbordamento": "overflow_m"}

_validate_entity = EntityValidator(SOURCE)


class StationPlace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    est: int | None = Field(None, ge=1, description="the service's station id (the `est` query parameter)")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    name: str | None = None


class CemadenOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: FeedUrl = DEFAULT_URL
    stations: dict[str, StationPlace] = Field(default_factory=dict, description="by station code (`codigo`)")
    hours: int = Field(6, ge=1, le=72, description="readings asked for per station (`pag`)")
    level_field: Literal["offset_minus_valor", "valor"] = "offset_minus_valor"
    naive_times: Literal["utc", "local"] = "utc"
    timeout_s: float = Field(20, gt=0, le=300, description="read timeout, seconds")
    max_bytes: int = Field(2_000_000, ge=1_000, le=50_000_000, description="per station")


    def check(self, settings: Settings) -> list[str]:
        if not self.stations:
            return ["stations: list at least one station (code, est, lat, lon)"]
        problems = [f"stations.{code}: no `est` (the station id to ask the service for)"
                    for code, place in self.stations.items() if place.est is None]
        bounds = city_bounds(settings, margin_deg=0.25)
        for code, place in self.stations.items():
            problem = point_problem(place.lat, place.lon, bounds)
            if problem:
                problems.append(f"stations.{code}: {problem}")
        return problems


def fetch(ctx: FeedContext) -> bytes:
    options: CemadenOptions = ctx.options
    asked = [place.est for place in options.stations.values() if place.est is not None]
    if not asked:
        raise FetchError("cemaden: no station configured (options.stations with `est`)", kind="config")
    readings: list[Any] = []
    for est in asked:  # one request per station: the service has no multi-station query
        body = fetch_bytes(options.url, params={"est": est, "sen": LEVEL_SENSOR, "pag": options.hours},
                           headers={"Accept": "application/json"}, max_bytes=options.max_bytes,
                           timeout=(min(5.0, options.timeout_s), options.timeout_s))
        readings.extend(_load(body))
    return orjson.dumps(readings)


def parse(payload: bytes, ctx: FeedContext) -> ParseResult:
    options: CemadenOptions = ctx.options
    naive_tz = ctx.settings.tz if options.naive_times == "local" else timezone.utc
    bounds = city_bounds(ctx.settings)
    newest: dict[str, tuple[float, dict[str, Any]]] = {}
    rejected: list[Rejection] = []

    def reject(entity_id: str, reason: str) -> None:
        rejected.append(Rejection(entity_id=entity_id, kind=KIND, reason=reason))

    for index, reading in enumerate(_load(payload)):
        if not isinstance(reading, dict):
            reject("cemaden:?", f"reading [{index}] is not an object")
            continue
        code = reading.get("codigo")
        if not isinstance(code, str) or not code.strip():
            reject("cemaden:?", f"reading [{index}] has no station code (codigo)")
            continue
        entity_id = f"cemaden:{code.strip()}"
        observed_at = _time(reading.get("datahora"), naive_tz)
        if observed_at is None:
            reject(entity_id, f"datahora {reading.get('datahora')!r} is not a time")
            continue
        # A 24-hour page holds the same station many times: the newest reading is the level.
        if entity_id not in newest or observed_at > newest[entity_id][0]:
            newest[entity_id] = (observed_at, reading)
    entities, ids, values, times = [], [], [], []
    for entity_id, (observed_at, reading) in sorted(newest.items()):
        code = entity_id.split(":", 1)[1]
        level, problem = _level(reading, options.level_field)
        place = options.stations.get(code)
        lat, lon = _float(reading.get("latitude")), _float(reading.get("longitude"))
        if lat is None or lon is None:
            lat, lon = (place.lat, place.lon) if place else (None, None)
        if problem is None and lat is None:
            problem = f"no position: add station {code} to options.stations (lat, lon)"
        problem = problem or point_problem(lat, lon, bounds)
        thresholds, threshold_problem = _thresholds(reading)
        problem = problem or threshold_problem
        if problem:
            reject(entity_id, problem)
            continue
        name = (place.name if place and place.name else None) or _text(reading.get("estacao")) or code
        try:
            entities.append(_validate_entity({
                "entity_id": entity_id, "entity_type": "river_station", "name": name,
                "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                "properties": {"network": "CEMADEN", "station": code, "city": _text(reading.get("cidade")),
                               "state": _text(reading.get("uf")), "sensor_offset_m": _float(reading.get("offset")),
                               "level_from": options.level_field, **thresholds},
            }))
        except ValidationError as exc:
            reject(entity_id, f"entity refused: {exc.errors()[0]['msg']}")
            continue
        ids.append(entity_id)
        values.append(level)
        times.append(observed_at)
    batch = ObservationBatch(source=SOURCE, kind=KIND, entity_ids=ids, values=values, observed_at=times)
    return ParseResult(entities=entities, batches=[batch] if ids else [], rejected=rejected)


def _load(payload: bytes) -> list[Any]:
    text = payload.strip() if isinstance(payload, (bytes, bytearray)) else b""
    if not text:
        raise ParseError("CEMADEN payload is empty")
    if text[:1] == b"<":
        raise ParseError("CEMADEN payload is an HTML/XML page, not JSON (maintenance page or wrong URL?)")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"CEMADEN payload is not JSON (truncated?): {exc}")
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]  # the PED service wraps its rows
    if not isinstance(data, list):
        raise ParseError(f"CEMADEN payload must be a JSON list of readings, got {type(data).__name__}")
    return data


def _level(reading: dict[str, Any], level_field: str) -> tuple[float | None, str | None]:
    valor = _float(reading.get("valor"))
    if valor is None:
        return None, f"valor {reading.get('valor')!r} is not a number"
    if level_field == "valor":
        return valor, None
    offset = _float(reading.get("offset"))
    if offset is None:
        return None, f"offset {reading.get('offset')!r} is not a number: the level is offset - valor"
    return round(offset - valor, 3), None


def _thresholds(reading: dict[str, Any]) -> tuple[dict[str, float], str | None]:
    """The station's stage levels in metres, keyed attention_m / alert_m / overflow_m."""
    out = {}
    for field, name in THRESHOLDS.items():
        raw = reading.get(field)
        if raw in (None, ""):
            continue  # a station without stage levels still reports its level
        value = _float(raw)
        if value is None:
            return {}, f"{field} {raw!r} is not a number"
        out[name] = value
    given = [out[n] for n in THRESHOLDS.values() if n in out]
    if given != sorted(given):
        return {}, f"stage levels do not rise (attention {out.get('attention_m')}, alert {out.get('alert_m')}, " \
                   f"overflow {out.get('overflow_m')})"
    return out, None


def _time(value: Any, naive_tz) -> float | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=naive_tz)
    return moment.timestamp()


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    text = value.strip().replace(",", ".") if isinstance(value, str) else value
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


FEED = Feed(
    feed_id="cemaden",
    title="CEMADEN river stations",
    fetch=fetch,
    parse=parse,
    default_interval_s=600,
    options_model=CemadenOptions,
)
