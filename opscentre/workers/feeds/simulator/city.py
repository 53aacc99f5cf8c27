"""The static part of the simulated city, built once per zones file and cached.

Everything here depends only on the configuration (zones file, time zone, gauge file), never
on time, so it is computed once with functools.lru_cache keyed by `CityKey` (the files'
paths and modification times) and shared by every poll.

Distances are computed in a local flat frame in kilometres (`Frame`), good to well under 1%
across a city.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from opscentre.core.geo import Zones
from opscentre.workers.feeds.simulator.climate import Climate, climate_for_latitude

if TYPE_CHECKING:
    from opscentre.core.settings import Settings

KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_AT_EQUATOR = 111.320


@dataclass(frozen=True)
class Frame:
    """Local equirectangular projection around the city centre: lon/lat <-> km."""

    lon0: float
    lat0: float

    @property
    def kx(self) -> float:
        return KM_PER_DEG_LON_AT_EQUATOR * math.cos(math.radians(self.lat0))

    def to_km(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * KM_PER_DEG_LAT

    def to_lonlat(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x) / self.kx + self.lon0, np.asarray(y) / KM_PER_DEG_LAT + self.lat0


@dataclass(frozen=True)
class CityKey:
    """Hashable identity of a city configuration; carries the loaded Zones along (not compared)."""

    zones_file: str
    zones_mtime_ns: int
    zone_id_property: str
    zone_name_property: str
    timezone: str
    zones: Zones = field(compare=False, hash=False, repr=False)


def city_key(settings: Settings) -> CityKey:
    path = settings.resolve(settings.city.zones)
    return CityKey(
        zones_file=str(path),
        zones_mtime_ns=path.stat().st_mtime_ns,
        zone_id_property=settings.city.zone_id_property,
        zone_name_property=settings.city.zone_name_property,
        timezone=settings.city.timezone,
        zones=settings.zones,
    )


@dataclass(frozen=True, eq=False)
class Sites:
    """Point sites (gauges, river stations, zone centres): ids, names, lon/lat, km, zone."""

    ids: tuple[str, ...]
    names: tuple[str, ...]
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    zone_ids: tuple[str | None, ...]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, eq=False)
class City:
    key: CityKey
    frame: Frame
    climate: Climate
    extent_km: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax
    zone_centres: Sites  # one per zone, at its representative point, id = zone id


@lru_cache(maxsize=8)
def city_model(key: CityKey) -> City:
    zones = key.zones
    lon_min, lat_min, lon_max, lat_max = zones.bounds
    frame = Frame(lon0=(lon_min + lon_max) / 2, lat0=(lat_min + lat_max) / 2)
    x0, y0 = frame.to_km(lon_min, lat_min)
    x1, y1 = frame.to_km(lon_max, lat_max)
    lon, lat = (np.array(v) for v in zip(*zones.representative_points))
    x, y = frame.to_km(lon, lat)
    centres = Sites(tuple(zones.ids), tuple(zones.names), lon, lat, x, y, tuple(zones.ids))
    return City(key, frame, climate_for_latitude(frame.lat0), (float(x0), float(y0), float(x1), float(y1)), centres)


# ---- rain gauges ------------------------------------------------------------------------------


def read_gauge_file(path: Path) -> list[dict[str, Any]]:
    """Gauges from a JSON file in the Alerta Rio `pluviometros` format; ValueError says why not."""
    try:
        raw = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read gauges file {path}: {exc.strerror or exc}")
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"gauges file {path} is not valid JSON: {exc}")
    gauges = raw.get("pluviometros") if isinstance(raw, dict) else None
    if not isinstance(gauges, list) or not gauges:
        raise ValueError(f"gauges file {path} has no non-empty `pluviometros` list")
    seen: set[str] = set()
    for i, gauge in enumerate(gauges):
        where = f"gauges file {path}: pluviometros[{i}]"
        if not isinstance(gauge, dict):
            raise ValueError(f"{where} is not an object")
        gauge_id = gauge.get("id")
        if not isinstance(gauge_id, str) or not gauge_id:
            raise ValueError(f"{where} has no string `id`")
        if gauge_id in seen:
            raise ValueError(f"{where}: duplicate id {gauge_id!r}")
        seen.add(gauge_id)
        lat, lon = gauge.get("latitude"), gauge.get("longitude")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon)):
            raise ValueError(f"{where} ({gauge_id}) needs numeric `latitude` and `longitude`")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"{where} ({gauge_id}) has latitude/longitude out of range")
    return gauges


def gauge_file_key(settings: Settings, relative: str | None) -> tuple[str, int, int] | None:
    """(path, mtime, size) of the gauges file, so an edited file is read again; None: no file."""
    if relative is None:
        return None
    path = settings.resolve(relative)
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def gauge_sites(key: CityKey, gauges_file: tuple[str, int, int] | None) -> Sites:
    """The rain gauges: from the file, or one per zone at its representative point."""
    city = city_model(key)
    if gauges_file is None:
        centres = city.zone_centres
        ids = tuple(f"gauge-{zone_id}" for zone_id in centres.ids)
        names = tuple(f"Gauge {name}" for name in centres.names)
        return Sites(ids, names, centres.lon, centres.lat, centres.x, centres.y, centres.zone_ids)
    gauges = read_gauge_file(Path(gauges_file[0]))
    lon = np.array([float(g["longitude"]) for g in gauges])
    lat = np.array([float(g["latitude"]) for g in gauges])
    x, y = city.frame.to_km(lon, lat)
    zone_ids = tuple(key.zones.assign(list(zip(lon.tolist(), lat.tolist()))))
    names = tuple(str(g.get("nome") or g["id"]) for g in gauges)
    return Sites(tuple(g["id"] for g in gauges), names, lon, lat, x, y, zone_ids)


def point_geometry(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(float(lon), 5), round(float(lat), 5)]}
