"""A plausible road network built from the zone geometry alone, once per city and size.

Points are scattered inside the zones (in proportion to their area, plus each zone's
representative point), joined by a Delaunay triangulation; edges that leave the city (across
a bay, off a coast) or are much longer than the local spacing are dropped, and the shortest
`count` edges are kept. The network depends only on the zones and the requested size — not on
the simulator's seed — so a segment keeps its geometry whatever the weather; ids are derived
from the coordinates, so a different size never reuses an id for another road.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely

from opscentre.workers.feeds.simulator.city import CityKey, Frame, city_model
from opscentre.workers.feeds.simulator.noise import SALT_ROAD_NETWORK, rng_for

NETWORK_SEED = 0  # fixed: roads do not change with the weather seed
MAX_EDGE_SPACINGS = 2.5  # drop edges longer than this many mean point spacings
CITY_EDGE_TOLERANCE_KM = 0.05
EDGES_PER_POINT_GUESS = 2.4
# (name, share of segments, free-flow km/h range, rush-hour sensitivity range)
ROAD_CLASSES = (
    ("local", 0.55, (30.0, 45.0), (0.25, 0.40)),
    ("collector", 0.30, (45.0, 65.0), (0.35, 0.50)),
    ("arterial", 0.15, (65.0, 90.0), (0.45, 0.65)),
)


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    ids: tuple[str, ...]
    lonlat: np.ndarray  # (S, 2, 2): segment, end, (lon, lat), rounded to 5 decimals
    mid_x: np.ndarray  # km
    mid_y: np.ndarray
    free_flow_kmh: np.ndarray
    rush_sensitivity: np.ndarray  # share of speed lost at the height of a rush hour (may exceed 1)
    entities: tuple[dict[str, Any], ...]

    def __len__(self) -> int:
        return len(self.ids)


def _to_km(geometry: Any, frame: Frame) -> Any:
    return shapely.transform(geometry, lambda c: np.column_stack(frame.to_km(c[:, 0], c[:, 1])))


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


def _sample_points(zones_km: list[Any], n_points: int, rng: np.random.Generator) -> np.ndarray:
    """Each zone's representative point plus random points inside it, in proportion to area."""
    areas = np.array([g.area for g in zones_km])
    extra = _largest_remainder(max(0, n_points - len(zones_km)), areas)
    points = []
    for geometry, k in zip(zones_km, extra):
        rep = geometry.representative_point()
        points.append([[rep.x, rep.y]])
        xmin, ymin, xmax, ymax = geometry.bounds
        found = 0
        while found < k:
            batch = max(16, 3 * (k - found))
            xs, ys = rng.uniform(xmin, xmax, batch), rng.uniform(ymin, ymax, batch)
            inside = shapely.contains_xy(geometry, xs, ys)
            take = np.column_stack([xs[inside], ys[inside]])[: k - found]
            points.append(take)
            found += len(take)
    return np.concatenate(points)


def _edges(points: np.ndarray, city_km: Any, spacing_km: float) -> np.ndarray:
    """Delaunay edges (E, 2, 2) that stay inside the city and are not too long."""
    lines = shapely.get_parts(shapely.delaunay_triangles(shapely.multipoints(points), only_edges=True))
    coords = shapely.get_coordinates(lines).reshape(-1, 2, 2)
    lengths = np.hypot(*(coords[:, 1] - coords[:, 0]).T)
    keep = (lengths <= MAX_EDGE_SPACINGS * spacing_km) & shapely.contains(city_km, lines)
    return coords[keep]


def _segment_id(lonlat: np.ndarray) -> str:
    text = ",".join(f"{v:.5f}" for v in lonlat.ravel())
    return "road-" + hashlib.blake2b(text.encode(), digest_size=5).hexdigest()


@lru_cache(maxsize=8)
def road_network(key: CityKey, count: int) -> RoadNetwork:
    city = city_model(key)
    frame = city.frame
    zones_km = [_to_km(g, frame) for g in key.zones.geometries]
    city_km = shapely.buffer(_to_km(key.zones.union, frame), CITY_EDGE_TOLERANCE_KM)
    shapely.prepare(city_km)
    area = sum(g.area for g in zones_km)
    n_points = max(len(zones_km) + 3, math.ceil(count / EDGES_PER_POINT_GUESS))
    for attempt in range(8):
        points = _sample_points(zones_km, n_points, rng_for(NETWORK_SEED, SALT_ROAD_NETWORK, attempt))
        edges = _edges(points, city_km, math.sqrt(area / n_points))
        if len(edges) >= count:
            break
        n_points = math.ceil(n_points * count / max(len(edges), 1) * 1.05)
    if len(edges) > 1.5 * count:  # a small network out of a big city: a spread-out sample
        pick = rng_for(NETWORK_SEED, SALT_ROAD_NETWORK, 999).choice(len(edges), size=count, replace=False)
        edges = edges[np.sort(pick)]
    else:  # trim the few longest, least road-like edges
        lengths = np.hypot(*(edges[:, 1] - edges[:, 0]).T)
        edges = edges[np.argsort(lengths, kind="stable")[:count]]
    mid = edges.mean(axis=1)
    edges = edges[np.lexsort((mid[:, 1], mid[:, 0]))]  # west to east: "Seg 1" is the westernmost
    return _describe(key, edges)


def _describe(key: CityKey, edges_km: np.ndarray) -> RoadNetwork:
    frame = city_model(key).frame
    lon, lat = frame.to_lonlat(edges_km[..., 0], edges_km[..., 1])
    lonlat = np.round(np.stack([lon, lat], axis=-1), 5)
    mid_x, mid_y = edges_km.mean(axis=1).T
    n = len(edges_km)
    rng = rng_for(NETWORK_SEED, SALT_ROAD_NETWORK, 1000)
    shares = np.array([c[1] for c in ROAD_CLASSES])
    road_class = rng.choice(len(ROAD_CLASSES), size=n, p=shares / shares.sum())
    free_flow = np.empty(n)
    sensitivity = np.empty(n)
    for i, (_, _, speeds, rush) in enumerate(ROAD_CLASSES):
        mask = road_class == i
        free_flow[mask] = np.round(rng.uniform(*speeds, mask.sum()) / 5) * 5
        sensitivity[mask] = rng.uniform(*rush, mask.sum())
    sensitivity *= np.clip(rng.lognormal(0.0, 0.35, n), 0.5, 1.6)  # bottlenecks and easy stretches
    ends = key.zones.assign([tuple(p) for p in lonlat.reshape(-1, 2).tolist()])
    mids = key.zones.assign([tuple(p) for p in lonlat.mean(axis=1).tolist()])
    names = key.zones.name_by_id
    ids: list[str] = []
    seen: set[str] = set()
    entities = []
    for i in range(n):
        segment_id = _segment_id(lonlat[i])
        while segment_id in seen:  # practically never; keeps ids unique whatever happens
            segment_id += "x"
        seen.add(segment_id)
        ids.append(segment_id)
        a, b = (names.get(z, "outside the zones") if z else "outside the zones" for z in ends[2 * i : 2 * i + 2])
        where = a if a == b else f"{a}–{b}"
        length_m = float(np.hypot(*(edges_km[i, 1] - edges_km[i, 0])) * 1000)
        entity: dict[str, Any] = {
            "entity_id": segment_id,
            "entity_type": "road_segment",
            "name": f"Seg {i + 1} ({where})",
            "geometry": {"type": "LineString", "coordinates": lonlat[i].tolist()},
            "properties": {
                "free_flow_kmh": float(free_flow[i]),
                "road_class": ROAD_CLASSES[road_class[i]][0],
                "length_m": round(length_m),
            },
        }
        if mids[i]:
            entity["zone_id"] = mids[i]
        entities.append(entity)
    return RoadNetwork(tuple(ids), lonlat, mid_x, mid_y, free_flow, sensitivity, tuple(entities))
