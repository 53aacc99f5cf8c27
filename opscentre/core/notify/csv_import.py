"""Recipients from a CSV file: a pure parser (no Redis, no files), and the checks of a place
that `opscentre recipients add` shares with it.

Columns (header row, any order, case ignored): name, phone, and zones (bairro names or
codes separated by ";") or lat, lon, radius_m (a point and a radius in metres) or both;
optional lang (pt-BR | en), role (community | agent | oncall | subscriber), quiet_hours
(e.g. 22:00-07:00). A file exported by a spreadsheet set to Portuguese, with ";" between
columns and decimal commas, is read too. Every bad row is reported with its line number and
its reasons; the good rows are kept. One recipient per (phone, role): a repeat in the file is
reported against the line it repeats.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from opscentre.core.geo import Zones
from opscentre.core.notify.phones import normalise
from opscentre.core.notify.recipients import (
    Recipient,
    explain,
    parse_lang,
    parse_quiet_hours,
    parse_role,
)

COLUMNS = ("name", "phone", "zones", "lat", "lon", "radius_m", "lang", "role", "quiet_hours")
POINT_COLUMNS = ("lat", "lon", "radius_m")
CITY_MARGIN_DEG = 0.05  # a point may lie this far outside the city's bounding box (~5 km)


@dataclass(frozen=True)
class ImportRow:
    line: int  # where the row starts in the file (1 = the header)
    recipient: Recipient


def parse_csv(text: str, zones: Zones, now: float, source_name: str,
              default_region: str = "BR") -> tuple[list[ImportRow], list[str]]:
    """The recipients of a CSV text, and one "line N: reason" per row that is not one."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return [], ["empty file: expected a header row with name, phone and zones (or lat, lon, radius_m)"]
    first = text.splitlines()[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [column.strip().casefold() for column in next(reader)]
    except csv.Error as exc:
        return [], [f"line 1: unreadable header ({exc})"]
    problem = _header_problem(header)
    if problem:
        return [], [f"line 1: {problem}"]
    rows: list[ImportRow] = []
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    line = reader.line_num + 1
    try:
        for fields in reader:
            start, line = line, reader.line_num + 1
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != len(header):
                errors.append(f"line {start}: {len(fields)} fields where the header has {len(header)}")
                continue
            row = {column: field.strip() for column, field in zip(header, fields)}
            try:
                recipient = _recipient(row, zones, now, f"import:{source_name}:{start}", default_region,
                                       decimal_comma=delimiter == ";")
            except ValueError as exc:
                errors.append(f"line {start}: {exc}")
                continue
            key = (recipient.phone, recipient.role.value)
            if key in seen:
                errors.append(f"line {start}: the same phone and role as line {seen[key]} "
                              "(one row per person and role; list its zones in one row)")
                continue
            seen[key] = start
            rows.append(ImportRow(start, recipient))
    except csv.Error as exc:
        errors.append(f"line {line}: unreadable CSV ({exc}); the rows after it were not read")
    return rows, errors


def resolve_zones(zones: Zones, texts: Iterable[str]) -> list[str]:
    """Zone ids for bairro names or codes (accents and case ignored), in the order given, each
    once; ValueError naming every unknown one with its close matches."""
    found: list[str] = []
    unknown: list[str] = []
    for text in texts:
        zone_id = zones.find(text)
        if zone_id is None:
            close = zones.close_matches(text)
            unknown.append(f"unknown bairro {_quote(text)}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        elif zone_id not in found:
            found.append(zone_id)
    if unknown:
        raise ValueError("; ".join(unknown))
    return found


def check_point(zones: Zones, lat: float, lon: float, radius_m: float) -> tuple[float, float]:
    """(lat, lon) if the circle can reach the city; ValueError otherwise (often lat and lon swapped)."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("lat must be -90..90 and lon -180..180")
    min_lon, min_lat, max_lon, max_lat = zones.bounds
    reach = CITY_MARGIN_DEG + max(radius_m, 0) / 111_000
    if not (min_lat - reach <= lat <= max_lat + reach and min_lon - reach <= lon <= max_lon + reach):
        raise ValueError(f"the point {lat:.5f},{lon:.5f} is outside the city (lat and lon swapped?)")
    return lat, lon


def _header_problem(header: list[str]) -> str | None:
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        return (f"unknown column(s) {', '.join(_quote(c) for c in unknown)}; "
                f"the columns are {', '.join(COLUMNS)}")
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        return f"column(s) {', '.join(repeated)} given twice"
    missing = [c for c in ("name", "phone") if c not in header]
    if "zones" not in header and not all(c in header for c in POINT_COLUMNS):
        missing.append("zones (or lat, lon, radius_m)")
    if missing:
        return f"missing column(s): {', '.join(missing)}"
    return None


def _recipient(row: dict[str, str], zones: Zones, now: float, consent_how: str, default_region: str,
               decimal_comma: bool) -> Recipient:
    reasons: list[str] = []
    fields: dict = {}

    def take(column: str, parse) -> None:
        try:
            fields[column] = parse(row[column])
        except ValueError as exc:
            reasons.append(f"{column}: {exc}")

    if not row["name"]:
        reasons.append("name: missing")
    take("phone", lambda text: normalise(text, default_region))
    if row.get("zones"):
        take("zones", lambda text: resolve_zones(zones, [z for z in text.split(";") if z.strip()]))
    point = [row.get(c, "") for c in POINT_COLUMNS]
    if any(point):
        if not all(point):
            reasons.append("a point needs lat, lon and radius_m")
        else:
            try:
                lat, lon, radius = (_number(v, decimal_comma) for v in point)
                fields["point"] = check_point(zones, lat, lon, radius)
                fields["radius_m"] = radius
            except ValueError as exc:
                reasons.append(str(exc))
    elif not row.get("zones"):
        reasons.append("no place: give zones, or lat, lon and radius_m")
    if row.get("lang"):
        take("lang", parse_lang)
    if row.get("role"):
        take("role", parse_role)
    if row.get("quiet_hours"):
        take("quiet_hours", parse_quiet_hours)
    if reasons:
        raise ValueError("; ".join(reasons))
    optional = {k: fields[k] for k in ("point", "radius_m", "lang", "role", "quiet_hours") if k in fields}
    try:
        return Recipient.create(name=row["name"], phone=fields["phone"], consent_how=consent_how, now=now,
                                zone_ids=fields.get("zones", ()), **optional)
    except ValidationError as exc:
        raise ValueError(explain(exc)) from None


def _number(text: str, decimal_comma: bool) -> float:
    try:
        value = float(text.replace(",", ".") if decimal_comma else text)
    except ValueError:
        raise ValueError(f"{_quote(text)} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{_quote(text)} is not a number")
    return value


def _quote(text: str, limit: int = 40) -> str:
    """User text inside an error: quoted, cut short, control characters shown escaped."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
