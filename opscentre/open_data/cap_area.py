"""Zones as CAP areas: "lat,lon lat,lon ..." rings, simplified, closed, small.

CAP 1.2 (3.2.4): a polygon is a closed ring of at least four coordinate pairs, each pair
"latitude,longitude" (WGS 84) — the reverse of GeoJSON's [lon, lat] — pairs separated by spaces.
Holes cannot be said: a ring is the outer boundary of one part. A multi-part zone (a bairro
with islands) gives one polygon per part, the largest first, at most MAX_PARTS of them; each ring
is simplified (shapely, topology kept) until it has at most MAX_POINTS pairs.
"""

from __future__ import annotations

from functools import lru_cache

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

MAX_POINTS = 100  # coordinate pairs per ring, the closing pair included
MAX_PARTS = 10  # polygons per area
MIN_PART_SHARE = 0.001  # parts smaller than this share of the largest are left out
FIRST_TOLERANCE_DEG = 0.00005  # ~5 m; doubled until the ring is small enough
DECIMALS = 5  # ~1 m


def cap_polygons(geometry: BaseGeometry) -> list[str]:
    """The CAP <polygon> texts of a lon/lat (shapely) geometry."""
    return list(_polygons(shapely.to_wkb(geometry)))


@lru_cache(maxsize=2048)
def _polygons(wkb: bytes) -> tuple[str, ...]:
    geometry = shapely.from_wkb(wkb)
    parts = sorted((p for p in shapely.get_parts(geometry) if isinstance(p, Polygon) and not p.is_empty),
                   key=lambda p: -p.area)
    if not parts:
        return ()
    largest = parts[0].area
    kept = [p for p in parts[:MAX_PARTS] if p.area >= largest * MIN_PART_SHARE]
    return tuple(ring_text(_small_ring(Polygon(p.exterior))) for p in kept)


def _small_ring(polygon: Polygon) -> list[tuple[float, float]]:
    """The exterior as (lon, lat) pairs, closed, 4..MAX_POINTS of them after rounding."""
    tolerance = FIRST_TOLERANCE_DEG
    ring = _rounded(polygon)
    while len(ring) > MAX_POINTS:
        simpler = shapely.simplify(polygon, tolerance, preserve_topology=True)
        ring = _rounded(simpler) if isinstance(simpler, Polygon) and not simpler.is_empty else []
        tolerance *= 2
        if len(ring) < 4:  # simplified away (a sliver): its bounding box says where it is
            ring = _rounded(polygon.envelope)
            break
    if len(ring) < 4:
        ring = _rounded(polygon.envelope if polygon.area > 0 else polygon.buffer(10 ** -DECIMALS).envelope)
    return ring


def _rounded(polygon: Polygon) -> list[tuple[float, float]]:
    pairs: list[tuple[float, float]] = []
    for lon, lat in polygon.exterior.coords:
        pair = (round(lon, DECIMALS), round(lat, DECIMALS))
        if not pairs or pairs[-1] != pair:
            pairs.append(pair)
    if pairs and pairs[0] != pairs[-1]:
        pairs.append(pairs[0])
    return pairs


def ring_text(ring: list[tuple[float, float]]) -> str:
    """(lon, lat) pairs -> CAP's "lat,lon lat,lon ..." (latitude first)."""
    return " ".join(f"{lat:.{DECIMALS}f},{lon:.{DECIMALS}f}" for lon, lat in ring)
