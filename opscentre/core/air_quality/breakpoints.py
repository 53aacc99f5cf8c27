"""Air quality indices computed from breakpoint tables — the CSVs beside this module, copied
verbatim from openaq/aqi-hub (`src/data/breakpoints/`), never from numbers written in code.

Each CSV row is one category of one pollutant: `category, hex, category_lower, category_upper`
(the index range and colour), `pollutant, units, averaging_period` (hours),
`concentration_lower, concentration_upper`. A scale is one file and one `variant`:

    rio     IQA of Rio de Janeiro (SMAC), 0-300+: PM10, O3, NO2, SO2, CO — no PM2.5 in the table
    us_epa  US EPA AQI (May 2024 PM2.5 update), 0-301+
    eu      European AQI (EEA), "new" variant (2024): levels 1-6, all 1-hour values
    eu_old  the same, "old" variant (to 2024)

How a concentration becomes a sub-index, for one pollutant of one scale:
- The rows of one averaging period are used. Where a table has several for a pollutant (US
  ozone: 1 h and 8 h), the complete one with the most rows is taken (US ozone: 8 h; its 1-hour
  table starts at 0.125 ppm).
- A concentration within a row's [low, high] takes that row; where two rows share a bound
  (Rio's 420 µg/m³ PM10 ends "Bad" and starts "Terrible") the lower row keeps it. A
  concentration in the gap between one row's high and the next row's low (US PM2.5 9.0 | 9.1)
  stays in the lower row at its top index: the tables are written at the precision the values
  are meant to be truncated to, and this is EPA's truncation for any finer value.
- Within the row: linear interpolation Ilo + (Ihi - Ilo) × (C - Clo) / (Chi - Clo), rounded to
  the nearest integer. A row without an index or concentration high (the open-ended top
  category; every EU row, whose index is its level 1-6) gives its index low. Above the last
  row's high the top row's high index is kept: the index is then a floor, the category right.
- Below the first row (a negative concentration) there is no sub-index.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from opscentre.core.air_quality.units import convert, normalise_unit


@dataclass(frozen=True)
class ScaleSource:
    file: str
    variant: str
    title: str


SCALES: dict[str, ScaleSource] = {
    "rio": ScaleSource("aqi_breakpoints_brazil_rio_sp_es.csv", "Rio de Janeiro", "IQA Rio (SMAC)"),
    "us_epa": ScaleSource("aqi_breakpoints_us_epa.csv", "", "US EPA AQI"),
    "eu": ScaleSource("aqi_breakpoints_eu_eea.csv", "new", "European AQI (2024)"),
    "eu_old": ScaleSource("aqi_breakpoints_eu_eea.csv", "old", "European AQI (before 2024)"),
}
DEFAULT_SCALE = "rio"
# The tables' pollutant names -> ours (the prefix of the observation kinds: pm25_ugm3...).
POLLUTANTS = {"PM2.5": "pm25", "PM10": "pm10", "O3": "o3", "NO2": "no2", "SO2": "so2", "CO": "co"}


@dataclass(frozen=True)
class Category:
    name: str
    colour: str
    index_low: float


@dataclass(frozen=True)
class Breakpoint:
    category: Category
    index_low: float
    index_high: float | None
    conc_low: float
    conc_high: float | None  # None: open-ended (the top category)


@dataclass(frozen=True)
class SubIndex:
    pollutant: str
    index: int
    category: Category
    concentration: float  # in the table's unit
    unit: str
    averaging_hours: int


@dataclass(frozen=True)
class PollutantTable:
    pollutant: str
    unit: str  # normalised (units.UGM3, PPM, PPB)
    averaging_hours: int
    rows: tuple[Breakpoint, ...]  # ascending

    def row_for(self, concentration: float) -> Breakpoint | None:
        if not math.isfinite(concentration) or concentration < self.rows[0].conc_low:
            return None
        for row, following in zip(self.rows, (*self.rows[1:], None)):
            if row.conc_high is None or concentration <= row.conc_high:
                return row
            if following is None or concentration < following.conc_low:
                return row  # above the table's top, or in the gap before the next row
        return self.rows[-1]

    def sub_index(self, concentration: float) -> SubIndex | None:
        row = self.row_for(concentration)
        if row is None:
            return None
        if row.index_high is None or row.conc_high is None:
            index = row.index_low
        else:
            c = min(max(concentration, row.conc_low), row.conc_high)
            share = (c - row.conc_low) / (row.conc_high - row.conc_low)
            index = row.index_low + (row.index_high - row.index_low) * share
        return SubIndex(self.pollutant, math.floor(index + 0.5), row.category, concentration, self.unit,
                        self.averaging_hours)


@dataclass(frozen=True)
class Scale:
    name: str
    title: str
    categories: tuple[Category, ...]  # ascending index
    tables: Mapping[str, PollutantTable]  # our pollutant name -> its table

    def sub_index(self, pollutant: str, value: float, unit: str) -> SubIndex | None:
        """The sub-index of `value` (in `unit`, any spelling units.normalise_unit knows) of
        `pollutant` (pm25, pm10, o3, no2, so2, co); None when the scale has no table for that
        pollutant, the unit cannot be converted, or the value is below the table."""
        table = self.tables.get(pollutant)
        unit = normalise_unit(unit)
        if table is None or unit is None:
            return None
        concentration = convert(value, pollutant, unit, table.unit)
        return None if concentration is None else table.sub_index(concentration)

    def worst(self, readings: Iterable[tuple[str, float, str]]) -> SubIndex | None:
        """The highest sub-index of (pollutant, value, unit) readings: the index of the air."""
        found = [s for p, v, u in readings if (s := self.sub_index(p, v, u)) is not None]
        return max(found, key=lambda s: s.index) if found else None

    def category_of(self, index: float) -> Category | None:
        """The category an index value falls in (the last one whose low it reaches)."""
        if not math.isfinite(index):
            return None
        reached = [c for c in self.categories if index >= c.index_low]
        return reached[-1] if reached else None


@cache
def scale(name: str = DEFAULT_SCALE) -> Scale:
    """The scale `name` (a key of SCALES), loaded from its table once per process."""
    try:
        source = SCALES[name]
    except KeyError:
        raise ValueError(f"unknown air quality scale {name!r} (known: {', '.join(SCALES)})") from None
    rows = [r for r in _read(source.file) if r["variant"].strip() == source.variant]
    categories: dict[str, Category] = {}
    by_period: dict[tuple[str, int], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        label = row["category"].strip()
        if label not in categories:
            categories[label] = Category(label, row["hex"].strip().lower(), float(row["category_lower"]))
        pollutant = POLLUTANTS.get(row["pollutant"].strip())
        if pollutant is not None:
            by_period[(pollutant, int(float(row["averaging_period"])))].append(row)
    tables: dict[str, PollutantTable] = {}
    for (pollutant, hours), period_rows in sorted(by_period.items()):
        table = _table(pollutant, hours, period_rows, categories)
        current = tables.get(pollutant)
        if table is None:
            continue
        if current is None or (len(table.rows), hours) > (len(current.rows), current.averaging_hours):
            tables[pollutant] = table
    ordered = tuple(sorted(categories.values(), key=lambda c: c.index_low))
    return Scale(name, source.title, ordered, tables)


def _read(file: str) -> list[dict[str, str]]:
    text = resources.files(__package__).joinpath(file).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _table(pollutant: str, hours: int, rows: list[dict[str, str]],
           categories: dict[str, Category]) -> PollutantTable | None:
    """One pollutant's rows for one averaging period, or None if any row lacks a bound it needs."""
    points = []
    units = {normalise_unit(r["units"]) for r in rows}
    if len(units) != 1 or None in units:
        return None
    ordered = sorted(rows, key=lambda r: float(r["category_lower"]))
    for i, row in enumerate(ordered):
        low, high = _number(row["concentration_lower"]), _number(row["concentration_upper"])
        if low is None or (high is None and i < len(ordered) - 1):
            return None
        points.append(Breakpoint(categories[row["category"].strip()], float(row["category_lower"]),
                                 _number(row["category_upper"]), low, high))
    return PollutantTable(pollutant, units.pop(), hours, tuple(points))


def _number(text: str | None) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None
