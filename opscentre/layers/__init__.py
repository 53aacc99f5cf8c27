"""The layer registry: one line per layer. Adding a layer = one module + one line here.

The order is the drawing order on the map (first drawn lowest).
"""

from opscentre.layers.air_quality import LAYER as AIR_QUALITY
from opscentre.layers.base import CityData, Layer, LegendEntry, feature_collection
from opscentre.layers.incidents import LAYER as INCIDENTS
from opscentre.layers.outages import LAYER as OUTAGES
from opscentre.layers.rain_classes import RAIN_CLASSES, RainClass, classify_rain
from opscentre.layers.rain_gauges import LAYER as RAIN_GAUGES
from opscentre.layers.rivers import LAYER as RIVERS
from opscentre.layers.traffic import LAYER as TRAFFIC
from opscentre.layers.transit import LAYER as TRANSIT
from opscentre.layers.warnings import LAYER as WARNINGS
from opscentre.layers.zones import LAYER as ZONES

LAYERS: dict[str, Layer] = {
    layer.layer_id: layer
    for layer in (ZONES, WARNINGS, INCIDENTS, TRAFFIC, OUTAGES, RIVERS, RAIN_GAUGES, AIR_QUALITY, TRANSIT)
}

__all__ = ["LAYERS", "CityData", "Layer", "LegendEntry", "RAIN_CLASSES", "RainClass", "classify_rain",
           "feature_collection"]
