"""Air quality layer: each station coloured by its index category, with every pollutant's value.

The colours and category names come from the breakpoint table of the station's scale
(core/air_quality). A layer has no settings, so the scale is the one the feed stored on the
station (`properties.aqi_scale`, written when the station was first seen); a station without
one (or with an unknown one) is read on the default scale, Rio's IQA. Since the registry keeps
a station's first description, changing the feed's `scale` later colours the stations already
known with their old scale's table while their `aqi` values follow the new one — the scale of a
city is meant to be chosen once. The legend shows the default scale's categories.
"""

from __future__ import annotations

from typing import Any

from opscentre.core.air_quality import DEFAULT_SCALE, SCALES, Scale, scale
from opscentre.layers.base import CityData, Layer, LegendEntry, local_label, station_feature, timestamps

KIND = "aqi"
# kind, label, pollutant name in the tables
POLLUTANTS = (("pm25_ugm3", "PM2.5", "pm25"), ("pm10_ugm3", "PM10", "pm10"), ("o3_ugm3", "O₃", "o3"),
              ("no2_ugm3", "NO₂", "no2"))
NO_INDEX_COLOUR = "#8a8f98"
HALO_COLOUR = "#0a1422"
MARKER_SIZE = 13


def station_scale(station: dict[str, Any] | Any) -> Scale:
    name = (station.get("properties") or {}).get("aqi_scale")
    return scale(name if name in SCALES else DEFAULT_SCALE)


def station_rows(data: CityData) -> list[dict[str, Any]]:
    """One row per air quality station with a Point geometry, ordered by id."""
    index = data.values(KIND)
    pollutants = {kind: data.values(kind) for kind, _, _ in POLLUTANTS}
    rows = []
    for station in data.of_type("air_quality_station"):
        geometry = station.get("geometry") or {}
        if geometry.get("type") != "Point":
            continue
        lon, lat = geometry["coordinates"][:2]
        entity_id = station["entity_id"]
        aq = station_scale(station)
        aqi, observed_at, source = index.get(entity_id, (None, None, None))
        category = aq.category_of(aqi) if aqi is not None else None
        values, times = {}, []
        for kind, _, _ in POLLUTANTS:
            value, at, _ = pollutants[kind].get(entity_id, (None, None, None))
            values[kind] = value
            if at is not None:
                times.append(at)
        rows.append({
            "entity_id": entity_id,
            "name": station.get("name") or entity_id,
            "zone_id": station.get("zone_id"),
            "lon": round(float(lon), 5),
            "lat": round(float(lat), 5),
            "aqi": aqi,
            "scale": aq,
            "category": category,
            "colour": category.colour if category else NO_INDEX_COLOUR,
            "values": values,
            "observed_at": observed_at if observed_at is not None else (max(times) if times else None),
            "source": source or station.get("source"),
            "provider": (station.get("properties") or {}).get("provider"),
        })
    return rows


def features(data: CityData) -> list[dict[str, Any]]:
    out = []
    for row in station_rows(data):
        properties = {
            "entity_id": row["entity_id"],
            "name": row["name"],
            "zone_id": row["zone_id"],
            "aqi": row["aqi"],
            "aqi_category": row["category"].name if row["category"] else None,
            "colour": row["colour"],
            "aqi_scale": row["scale"].name,
            "aqi_scale_title": row["scale"].title,
            **row["values"],
            "unit": "µg/m³",
            **timestamps(row["observed_at"], data.tz),
            "source": row["source"],
            "provider": row["provider"],
        }
        out.append(station_feature(row, properties))
    return out


def _pollutant(row: dict[str, Any], kind: str, label: str, pollutant: str) -> str | None:
    value = row["values"][kind]
    if value is None:
        return None
    sub = row["scale"].sub_index(pollutant, value, "ug/m3")
    return f"{label} {value:.1f} µg/m³" + (f" ({sub.index})" if sub else "")


def _hover(row: dict[str, Any], data: CityData) -> str:
    head = f"<b>{row['name']}</b> (air quality)"
    if row["aqi"] is None:
        index = f"no index on {row['scale'].title}"
    else:
        category = row["category"].name if row["category"] else "?"
        index = f"{row['scale'].title}: {row['aqi']:g} — {category}"
    parts = [p for kind, label, pollutant in POLLUTANTS if (p := _pollutant(row, kind, label, pollutant))]
    values = " · ".join(parts) if parts else "no reading"
    by = " · ".join(x for x in (row["source"], row["provider"]) if x)
    return f"{head}<br>{index}<br>{values}<br>{local_label(row['observed_at'], data.tz)}" + (f" · {by}" if by else "")


def traces(data: CityData) -> list[dict[str, Any]]:
    rows = station_rows(data)
    lat, lon = [r["lat"] for r in rows], [r["lon"] for r in rows]
    halo = {"type": "scattermap", "mode": "markers", "name": "Air quality (outline)", "lat": lat, "lon": lon,
            "marker": {"size": MARKER_SIZE + 5, "color": HALO_COLOUR, "opacity": 0.9}, "hoverinfo": "skip"}
    return [halo, {
        "type": "scattermap",
        "mode": "markers",
        "name": "Air quality",
        "lat": lat,
        "lon": lon,
        "marker": {"size": MARKER_SIZE, "color": [r["colour"] for r in rows], "opacity": 0.95},
        "text": [_hover(r, data) for r in rows],
        "hovertemplate": "%{text}<extra></extra>",
    }]


LAYER = Layer(
    layer_id="air_quality",
    label="Air quality",
    title=f"Air quality — {scale(DEFAULT_SCALE).title} category",
    kinds=(KIND, *(kind for kind, _, _ in POLLUTANTS)),
    features=features,
    traces=traces,
    patched=("lat", "lon", "marker.color", "text"),
    legend=(*(LegendEntry(c.name, c.colour, "dot") for c in scale(DEFAULT_SCALE).categories),
            LegendEntry("no index", NO_INDEX_COLOUR, "dot")),
)
