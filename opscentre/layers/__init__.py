"""The layer registry: one line per layer. Adding a layer = one module + one line here.

The order is the drawing order on the map (first drawn lowest).
"""

from opscentre.layers.base import CityData, Layer, LegendEntry, feature_collection
from opscentre.layers.rain_classes import RAIN_CLASSES, RainClass, classify_rain
from opscentre.layers.rain_gauges import LAYER as RAIN_GAUGES
from opscentre.layers.traffic import LAYER as TRAFFIC
from opscentre.layers.zones import LAYER as ZONES

LAYERS: dict[str, Layer] = {layer.layer_id: layer for layer in (ZONES, TRAFFIC, RAIN_GAUGES)}

__all__ = ["LAYERS", "CityData", "Layer", "LegendEntry", "RAIN_CLASSES", "RainClass", "classify_rain",
           "feature_collection"]
