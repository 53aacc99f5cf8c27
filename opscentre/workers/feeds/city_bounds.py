"""Where a feed's point may be: the city's bounding box plus a margin, and why a point is refused.

A station or vehicle just past the city's edge is still the city's (the margin); one far away is
a feed for another place, and one whose latitude and longitude fit only when swapped is a
swapped pair — both are refused with a reason that says which.
"""

from __future__ import annotations

import math
from typing import Any

Bounds = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat
DEFAULT_MARGIN_DEG = 0.05  # ~5 km


def city_bounds(settings: Any, margin_deg: float = DEFAULT_MARGIN_DEG) -> Bounds | None:
    """The zones' bounding box grown by the margin, or None when the city has no readable zones."""
    try:
        min_lon, min_lat, max_lon, max_lat = settings.zones.bounds
    except (ValueError, KeyError, OSError, AttributeError):
        return None
    return (min_lon - margin_deg, min_lat - margin_deg, max_lon + margin_deg, max_lat + margin_deg)


def inside(lat: float, lon: float, bounds: Bounds) -> bool:
    min_lon, min_lat, max_lon, max_lat = bounds
    return min_lat <= lat <= max_lat and min_lon <= lon <= max_lon


def point_problem(lat: float, lon: float, bounds: Bounds | None) -> str | None:
    """Why (lat, lon) cannot be placed in the city, or None when it can."""
    if not (math.isfinite(lat) and math.isfinite(lon)) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        if math.isfinite(lat) and math.isfinite(lon) and -90 <= lon <= 90 and -180 <= lat <= 180:
            return f"latitude {lat:g}, longitude {lon:g} look swapped (latitude out of range)"
        return f"latitude {lat!r}, longitude {lon!r} is not a position"
    if bounds is None or inside(lat, lon, bounds):
        return None
    if inside(lon, lat, bounds):
        return f"latitude {lat:g}, longitude {lon:g} look swapped (they fit the city the other way round)"
    return f"latitude {lat:g}, longitude {lon:g} is outside the city"
