"""Which rain gauges speak for each zone: the gauges inside it, else the nearest gauge.

Computed from geometry once per set of gauges (gauges appear rarely; readings every minute),
then reused for every reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from opscentre.core.geo import Zones


@dataclass(frozen=True)
class ZoneGauges:
    gauge_ids: tuple[str, ...]
    nearest: bool  # True when no gauge lies inside the zone and the nearest one stands in


GaugePoints = tuple[tuple[str, float, float], ...]  # (gauge id, lon, lat), sorted by id

_cache: dict[tuple[int, GaugePoints], dict[str, ZoneGauges]] = {}
_CACHE_SIZE = 8


def zone_gauges(zones: Zones, gauges: GaugePoints) -> dict[str, ZoneGauges]:
    """zone id -> the gauges that decide its rain class (memoised per zones and gauge set)."""
    key = (id(zones), gauges)
    if key not in _cache:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = _compute(zones, gauges)
    return _cache[key]


def _compute(zones: Zones, gauges: GaugePoints) -> dict[str, ZoneGauges]:
    if not gauges:
        return {zone_id: ZoneGauges((), True) for zone_id in zones.ids}
    ids = [g[0] for g in gauges]
    points = shapely.points(np.array([[g[1], g[2]] for g in gauges]))
    tree = shapely.STRtree(points)
    inside_zone, inside_gauge = tree.query(zones.geometries, predicate="contains")
    members: dict[int, list[str]] = {}
    for zone_index, gauge_index in zip(inside_zone.tolist(), inside_gauge.tolist()):
        members.setdefault(zone_index, []).append(ids[gauge_index])
    lonely = [i for i in range(len(zones.ids)) if i not in members]
    nearest = tree.nearest([zones.geometries[i] for i in lonely]).tolist() if lonely else []
    result = {}
    for zone_index, zone_id in enumerate(zones.ids):
        if zone_index in members:
            result[zone_id] = ZoneGauges(tuple(sorted(members[zone_index])), False)
    for zone_index, gauge_index in zip(lonely, nearest):
        result[zones.ids[zone_index]] = ZoneGauges((ids[gauge_index],), True)
    return result


def gauge_points(gauges: list[dict]) -> GaugePoints:
    """The hashable (id, lon, lat) of gauges with a Point geometry."""
    points = []
    for gauge in gauges:
        geometry = gauge.get("geometry") or {}
        if geometry.get("type") == "Point":
            lon, lat = geometry["coordinates"][:2]
            points.append((gauge["entity_id"], float(lon), float(lat)))
    return tuple(sorted(points))
