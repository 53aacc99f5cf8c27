"""A city config for feed tests whose recorded payloads come from other cities.

The fixtures are real payloads from New York (Waze), California (Caltrain), Maryland (USGS),
New Mexico (OpenAQ), North Carolina (outages)... The city is configuration, so a test makes a
city there: a grid of square zones over the fixture's bounding box, and a YAML config that
enables the feed under test.

    settings = grid_city(tmp_path, bbox=(-74.3, 40.5, -73.7, 40.95), tz="America/New_York",
                         feeds={"waze": {"options": {"url": "http://127.0.0.1:1/feed"}}})
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from ruamel.yaml import YAML

from opscentre.core.settings import Settings, load_settings


def grid_zones(bbox: tuple[float, float, float, float], rows: int = 4, cols: int = 4) -> dict[str, Any]:
    """A FeatureCollection of rows x cols square zones covering (min_lon, min_lat, max_lon, max_lat);
    zone ids 'z0-0' (south-west) .. 'z{rows-1}-{cols-1}'."""
    min_lon, min_lat, max_lon, max_lat = bbox
    dx, dy = (max_lon - min_lon) / cols, (max_lat - min_lat) / rows
    features = []
    for r in range(rows):
        for c in range(cols):
            x0, y0 = min_lon + c * dx, min_lat + r * dy
            ring = [[x0, y0], [x0 + dx, y0], [x0 + dx, y0 + dy], [x0, y0 + dy], [x0, y0]]
            features.append({"type": "Feature", "properties": {"id": f"z{r}-{c}", "name": f"Zone {r}-{c}"},
                             "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": features}


def grid_city(tmp_path: Path, *, bbox: tuple[float, float, float, float], tz: str,
              feeds: dict[str, dict[str, Any]], name: str = "Test City", rows: int = 4, cols: int = 4,
              retention_hours: float = 48) -> Settings:
    """Write zones + config under tmp_path and load them as a live process would."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "zones.geojson").write_bytes(orjson.dumps(grid_zones(bbox, rows, cols)))
    config = {
        "city": {"name": name, "timezone": tz, "zones": "zones.geojson", "zone_id_property": "id",
                 "zone_name_property": "name"},
        "retention_hours": retention_hours,
        "feeds": feeds,
    }
    path = tmp_path / "city.yaml"
    with path.open("w") as handle:
        YAML().dump(config, handle)
    return load_settings(path)
