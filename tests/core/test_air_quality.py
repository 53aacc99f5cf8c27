"""Air quality indices from the breakpoint tables, and unit conversion.

The tables (opscentre/core/air_quality/*.csv) are verbatim copies of openaq/aqi-hub's
`src/data/breakpoints/{brazil,us,eu}.csv` (see shared fixtures SOURCES.md). Expected values here
are worked by hand from the published tables (EPA's technical assistance document, SMAC's IQA).
"""

from __future__ import annotations

import csv
import math
from importlib import resources

import pytest
from hypothesis import given, settings, strategies as st

from opscentre.core.air_quality import SCALES, convert, normalise_unit, scale
from opscentre.core.air_quality.breakpoints import POLLUTANTS

ALL_SCALES = sorted(SCALES)


def table_rows(name):
    """The raw CSV rows of a scale (its file and variant), as the module reads them."""
    source = SCALES[name]
    text = resources.files("opscentre.core.air_quality").joinpath(source.file).read_text(encoding="utf-8")
    return [r for r in csv.DictReader(text.splitlines()) if r["variant"].strip() == source.variant]


# ---- units ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["µg/m³", "μg/m³", "ug/m3", "UG/M3", " µg/m3 ", "ug/m^3"])
def test_the_spellings_of_micrograms_per_cubic_metre_are_one_unit(text):
    assert normalise_unit(text) == "ug/m3"


@pytest.mark.parametrize("text", ["", "furlongs", "ppt", None, 3, "µg"])
def test_unknown_units_are_none(text):
    assert normalise_unit(text) is None


def test_gases_convert_between_ppb_and_micrograms_at_25_c():
    # 1 ppb O3 = 47.997 / 24.45 µg/m³ (1.963); NO2: 46.0055 / 24.45 (1.882)
    assert convert(1.0, "o3", "ppb", "ug/m3") == pytest.approx(1.963, abs=1e-3)
    assert convert(0.059, "o3", "ppm", "ug/m3") == pytest.approx(115.82, abs=0.01)
    assert convert(100.0, "no2", "ug/m3", "ppb") == pytest.approx(53.15, abs=0.01)
    assert convert(2.0, "co", "mg/m3", "ppm") == pytest.approx(1.746, abs=1e-3)
    assert convert(0.07, "o3", "ppm", "ppb") == pytest.approx(70.0)
    assert convert(1.0, "pm25", "mg/m3", "ug/m3") == 1000.0


def test_particulate_matter_has_no_volume_ratio():
    assert convert(10.0, "pm25", "ppm", "ug/m3") is None
    assert convert(10.0, "pm10", "ug/m3", "ppb") is None


@given(st.sampled_from(["o3", "no2", "so2", "co"]), st.floats(0, 1e4), st.sampled_from(["ppm", "ppb", "mg/m3"]))
def test_a_conversion_there_and_back_is_the_identity(pollutant, value, unit):
    there = convert(value, pollutant, "ug/m3", unit)
    assert convert(there, pollutant, unit, "ug/m3") == pytest.approx(value, rel=1e-9, abs=1e-9)


# ---- the tables as loaded ---------------------------------------------------------------


def test_each_scale_has_its_pollutants_units_and_averaging_periods():
    rio, us, eu, eu_old = scale("rio"), scale("us_epa"), scale("eu"), scale("eu_old")
    assert set(rio.tables) == {"pm10", "o3", "no2", "so2", "co"}  # Rio's IQA table has no PM2.5
    assert (rio.tables["o3"].unit, rio.tables["o3"].averaging_hours) == ("ug/m3", 8)
    assert set(us.tables) == {"pm25", "pm10", "o3", "no2", "so2", "co"}
    assert (us.tables["o3"].unit, us.tables["o3"].averaging_hours) == ("ppm", 8)  # 1-h table is incomplete
    assert (us.tables["no2"].unit, us.tables["pm25"].averaging_hours) == ("ppb", 24)
    assert {t.averaging_hours for t in eu.tables.values()} == {1}
    assert eu_old.tables["pm25"].averaging_hours == 24


def test_categories_names_and_colours_come_from_the_tables():
    for name in ALL_SCALES:
        expected = {}
        for row in table_rows(name):
            expected.setdefault(row["category"].strip(), (row["hex"].lower(), float(row["category_lower"])))
        got = {c.name: (c.colour, c.index_low) for c in scale(name).categories}
        assert got == expected, name
    assert [c.name for c in scale("rio").categories] == ["Good", "Regular", "Inadequate", "Bad", "Terrible"]
    assert scale("eu").categories[-1].name == "Extremely Poor"
    assert scale("eu_old").categories[-1].name == "Extremely poor"


def test_an_unknown_scale_is_refused():
    with pytest.raises(ValueError, match="unknown air quality scale"):
        scale("moon")


# ---- worked values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "pollutant", "value", "unit", "index", "category"),
    [
        ("us_epa", "pm25", 35.5, "ug/m3", 101, "Unhealthy for Sensitive Groups"),
        ("us_epa", "pm25", 9.0, "ug/m3", 50, "Good"),
        ("us_epa", "pm25", 9.05, "ug/m3", 50, "Good"),  # between rows: truncated to 9.0
        ("us_epa", "pm25", 12.0, "ug/m3", 56, "Moderate"),  # 51 + 49 × 2.9 / 26.3 = 56.4
        ("us_epa", "o3", 0.059, "ppm", 64, "Moderate"),  # 51 + 49 × 0.004 / 0.015 = 64.1
        ("us_epa", "o3", 59.0, "ppb", 64, "Moderate"),
        ("us_epa", "pm25", 400.0, "ug/m3", 301, "Hazardous"),  # open-ended top row: its low index
        ("rio", "o3", 0.059, "ppm", 73, "Regular"),  # 115.82 µg/m³: 51 + 49 × 34.82 / 79 = 72.6
        ("rio", "pm10", 15.0, "µg/m³", 15, "Good"),
        ("rio", "pm10", 420.0, "ug/m3", 299, "Bad"),  # shared bound: the lower row keeps it
        ("rio", "pm10", 421.0, "ug/m3", 300, "Terrible"),
        ("rio", "co", 9.05, "ppm", 100, "Regular"),
        ("eu", "o3", 115.8, "ug/m3", 3, "Moderate"),
        ("eu", "pm25", 5.5, "ug/m3", 1, "Good"),
        ("eu", "pm25", 500.0, "ug/m3", 6, "Extremely Poor"),
        ("eu_old", "pm25", 22.0, "ug/m3", 3, "Moderate"),
    ],
)
def test_worked_sub_indices(name, pollutant, value, unit, index, category):
    sub = scale(name).sub_index(pollutant, value, unit)
    assert (sub.index, sub.category.name) == (index, category)


def test_no_sub_index_without_a_table_a_unit_or_a_non_negative_value():
    rio = scale("rio")
    assert rio.sub_index("pm25", 10.0, "ug/m3") is None  # no PM2.5 in Rio's table
    assert rio.sub_index("pm10", 10.0, "furlongs") is None
    assert rio.sub_index("pm10", 10.0, "ppm") is None
    assert rio.sub_index("pm10", -1.0, "ug/m3") is None
    assert rio.sub_index("pm10", math.nan, "ug/m3") is None


def test_the_index_of_the_air_is_the_worst_sub_index():
    worst = scale("rio").worst([("pm10", 15.0, "ug/m3"), ("o3", 0.059, "ppm"), ("pm25", 90.0, "ug/m3")])
    assert (worst.pollutant, worst.index) == ("o3", 73)
    assert scale("rio").worst([("pm25", 90.0, "ug/m3")]) is None


# ---- properties over every table ---------------------------------------------------------


def tables():
    return [(name, pollutant) for name in ALL_SCALES for pollutant in scale(name).tables]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(tables()), st.floats(0, 5000, allow_nan=False), st.floats(0, 5000, allow_nan=False))
def test_the_index_never_falls_as_the_concentration_rises(which, a, b):
    name, pollutant = which
    table = scale(name).tables[pollutant]
    low, high = sorted((a, b))
    lower, higher = table.sub_index(low), table.sub_index(high)
    assert lower.index <= higher.index
    assert lower.category.index_low <= higher.category.index_low


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(tables()), st.floats(0, 5000, allow_nan=False))
def test_an_index_falls_in_the_category_it_was_computed_with(which, value):
    name, pollutant = which
    sub = scale(name).tables[pollutant].sub_index(value)
    assert scale(name).category_of(sub.index) == sub.category


@pytest.mark.parametrize("name", ALL_SCALES)
def test_every_boundary_in_the_tables_maps_to_its_category(name):
    """Each row's concentration bounds give the row's category (a bound shared with the row
    below belongs to the row below), and the row's index bounds."""
    aq = scale(name)
    checked = 0
    by_pollutant = {}
    for row in table_rows(name):
        pollutant = POLLUTANTS[row["pollutant"].strip()]
        table = aq.tables.get(pollutant)
        if table is None or int(row["averaging_period"]) != table.averaging_hours:
            continue
        by_pollutant.setdefault(pollutant, []).append(row)
    for pollutant, rows in by_pollutant.items():
        table = aq.tables[pollutant]
        rows.sort(key=lambda r: float(r["category_lower"]))
        for i, row in enumerate(rows):
            category = row["category"].strip()
            index_low = float(row["category_lower"])
            index_high = float(row["category_upper"]) if row["category_upper"].strip() else index_low
            low = float(row["concentration_lower"])
            below = rows[i - 1]["concentration_upper"].strip() if i else ""
            shared = bool(below) and float(below) == low
            sub = table.sub_index(low)
            if shared:
                assert sub.category.name == rows[i - 1]["category"].strip(), (name, pollutant, low)
            else:
                assert (sub.category.name, sub.index) == (category, index_low), (name, pollutant, low)
            if row["concentration_upper"].strip():
                high = float(row["concentration_upper"])
                sub = table.sub_index(high)
                assert (sub.category.name, sub.index) == (category, index_high), (name, pollutant, high)
            checked += 1
    assert checked >= 25
