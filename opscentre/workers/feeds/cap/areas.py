"""CAP areas: "lat,lon ..." polygons and circles to lon/lat shapes, and whether an area concerns the city.

A circle "lat,lon radius_km" becomes a buffer in degrees of radius_km / KM_PER_DEG_LAT, stretched
east-west by 1 / cos(lat) so it is round on the ground: an equirectangular approximation, within
~1 % for radii under ~100 km away from the poles. A radius of 0 (an epicentre) stays a Point.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry import Point, Polygon, box, shape

if TYPE_CHECKING:
    from opscentre.workers.feeds.base import FeedContext

MAX_RADIUS_KM = 2000.0
KM_PER_DEG_LAT = 111.32
CIRCLE_QUAD_SEGS = 16  # vertices per quarter circle
BOUNDS_MARGIN_DEG = 0.05  # ~5 km: a warning just off the city's edge still concerns it
OUTSIDE_CITY = "area is outside the city"


def _lat_lon(text: str, what: str) -> tuple[float, float] | str:
    parts = text.split(",")
    if len(parts) != 2:
        return f"{what}: {text!r} is not 'lat,lon'"
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        return f"{what}: {text!r} is not 'lat,lon'"
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return f"{what}: {text!r} is not a finite point"
    if not -90 <= lat <= 90 and -90 <= lon <= 90:
        return f"{what}: {text!r} looks swapped ('lon,lat'; CAP is 'lat,lon')"
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return f"{what}: {text!r} is not a latitude,longitude"
    return lat, lon


def cap_polygon(text: str) -> tuple[Any, str | None]:
    """A CAP polygon "lat,lon lat,lon ..." -> a shapely lon/lat Polygon, or the problem."""
    points = []
    for pair in text.split():
        point = _lat_lon(pair, "polygon")
        if isinstance(point, str):
            return None, point
        points.append((point[1], point[0]))
    if points and points[0] != points[-1]:
        points.append(points[0])  # CAP requires a closed ring; close it rather than refuse it
    if len(set(points)) < 3:
        return None, f"polygon has {len(set(points))} distinct points (needs at least 3)"
    polygon = Polygon(points)
    return (polygon if polygon.is_valid else shapely.make_valid(polygon)), None


def cap_circle(text: str) -> tuple[Any, str | None]:
    """A CAP circle "lat,lon radius_km" -> a lon/lat polygon round on the ground (see the module doc)."""
    parts = text.split()
    if len(parts) != 2:
        return None, f"circle {text!r} is not 'lat,lon radius'"
    center = _lat_lon(parts[0], "circle")
    if isinstance(center, str):
        return None, center
    try:
        radius_km = float(parts[1])
    except ValueError:
        return None, f"circle radius {parts[1]!r} is not a number"
    if not (math.isfinite(radius_km) and 0 <= radius_km <= MAX_RADIUS_KM):
        return None, f"circle radius {parts[1]!r} km is not between 0 and {MAX_RADIUS_KM:g}"
    lat, lon = center
    if radius_km == 0:
        return Point(lon, lat), None
    stretch = 1 / max(math.cos(math.radians(lat)), 0.01)
    circle = Point(lon, lat).buffer(radius_km / KM_PER_DEG_LAT, quad_segs=CIRCLE_QUAD_SEGS)
    circle = shapely.transform(circle, lambda c: np.round(
        np.column_stack(((c[:, 0] - lon) * stretch + lon, c[:, 1])), 6))
    return circle, None


def city_bounds(ctx: FeedContext | None) -> tuple[float, float, float, float] | None:
    """The city's (min lon, min lat, max lon, max lat) plus a margin; None without a city."""
    if ctx is None:
        return None
    try:
        min_lon, min_lat, max_lon, max_lat = ctx.settings.zones.bounds
    except (ValueError, KeyError, OSError, AttributeError):
        return None
    m = BOUNDS_MARGIN_DEG
    return (min_lon - m, min_lat - m, max_lon + m, max_lat + m)


def is_skip(problem: str) -> bool:
    """A warning for somewhere else, or a test/exercise message: out of scope, not an error."""
    return problem.startswith(OUTSIDE_CITY) or problem.endswith(", skipped")


def outside_city(geometry: dict[str, Any], bounds: tuple[float, float, float, float]) -> str | None:
    """Why a warning area does not concern the city (wholly outside it, or lat/lon swapped), or None."""
    city = box(*bounds)
    area = shape(geometry)
    if area.intersects(city):
        return None
    if shapely.transform(area, lambda c: c[:, ::-1]).intersects(city):
        return "area looks swapped (lat and lon exchanged): it lies in the city only once swapped back"
    return OUTSIDE_CITY

