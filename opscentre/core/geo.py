"""Zones of the city and the spatial join that gives an entity its zone (once, when first seen)."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import orjson
import shapely
from shapely.geometry import shape

# A point that falls just outside every zone (a gauge on the shore, a simplified coastline)
# still belongs to the nearest zone if it is this close (degrees, ~1 km).
NEAREST_ZONE_MAX_DEG = 0.01
NEIGHBOUR_TOLERANCE_DEG = 0.0005  # ~50 m


@dataclass
class Zones:
    """The city's zones (bairros, bydele...) read from a GeoJSON file."""

    ids: list[str]
    names: list[str]
    geometries: list[Any]  # shapely geometries, lon/lat
    geojson: dict[str, Any]  # FeatureCollection with `id` = zone id, properties name/zone_id

    @classmethod
    def from_file(cls, path: Path, id_property: str, name_property: str) -> Zones:
        raw = orjson.loads(Path(path).read_bytes())
        ids, names, geoms, features = [], [], [], []
        for i, feature in enumerate(raw["features"]):
            props = feature.get("properties") or {}
            zone_id = str(props.get(id_property, i))
            name = str(props.get(name_property, zone_id))
            geom = shapely.make_valid(shape(feature["geometry"]))
            ids.append(zone_id)
            names.append(name)
            geoms.append(geom)
            features.append(
                {
                    "type": "Feature",
                    "id": zone_id,
                    "properties": {"zone_id": zone_id, "name": name},
                    "geometry": feature["geometry"],
                }
            )
        if len(set(ids)) != len(ids):
            raise ValueError(f"{path}: zone ids in property {id_property!r} are not unique")
        return cls(ids, names, geoms, {"type": "FeatureCollection", "features": features})

    @cached_property
    def frame(self) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame({"zone_id": self.ids, "name": self.names}, geometry=self.geometries, crs="EPSG:4326")

    @cached_property
    def name_by_id(self) -> dict[str, str]:
        return dict(zip(self.ids, self.names))

    @cached_property
    def union(self):
        return shapely.union_all(self.geometries)

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.union.bounds)

    @cached_property
    def representative_points(self) -> list[tuple[float, float]]:
        """One (lon, lat) inside each zone, in zone order."""
        return [(p.x, p.y) for p in (g.representative_point() for g in self.geometries)]

    @cached_property
    def neighbours(self) -> dict[str, set[str]]:
        """zone id -> the zones that touch it (a hair of tolerance: simplified borders leave slivers)."""
        import warnings

        frame = self.frame
        with warnings.catch_warnings():  # buffering in degrees on purpose
            warnings.simplefilter("ignore", UserWarning)
            grown = gpd.GeoDataFrame({"zone_id": self.ids}, geometry=frame.geometry.buffer(NEIGHBOUR_TOLERANCE_DEG),
                                     crs=frame.crs)
            pairs = gpd.sjoin(grown, frame, how="inner", predicate="intersects")
        out: dict[str, set[str]] = {zone_id: set() for zone_id in self.ids}
        for left, right in zip(pairs["zone_id_left"], pairs["zone_id_right"]):
            if left != right:
                out[left].add(right)
        return out

    @cached_property
    def _by_folded(self) -> dict[str, list[str]]:
        """Folded name or id -> zone ids (a list: two zones may share a name)."""
        out: dict[str, list[str]] = {}
        for zone_id, name in zip(self.ids, self.names):
            for key in {fold_name(zone_id), fold_name(name)}:
                if key and zone_id not in out.setdefault(key, []):
                    out[key].append(zone_id)
        return out

    def find(self, text: str) -> str | None:
        """The zone id for a zone code or name, accents, case and punctuation ignored
        ("copacabana", "SAUDE", "024", "24"); None when unknown or ambiguous."""
        key = fold_name(text)
        found = self._by_folded.get(key)
        if found is None and key.isdigit():  # "24" for "024"
            found = [z for z in self.ids if z.isdigit() and int(z) == int(key)]
        return found[0] if found and len(found) == 1 else None

    def close_matches(self, text: str, n: int = 3) -> list[str]:
        """Up to n zone names like `text`: names it begins a word of, then difflib's closest."""
        key = fold_name(text)
        if not key:
            return []
        folded = {fold_name(name): name for name in self.names}
        words = [name for f, name in folded.items() if re.search(rf"\b{re.escape(key)}", f)]
        similar = [folded[f] for f in difflib.get_close_matches(key, list(folded), n=n, cutoff=0.6)]
        return list(dict.fromkeys(sorted(words, key=len) + similar))[:n]

    def assign(self, points: list[tuple[float, float]]) -> list[str | None]:
        """Zone id for each (lon, lat): the zone containing it, else the nearest within ~1 km."""
        if not points:
            return []
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*zip(*points)), crs="EPSG:4326")
        within = gpd.sjoin(pts, self.frame, how="left", predicate="within")
        within = within[~within.index.duplicated(keep="first")]
        result: list[str | None] = [z if isinstance(z, str) else None for z in within["zone_id"].tolist()]
        missing = [i for i, z in enumerate(result) if z is None]
        if missing:
            import warnings

            with warnings.catch_warnings():  # geographic CRS distance warning: we mean degrees
                warnings.simplefilter("ignore", UserWarning)
                near = gpd.sjoin_nearest(
                    pts.iloc[missing], self.frame, how="left", max_distance=NEAREST_ZONE_MAX_DEG
                )
            near = near[~near.index.duplicated(keep="first")]
            for idx, zone_id in zip(near.index, near["zone_id"]):
                result[idx] = zone_id if isinstance(zone_id, str) else None
        return result


    def zones_touched(self, geometries: list[dict[str, Any] | None]) -> list[list[str]]:
        """For each GeoJSON geometry (or None), the ids of the zones it touches, in zone order.

        Lines and areas intersect many zones (a warning polygon, a jam along an avenue); a
        point that is in no zone takes the nearest within ~1 km, as `assign` does.
        """
        result: list[list[str]] = [[] for _ in geometries]
        shapes, index = [], []
        for i, geometry in enumerate(geometries):
            if geometry:
                try:
                    geom = shapely.make_valid(shape(geometry))
                except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
                    continue
                if not geom.is_empty:
                    shapes.append(geom)
                    index.append(i)
        if not shapes:
            return result
        frame = gpd.GeoDataFrame({"i": index}, geometry=shapes, crs="EPSG:4326")
        joined = gpd.sjoin(frame, self.frame, how="inner", predicate="intersects")
        order = {zone_id: n for n, zone_id in enumerate(self.ids)}
        for i, zone_id in zip(joined["i"], joined["zone_id"]):
            result[i].append(zone_id)
        for zones in result:
            zones.sort(key=order.__getitem__)
        lonely = [(i, g) for i, g in zip(index, shapes) if not result[i] and g.geom_type == "Point"]
        if lonely:
            for (i, _), zone_id in zip(lonely, self.assign([(g.x, g.y) for _, g in lonely])):
                if zone_id is not None:
                    result[i].append(zone_id)
        return result


def fold_name(text: str) -> str:
    """A name as compared: accents, case and punctuation dropped, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", bare).split())


def anchor_point(geometry: dict[str, Any] | None) -> tuple[float, float] | None:
    """The (lon, lat) that decides an entity's zone: the point itself, or a line's midpoint."""
    if not geometry:
        return None
    geom = shape(geometry)
    if geom.geom_type == "Point":
        return (geom.x, geom.y)
    mid = geom.interpolate(0.5, normalized=True) if geom.geom_type == "LineString" else geom.representative_point()
    return (mid.x, mid.y)
