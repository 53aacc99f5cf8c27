"""Alerta Rio's rain intensity classes for a 15-minute accumulation, as one table.

Every place that classifies rain (zone colours, gauge markers, legends, GeoJSON) reads this
table through `classify_rain`; thresholds are never written at a call site.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    RainClass("none", "no rain", 1, 0.0, True, 7, STAGE_COLOURS[1]),
    RainClass("weak", "weak", 2, 1.25, False, 10, STAGE_COLOURS[2]),
    RainClass("moderate", "moderate", 3, 6.25, False, 13, STAGE_COLOURS[3]),
    RainClass("heavy", "heavy", 4, 12.5, True, 17, STAGE_COLOURS[4]),
    RainClass("very_heavy", "very heavy", 5, math.inf, True, 22, STAGE_COLOURS[5]),
)

RAIN_CLASS_BY_KEY = {c.key: c for c in RAIN_CLASSES}

# A zone or gauge without a reading: drawn grey, level 0.
NO_DATA = RainClass("no_data", "no data", 0, math.nan, False, 6, "#4a5568")


def classify_rain(mm_15min: float | None) -> RainClass:
    """The class of a 15-minute rain accumulation in mm (None or NaN: no data)."""
    if mm_15min is None or math.isnan(mm_15min):
        return NO_DATA
    value = max(0.0, float(mm_15min))
    for rain_class in RAIN_CLASSES:
        if value < rain_class.upper_mm or (rain_class.includes_upper and value == rain_class.upper_mm):
            return rain_class
    return RAIN_CLASSES[-1]
