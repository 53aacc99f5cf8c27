"""A layer's legend in a city's own vocabulary (pure): the air-quality index the city uses
(`city.air_quality_scale`) and its rain classes (`city.rain_classes`), where the layers' own
LAYER records carry Rio's. Any page that draws a legend (the console's, the public one) asks here."""

from __future__ import annotations

from opscentre.layers import LAYERS, LegendEntry, air_quality, rain_gauges, zones
from opscentre.layers.rain_classes import NO_DATA, rain_table


def city_legend(layer_id: str, air_quality_scale: str | None = None,
                rain_classes: str | None = None) -> tuple[str, dict[str, str], tuple[LegendEntry, ...]]:
    """(title as a marked text, the title's fields, entries whose labels are marked texts)."""
    layer = LAYERS[layer_id]
    if layer_id == air_quality.LAYER.layer_id and air_quality_scale is not None:
        return air_quality.city_legend(air_quality_scale)
    if layer_id == zones.LAYER.layer_id and rain_classes is not None:
        table = (NO_DATA, *rain_table(rain_classes))
        return layer.title, {}, tuple(LegendEntry(c.label, zones.MAP_FILL[c.level], "area") for c in table)
    if layer_id == rain_gauges.LAYER.layer_id and rain_classes is not None:
        return layer.title, {}, tuple(LegendEntry(c.label, c.colour, "dot") for c in rain_table(rain_classes))
    return layer.title, {}, layer.legend
