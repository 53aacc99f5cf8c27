"""A city's rain intensity classes for a 15-minute accumulation, as one table per city.

Every place that classifies rain (zone colours, gauge markers, legends, GeoJSON) reads a table
through `classify_rain`; thresholds are never written at a call site. The city's config names
its table (`city.rain_classes`, default Alerta Rio's); the layers read it from the CityData they
are drawn from (`data.rain_classes`). Every table has five classes on levels 1..5, drawn with the
stage colours, with the same keys (none, weak, moderate, heavy, very_heavy: the GeoJSON's
`rain_class`); the thresholds and the words differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from opscentre.i18n import N_
from opscentre.layers.stages import STAGE_COLOURS


@dataclass(frozen=True)
class RainClass:
    key: str
    label: str
    level: int  # 1..5, drawn with the colour of the city stage of the same level
    upper_mm: float  # the class holds values below this (or equal, with includes_upper)
    includes_upper: bool
    marker_size: int
    colour: str


# mm in 15 min: none 0, weak < 1.25, moderate 1.25-6.25, heavy 6.25-12.5, very heavy > 12.5
RAIN_CLASSES: tuple[RainClass, ...] = (
    RainClass("none", N_("no rain"), 1, 0.0, True, 7, STAGE_COLOURS[1]),
    RainClass("weak", N_("weak"), 2, 1.25, False, 10, STAGE_COLOURS[2]),
    RainClass("moderate", N_("moderate"), 3, 6.25, False, 13, STAGE_COLOURS[3]),
    RainClass("heavy", N_("heavy"), 4, 12.5, True, 17, STAGE_COLOURS[4]),
    RainClass("very_heavy", N_("very heavy"), 5, math.inf, True, 22, STAGE_COLOURS[5]),
)
ALERTA_RIO = RAIN_CLASSES

# After the Danish Meteorological Institute's words: a cloudburst (skybrud) is more than 15 mm in
# 30 minutes, so 7.5 mm or more in 15 minutes is the top class; below it, light rain up to 1 mm/h,
# moderate up to 4 mm/h (0.25 and 1 mm in 15 min), heavy rain between 1 and 7.5 mm.
DMI: tuple[RainClass, ...] = (
    RainClass("none", N_("no rain"), 1, 0.0, True, 7, STAGE_COLOURS[1]),
    RainClass("weak", N_("light"), 2, 0.25, False, 10, STAGE_COLOURS[2]),
    RainClass("moderate", N_("moderate"), 3, 1.0, False, 13, STAGE_COLOURS[3]),
    RainClass("heavy", N_("heavy"), 4, 7.5, False, 17, STAGE_COLOURS[4]),
    RainClass("very_heavy", N_("cloudburst"), 5, math.inf, True, 22, STAGE_COLOURS[5]),
)

# city.rain_classes -> its table (core/settings.py lists the same names)
RAIN_TABLES: dict[str, tuple[RainClass, ...]] = {"alerta_rio": ALERTA_RIO, "dmi": DMI}


def rain_table(name: str | None) -> tuple[RainClass, ...]:
    """The table a city's config names (unknown or None: Alerta Rio's)."""
    return RAIN_TABLES.get(name or "", ALERTA_RIO)

RAIN_CLASS_BY_KEY = {c.key: c for c in RAIN_CLASSES}

# A zone or gauge without a reading: drawn grey, level 0.
NO_DATA = RainClass("no_data", N_("no data"), 0, math.nan, False, 6, "#4a5568")


def classify_rain(mm_15min: float | None, classes: tuple[RainClass, ...] = RAIN_CLASSES) -> RainClass:
    """The class of a 15-minute rain accumulation in mm (None or NaN: no data) in a city's table
    (default Alerta Rio's)."""
    if mm_15min is None or math.isnan(mm_15min):
        return NO_DATA
    value = max(0.0, float(mm_15min))
    for rain_class in classes:
        if value < rain_class.upper_mm or (rain_class.includes_upper and value == rain_class.upper_mm):
            return rain_class
    return classes[-1]
