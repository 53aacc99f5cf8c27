"""USGS Instantaneous Values (feed id `usgs_iv`): river gage height and discharge.

`GET https://waterservices.usgs.gov/nwis/iv/?format=json&sites=01491000,01645000&parameterCd=00060,00065`
answers WaterML-JSON: `value.timeSeries[]`, each one site and one parameter —
`sourceInfo` (siteName, siteCode[0].value, geoLocation.geogLocation {latitude, longitude}),
`variable` (variableCode[0].value, unit.unitCode, noDataValue) and `values[0].value[]`
(`{value: "4.36", dateTime: "2020-02-13T17:15:00.000-05:00", qualifiers: ["P"]}`).

Each site becomes a `river_station` entity `usgs:<site code>` and, from the newest reading of
each series, `river_level_m` (00065 gage height, ft x 0.3048) and `river_discharge_m3s`
(00060 discharge, ft3/s x 0.0283168). Older readings in the payload (with `period`) are not
stored: only the newest counts. Gage height is above the gage's own datum, not sea level.
USGS publishes no flood stages here, so a station's thresholds come from the config
(`thresholds: {"01491000": {"attention_m": 1.5, "alert_m": 2.0, "overflow_m": 2.6}}`, metres)
and go on the entity as `attention_m` / `alert_m` / `overflow_m`, the names every river
source uses. The noDataValue (-999999), a unit other than ft / m / ft3/s / m3/s, a site
outside the city or a parameter other than these two are rejected with the reason.
Only `values[0]` (the primary method) of a series is read; a second series of the same site
and parameter (another sensor) is rejected as a duplicate.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from opscentre.core.errors import FetchError, ParseError
from opscentre.core.models import Entity, EntityValidator, ObservationBatch, ParseResult, Rejection
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.feeds.city_bounds import city_bounds, point_problem
from opscentre.workers.feeds.http import FeedUrl, fetch_bytes
from opscentre.workers.feeds.payloads import load_json_object

if TYPE_CHECKING:
    from opscentre.core.settings import Settings

SOURCE = "usgs_iv"
DEFAULT_URL = "https://waterservices.usgs.gov/nwis/iv/"
# parameter code -> (kind, {unit code: factor to the kind's unit})
PARAMETERS = {
    "00065": ("river_level_m", {"ft": 0.3048, "m": 1.0}),
    "00060": ("river_discharge_m3s", {"ft3/s": 0.028316846592, "m3/s": 1.0}),
}

_validate_entity = EntityValidator(SOURCE)


class StationThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attention_m: float | None = None
    alert_m: float | None = None
    overflow_m: float | None = None

    @model_validator(mode="after")
    def _ascending(self) -> StationThresholds:
        given = [v for v in (self.attention_m, self.alert_m, self.overflow_m) if v is not None]
        if given != sorted(given):
            raise ValueError("thresholds must rise: attention_m <= alert_m <= overflow_m")
        return self


class UsgsIvOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: FeedUrl = DEFAULT_URL
    sites: list[str] = Field(default_factory=list, description="USGS site numbers, e.g. ['01491000']")
    parameter_codes: list[str] = Field(default_factory=lambda: ["00065", "00060"])
    period: str | None = Field(None, description="ISO 8601 duration, e.g. PT2H; unset: the latest value only")
    thresholds: dict[str, StationThresholds] = Field(default_factory=dict, description="per site, metres")
    timeout_s: float = Field(20, gt=0, le=300, description="read timeout, seconds")
    max_bytes: int = Field(10_000_000, ge=1_000, le=100_000_000)


    @field_validator("sites", mode="before")
    @classmethod
    def _site_numbers(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        bad = [s for s in value if not isinstance(s, str) or not re.fullmatch(r"\d{8,15}", s)]
        if bad:
            raise ValueError(f"USGS site numbers are 8 to 15 digits (quote them in YAML to keep leading zeros): {bad}")
        return value

    @field_validator("parameter_codes")
    @classmethod
    def _known_parameters(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(PARAMETERS))
        if unknown or not value:
            raise ValueError(f"parameter codes must be among {sorted(PARAMETERS)}, got {value}")
        return value

    @field_validator("period")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and (value in ("P", "PT") or not re.fullmatch(r"P(\d+D)?(T(\d+H)?(\d+M)?)?", value)):
            raise ValueError("period must be an ISO 8601 duration such as PT2H or P1D")
        return value

    def check(self, settings: Settings) -> list[str]:
        problems = [] if self.sites else ["sites: list at least one USGS site number"]
        problems += [f"thresholds: site {s!r} is not in sites" for s in self.thresholds if s not in self.sites]
        return problems


def fetch(ctx: FeedContext) -> bytes:
    options: UsgsIvOptions = ctx.options
    if not options.sites:
        raise FetchError("usgs_iv: no sites configured (options.sites)", kind="config")
    params = {"format": "json", "sites": ",".join(options.sites), "parameterCd": ",".join(options.parameter_codes)}
    if options.period:
        params["period"] = options.period
    return fetch_bytes(options.url, params=params, headers={"Accept": "application/json"},
                       timeout=(min(5.0, options.timeout_s), options.timeout_s), max_bytes=options.max_bytes)


def parse(payload: bytes, ctx: FeedContext) -> ParseResult:
    series_list = _load(payload)
    options: UsgsIvOptions = ctx.options
    bounds = city_bounds(ctx.settings)
    entities: dict[str, Entity] = {}
    columns: dict[str, tuple[list[str], list[float], list[float]]] = {k: ([], [], []) for k, _ in PARAMETERS.values()}
    rejected: list[Rejection] = []
    seen: set[tuple[str, str]] = set()
    refused_sites: dict[str, str] = {}
    for index, series in enumerate(series_list):
        if not isinstance(series, dict):
            rejected.append(Rejection(entity_id="?", kind="?", reason=f"timeSeries[{index}] is not an object"))
            continue
        site, name, lat, lon = _source_info(series.get("sourceInfo"))
        code, unit, no_data = _variable(series.get("variable"))
        entity_id = f"usgs:{site}" if site else "usgs:?"
        kind, factors = PARAMETERS.get(code, (None, {}))

        def reject(reason: str) -> None:
            rejected.append(Rejection(entity_id=entity_id, kind=kind or f"usgs parameter {code}", reason=reason))

        if not site:
            reject(f"timeSeries[{index}] has no sourceInfo.siteCode")
            continue
        if kind is None:
            reject(f"parameter {code or '(none)'} is not read (only 00065 gage height and 00060 discharge)")
            continue
        if (site, code) in seen:
            reject(f"a second time series for site {site} parameter {code} (another sensor); the first is kept")
            continue
        seen.add((site, code))
        if unit not in factors:
            reject(f"unit {unit!r} for parameter {code} is not one of {sorted(factors)}")
            continue
        if site in refused_sites:
            reject(refused_sites[site])
            continue
        if site not in entities:
            if lat is None or lon is None:
                problem = "site has no latitude/longitude"
            else:
                problem = point_problem(lat, lon, bounds)
            if problem is None:
                try:
                    entities[site] = _validate_entity({
                        "entity_id": entity_id, "entity_type": "river_station", "name": name or site,
                        "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                        "properties": _properties(site, name, options.thresholds.get(site)),
                    })
                except ValidationError as exc:
                    problem = f"entity refused: {exc.errors()[0]['msg']}"
            if problem:
                refused_sites[site] = problem
                reject(problem)
                continue
        value, observed_at, problem = _newest(series.get("values"), no_data)
        if problem:
            reject(problem)
            continue
        ids, values, times = columns[kind]
        ids.append(entity_id)
        values.append(round(value * factors[unit], 4))
        times.append(observed_at)
    batches = [ObservationBatch(source=SOURCE, kind=kind, entity_ids=ids, values=values, observed_at=times)
               for kind, (ids, values, times) in columns.items() if ids]
    return ParseResult(entities=list(entities.values()), batches=batches, rejected=rejected)


def _load(payload: bytes) -> list[Any]:
    document = load_json_object(payload, "USGS IV")
    value = document.get("value")
    series = value.get("timeSeries") if isinstance(value, dict) else None
    if not isinstance(series, list):
        raise ParseError("USGS IV payload has no value.timeSeries list (not an Instantaneous Values JSON answer?)")
    return series


def _source_info(info: Any) -> tuple[str | None, str | None, float | None, float | None]:
    """(site code, site name, latitude, longitude); None for what is missing or mistyped."""
    if not isinstance(info, dict):
        return None, None, None, None
    codes = info.get("siteCode")
    site = codes[0].get("value") if isinstance(codes, list) and codes and isinstance(codes[0], dict) else None
    site = site.strip() if isinstance(site, str) and site.strip() else None
    name = info.get("siteName") if isinstance(info.get("siteName"), str) else None
    where = info.get("geoLocation")
    where = where.get("geogLocation") if isinstance(where, dict) else None
    lat = _float(where.get("latitude")) if isinstance(where, dict) else None
    lon = _float(where.get("longitude")) if isinstance(where, dict) else None
    return site, name, lat, lon


def _variable(variable: Any) -> tuple[str | None, str | None, float | None]:
    """(parameter code, unit code, noDataValue)."""
    if not isinstance(variable, dict):
        return None, None, None
    codes = variable.get("variableCode")
    code = codes[0].get("value") if isinstance(codes, list) and codes and isinstance(codes[0], dict) else None
    unit = variable.get("unit")
    unit = unit.get("unitCode") if isinstance(unit, dict) else None
    return (code if isinstance(code, str) else None, unit if isinstance(unit, str) else None,
            _float(variable.get("noDataValue")))


def _newest(blocks: Any, no_data: float | None) -> tuple[float | None, float | None, str | None]:
    """The newest reading of values[0] as (value, observed_at, None), or (None, None, why not)."""
    readings = blocks[0].get("value") if isinstance(blocks, list) and blocks and isinstance(blocks[0], dict) else None
    if not isinstance(readings, list):
        return None, None, "series has no values[0].value list"
    if not readings:
        return None, None, "series has no readings"
    dated = []
    for reading in readings:
        moment = _time(reading.get("dateTime")) if isinstance(reading, dict) else None
        if moment is not None:
            dated.append((moment, reading))
    if not dated:
        return None, None, "no reading has a dateTime with a UTC offset"
    observed_at, reading = max(dated, key=lambda pair: pair[0])
    value = _float(reading.get("value"))
    if value is None:
        return None, None, f"value {reading.get('value')!r} is not a number"
    if no_data is not None and value == no_data:
        qualifiers = reading.get("qualifiers")
        why = f" (qualifiers {', '.join(map(str, qualifiers))})" if isinstance(qualifiers, list) and qualifiers else ""
        return None, None, f"no data: the newest value is the noDataValue {no_data:g}{why}"
    return value, observed_at, None


def _time(value: Any) -> float | None:
    """UNIX seconds of an ISO 8601 time that states its offset (USGS always does); else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _properties(site: str, name: str | None, thresholds: StationThresholds | None) -> dict[str, Any]:
    properties: dict[str, Any] = {"network": "USGS NWIS", "site": site, "site_name": name,
                                  "level_datum": "gage datum (not sea level)"}
    if thresholds is not None:
        properties.update({k: v for k, v in thresholds.model_dump().items() if v is not None})
    return properties


FEED = Feed(
    feed_id="usgs_iv",
    title="USGS river gauges",
    fetch=fetch,
    parse=parse,
    default_interval_s=900,
    options_model=UsgsIvOptions,
)
