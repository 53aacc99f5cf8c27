"""Air quality layer: each station coloured by its index category, with every pollutant's value.

The colours and category names come from the breakpoint table of the station's scale
(core/air_quality). A layer has no settings, so the scale is the one the feed stored on the
station (`properties.aqi_scale`, written when the station was first seen); a station without
one (or with an unknown one) is read on the city's (`city.air_quality_scale`, in CityData; by
default Rio's IQA). Since the registry keeps
a station's first description, changing the feed's `scale` later colours the stations already
known with their old scale's table while their `aqi` values follow the new one — the scale of a
city is meant to be chosen once. LAYER's legend shows the default scale's categories; a console's
legend shows the city's (`city.air_quality_scale`: `city_legend`).
"""

from __future__ import annotations

from typing import Any

from opscentre.core.air_quality import DEFAULT_SCALE, SCALES, Scale, scale
from opscentre.i18n import N_, Translator
from opscentre.layers.base import CityData, Layer, LegendEntry, local_label, number, station_feature, texts, timestamps

KIND = "aqi"
# kind, label, pollutant name in the tables
POLLUTANTS = (("pm25_ugm3", "PM2.5", "pm25"), ("pm10_ugm3", "PM10", "pm10"), ("o3_ugm3", "O₃", "o3"),
              ("no2_ugm3", "NO₂", "no2"))
# The other scales' category names (Rio's are the legend's, in opscentre/i18n/vocabulary.py), so
# a station's hover names its category in the page's language whatever the city's scale.
OTHER_CATEGORY_NAMES = (N_("Fair"), N_("Moderate"), N_("Poor"), N_("Very Poor"), N_("Extremely Poor"),
                        N_("Unhealthy for Sensitive Groups"), N_("Unhealthy"), N_("Very Unhealthy"), N_("Hazardous"))
NO_INDEX_COLOUR = "#8a8f98"
HALO_COLOUR = "#0a1422"
MARKER_SIZE = 13


def station_scale(station: dict[str, Any] | Any, default: str = DEFAULT_SCALE) -> Scale:
    """The scale the feed stored on the station, else `default` (the city's: data.air_quality_scale)."""
    name = (station.get("properties") or {}).get("aqi_scale")
    return scale(name if name in SCALES else default if default in SCALES else DEFAULT_SCALE)


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
        aq = station_scale(station, data.air_quality_scale)
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


def _pollutant(row: dict[str, Any], kind: str, label: str, pollutant: str, t: Translator) -> str | None:
    value = row["values"][kind]
    if value is None:
        return None
    sub = row["scale"].sub_index(pollutant, value, "ug/m3")
    return f"{label} {number(value, t)} µg/m³" + (f" ({sub.index})" if sub else "")


def _hover(row: dict[str, Any], data: CityData, t: Translator) -> str:
    head = f"<b>{row['name']}</b> " + t.gettext("(air quality)")
    if row["aqi"] is None:
        index = t.gettext("no index on {scale}").format(scale=row["scale"].title)
    else:
        category = t.gettext(row["category"].name) if row["category"] else "?"
        index = f"{row['scale'].title}: {number(row['aqi'], t, None)} — {category}"
    parts = [p for kind, label, pollutant in POLLUTANTS if (p := _pollutant(row, kind, label, pollutant, t))]
    values = " · ".join(parts) if parts else t.gettext("no reading")
    by = " · ".join(x for x in (row["source"], row["provider"]) if x)
    return (f"{head}<br>{index}<br>{values}<br>{local_label(row['observed_at'], data.tz, t)}"
            + (f" · {by}" if by else ""))


def traces(data: CityData, t: Translator | None = None) -> list[dict[str, Any]]:
    t = texts(t)
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
        "text": [_hover(r, data, t) for r in rows],
        "hovertemplate": "%{text}<extra></extra>",
    }]


TITLE = N_("Air quality — {index} category")


def city_legend(scale_name: str | None) -> tuple[str, dict[str, str], tuple[LegendEntry, ...]]:
    """The legend of the index a city uses (its config's `city.air_quality_scale`): the title as a
    marked text and its fields, and an entry per category (the scale's own names, marked for the
    catalogue above and in opscentre/i18n/vocabulary.py) then "no index". Rio's is LAYER's."""
    aq = scale(scale_name if scale_name in SCALES else DEFAULT_SCALE)
    return TITLE, {"index": aq.title}, (*(LegendEntry(c.name, c.colour, "dot") for c in aq.categories),
                                        LegendEntry("no index", NO_INDEX_COLOUR, "dot"))


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
