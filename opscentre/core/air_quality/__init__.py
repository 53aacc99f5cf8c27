"""Air quality: breakpoint tables (the CSVs here), sub-indices and categories, unit conversion."""

from opscentre.core.air_quality.breakpoints import (
    DEFAULT_SCALE,
    SCALES,
    Category,
    Scale,
    SubIndex,
    scale,
)
from opscentre.core.air_quality.units import convert, normalise_unit

__all__ = ["DEFAULT_SCALE", "SCALES", "Category", "Scale", "SubIndex", "convert", "normalise_unit", "scale"]
