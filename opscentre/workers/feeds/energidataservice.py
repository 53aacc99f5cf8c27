"""Energinet's Energi Data Service (feed id `energidataservice`): the grid's production mix and
CO2 intensity per Danish price area. No key.

`GET https://api.energidataservice.dk/dataset/<dataset>?start=now-PT1H&filter={"PriceArea":["DK2"]}
&sort=Minutes5UTC DESC&limit=100` answers `{"total", "limit", "dataset", "records": [...]}`, one
record per area and 5 minutes (`Minutes5UTC` is a naive UTC time):

- `ElectricityProdex5MinRealtime`: one MW column per source (ProductionLt100MW, ProductionGe100MW,
  OffshoreWindPower, OnshoreWindPower, SolarPower, Exchange*, BornholmSE4) -> `power_mw` on
  entity `energidataservice:<area>:<source>`. Exchanges are positive for import into the area
  (DK1's Great Belt export is DK2's import of the same size). null = no such link in the area:
  skipped, not rejected.
- `CO2Emis`: `CO2Emission` (g/kWh) -> `grid_co2_g_kwh` on entity `energidataservice:<area>`.

Only the newest record of each configured area is kept (the API's history is not replayed);
records of other areas are not this city's and are skipped. Grid areas have no geometry and no
zone. The fetch asks for each dataset in `datasets` and keeps their answers together as
`{"responses": [<answer>, ...]}`; `opscentre ingest energidataservice FILE` takes that or one raw
answer. Columns not listed in COLUMNS (added to the dataset later) are ignored.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opscentre.core.errors import ParseError
from opscentre.core.models import EntityValidator, ObservationBatch, ParseResult, Rejection
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.feeds.http import fetch_bytes
from opscentre.workers.feeds.payloads import load_json_object

SOURCE = "energidataservice"
DEFAULT_URL = "https://api.energidataservice.dk"
PRODUCTION = "ElectricityProdex5MinRealtime"
CO2 = "CO2Emis"
TIME_FIELD = "Minutes5UTC"
# Production/exchange column -> (entity id suffix, label)
COLUMNS = {
    "ProductionLt100MW": ("production_lt_100mw", "production, units under 100 MW"),
    "ProductionGe100MW": ("production_ge_100mw", "production, units of 100 MW or more"),
    "OffshoreWindPower": ("offshore_wind", "offshore wind"),
    "OnshoreWindPower": ("onshore_wind", "onshore wind"),
    "SolarPower": ("solar", "solar"),
    "ExchangeGreatBelt": ("exchange_great_belt", "exchange over the Great Belt (DK1-DK2)"),
    "ExchangeGermany": ("exchange_germany", "exchange with Germany"),
    "ExchangeNetherlands": ("exchange_netherlands", "exchange with the Netherlands"),
    "ExchangeGreatBritain": ("exchange_great_britain", "exchange with Great Britain"),
    "ExchangeNorway": ("exchange_norway", "exchange with Norway"),
    "ExchangeSweden": ("exchange_sweden", "exchange with Sweden"),
    "BornholmSE4": ("exchange_bornholm_se4", "exchange between Bornholm and Sweden (SE4)"),
}
CO2_FIELD = "CO2Emission"

_validate_entity = EntityValidator(SOURCE)


class EnergiDataServiceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(DEFAULT_URL, description="API base; the dataset name is appended as /dataset/<name>")
    price_areas: list[str] = Field(default_factory=lambda: ["DK2"], min_length=1, description="DK2: Copenhagen")
    datasets: list[Literal["ElectricityProdex5MinRealtime", "CO2Emis"]] = Field(
        default_factory=lambda: [PRODUCTION], min_length=1)
    start: str = Field("now-PT1H", description="the API's `start`: a time, or now/StartOfDay with an ISO 8601 offset")
    limit: int = Field(100, ge=1, le=10_000, description="records per dataset (newest first)")
    timeout_s: float = Field(20, gt=0, le=300, description="read timeout, seconds")
    max_bytes: int = Field(5_000_000, ge=1_000, le=100_000_000)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s?]+(/[^\s?]*)?$", value):
            raise ValueError("url must be an http:// or https:// URL without a query")
        return value.rstrip("/")

    @field_validator("price_areas")
    @classmethod
    def _areas(cls, value: list[str]) -> list[str]:
        areas = [a.strip().upper() for a in value]
        bad = [a for a in areas if not re.fullmatch(r"[A-Z]{2}[0-9]?", a)]
        if bad:
            raise ValueError(f"price areas look like DK1, DK2: not {', '.join(map(repr, bad))}")
        return list(dict.fromkeys(areas))

    @field_validator("datasets")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9:+\-.]+", value.strip()):
            raise ValueError("start is a time (2025-02-21T19:00) or e.g. now-PT1H, StartOfDay")
        return value.strip()


def fetch(ctx: FeedContext) -> bytes:
    options: EnergiDataServiceOptions = ctx.options
    responses = []
    for dataset in options.datasets:
        body = fetch_bytes(
            f"{options.url}/dataset/{dataset}",
            params={"start": options.start, "filter": orjson.dumps({"PriceArea": options.price_areas}).decode(),
                    "sort": f"{TIME_FIELD} DESC", "limit": options.limit},
            headers={"Accept": "application/json"},
            timeout=(min(5.0, options.timeout_s), options.timeout_s),
            max_bytes=options.max_bytes,
        )
        try:
            responses.append(load_json_object(body, f"Energi Data Service {dataset}"))
        except ParseError as exc:
            responses.append({"dataset": dataset, "error": str(exc)})
    return orjson.dumps({"responses": responses})


def parse(payload: bytes, ctx: FeedContext) -> ParseResult:
    data = load_json_object(payload, "Energi Data Service")
    options = ctx.options if isinstance(ctx.options, EnergiDataServiceOptions) else EnergiDataServiceOptions()
    out = ParseResult()
    columns: dict[str, tuple[list[str], list[float], list[float]]] = {"power_mw": ([], [], []),
                                                                      "grid_co2_g_kwh": ([], [], [])}
    if "responses" not in data:
        _response(data, options, out, columns)
    else:
        responses = data["responses"]
        if not isinstance(responses, list) or not responses:
            raise ParseError("Energi Data Service payload has no 'responses' list")
        errors = []
        for n, response in enumerate(responses):
            try:
                _response(response, options, out, columns)
            except ParseError as exc:
                errors.append(str(exc))
                out.rejected.append(Rejection(entity_id=f"{SOURCE}:?", kind="*", reason=f"responses[{n}]: {exc}"))
        if len(errors) == len(responses):
            raise ParseError(errors[0])
    out.batches = [ObservationBatch(source=SOURCE, kind=kind, entity_ids=ids, values=values, observed_at=times)
                   for kind, (ids, values, times) in columns.items() if ids]
    return out


def _response(response: Any, options: EnergiDataServiceOptions, out: ParseResult,
              columns: dict[str, tuple[list[str], list[float], list[float]]]) -> None:
    """One dataset's answer: the newest record of each configured area. ParseError if unusable."""
    if not isinstance(response, dict):
        raise ParseError(f"an answer must be a JSON object, got {type(response).__name__}")
    records = response.get("records")
    if not isinstance(records, list) and set(response) == {"dataset", "error"}:  # the fetch's note
        raise ParseError(f"{response['dataset']} could not be read: {response['error']}")
    if not isinstance(records, list):
        message = response.get("message") or response.get("error") or response.get("title")
        raise ParseError("Energi Data Service answer has no 'records' list"
                         + (f" (it says: {str(message)[:200]})" if message else ""))
    dataset = response.get("dataset", options.datasets[0] if len(options.datasets) == 1 else None)
    if dataset not in (PRODUCTION, CO2):
        raise ParseError(f"unsupported dataset {dataset!r} (supported: {PRODUCTION}, {CO2})")
    kind = "power_mw" if dataset == PRODUCTION else "grid_co2_g_kwh"

    newest: dict[str, tuple[float, dict[str, Any]]] = {}
    copies: dict[tuple[str, float], int] = {}
    for n, record in enumerate(records):
        area = record.get("PriceArea") if isinstance(record, dict) else None
        if not isinstance(area, str):
            out.rejected.append(Rejection(entity_id=f"{SOURCE}:?", kind=kind,
                                          reason=f"{dataset} records[{n}] has no PriceArea"))
            continue
        area = area.strip().upper()
        if area not in options.price_areas:
            continue  # another area than this city's
        observed_at, problem = _time(record.get(TIME_FIELD))
        if problem:
            out.rejected.append(Rejection(entity_id=f"{SOURCE}:{area}", kind=kind, reason=f"{dataset} records[{n}]: {problem}"))
            continue
        copies[(area, observed_at)] = copies.get((area, observed_at), 0) + 1
        if area not in newest or observed_at > newest[area][0]:
            newest[area] = (observed_at, record)
    for area in options.price_areas:
        if area not in newest:
            out.rejected.append(Rejection(entity_id=f"{SOURCE}:{area}", kind=kind,
                                          reason=f"no {dataset} record for price area {area} in the answer"))
            continue
        observed_at, record = newest[area]
        if copies[(area, observed_at)] > 1:
            out.rejected.append(Rejection(entity_id=f"{SOURCE}:{area}", kind=kind, reason=(
                f"{copies[(area, observed_at)]} {dataset} records for {area} at {record.get(TIME_FIELD)}: the first is kept")))
        fields = COLUMNS if dataset == PRODUCTION else {CO2_FIELD: (None, "grid CO2 intensity")}
        for column, (suffix, label) in fields.items():
            entity_id = f"{SOURCE}:{area}:{suffix}" if suffix else f"{SOURCE}:{area}"
            value = record.get(column)
            if value is None and dataset == PRODUCTION:
                continue  # no such source or link in this area
            if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
                out.rejected.append(Rejection(entity_id=entity_id, kind=kind,
                                              reason=f"{column}: {value!r} is not a number"))
                continue
            try:
                out.entities.append(_validate_entity({
                    "entity_id": entity_id, "entity_type": "grid_area", "name": f"{area} {label}",
                    "properties": {"price_area": area, "dataset": dataset, "column": column,
                                   "unit": "MW" if kind == "power_mw" else "g/kWh",
                                   **({"sign": "positive = import into the area"}
                                      if column.startswith("Exchange") or column == "BornholmSE4" else {})},
                }))
            except ValidationError as exc:
                out.rejected.append(Rejection(entity_id=entity_id, kind=kind,
                                              reason=f"entity refused: {exc.errors()[0]['msg']}"))
                continue
            ids, values, times = columns[kind]
            ids.append(entity_id)
            values.append(float(value))
            times.append(observed_at)


def _time(value: Any) -> tuple[float | None, str | None]:
    """A `Minutes5UTC` time: ISO 8601, naive = UTC."""
    if not isinstance(value, str) or not value.strip():
        return None, f"{TIME_FIELD} is missing"
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None, f"{TIME_FIELD} {value!r} is not an ISO 8601 time"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    stamp = moment.timestamp()
    return (stamp, None) if math.isfinite(stamp) else (None, f"{TIME_FIELD} {value!r} is not a time")


FEED = Feed(
    feed_id=SOURCE,
    title="Energi Data Service: production mix and CO2 intensity",
    fetch=fetch,
    parse=parse,
    default_interval_s=300,  # the datasets have a record every 5 minutes
    options_model=EnergiDataServiceOptions,
)
