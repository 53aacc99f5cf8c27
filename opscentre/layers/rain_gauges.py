"""Rain gauges layer: each gauge sized and coloured by its 15-minute rain class, with its
1 h / 24 h / 96 h accumulations."""

from __future__ import annotations

from typing import Any

from opscentre.i18n import Translator
from opscentre.layers.base import (CityData, HoverTexts, Layer, Rows, LegendEntry, local_label, number, station_feature,
                                   texts, timestamps)
from opscentre.layers.lod import LOD_KEY, lod_marks
from opscentre.layers.rain_classes import RAIN_CLASSES, classify_rain

KIND = "rain_mm"
ACCUMULATIONS = ("rain_1h_mm", "rain_24h_mm", "rain_96h_mm")
HALO_COLOUR = "#0a1422"


def gauge_rows(data: CityData) -> list[dict[str, Any]]:
    """One row per rain gauge with a Point geometry, ordered by id."""
    rain = data.values(KIND)
    accumulations = [data.values(kind) for kind in ACCUMULATIONS]
    rows = []
    for gauge in data.of_type("rain_gauge"):
        geometry = gauge.get("geometry") or {}
        if geometry.get("type") != "Point":
            continue
        entity_id = gauge["entity_id"]
        readings = (rain.get(entity_id), *(latest.get(entity_id) for latest in accumulations))
        rows.append(ROWS.get(gauge, readings, lambda gauge=gauge, readings=readings: _row(gauge, readings)))
    return rows


ROWS = Rows()  # per gauge: remade only when its record or readings changed


def _row(gauge: dict[str, Any], readings: tuple) -> dict[str, Any]:
    lon, lat = gauge["geometry"]["coordinates"][:2]
    value, observed_at, source = readings[0] or (None, None, None)
    row = {
        "entity_id": gauge["entity_id"],
        "name": gauge.get("name") or gauge["entity_id"],
        "zone_id": gauge.get("zone_id"),
        "lon": round(float(lon), 5),
        "lat": round(float(lat), 5),
        "rain_mm": value,
        "rain_class": classify_rain(value),
        "observed_at": observed_at,
        "source": source or gauge.get("source"),
    }
    for kind, reading in zip(ACCUMULATIONS, readings[1:]):
        row[kind] = reading[0] if reading is not None else None
    return row


def features(data: CityData) -> list[dict[str, Any]]:
    out = []
    for row in gauge_rows(data):
        properties = {
            "entity_id": row["entity_id"],
            "name": row["name"],
            "zone_id": row["zone_id"],
            "rain_mm": row["rain_mm"],
            "rain_class": row["rain_class"].key,
            "rain_class_label": row["rain_class"].label,
            "colour": row["rain_class"].colour,
            **{kind: row[kind] for kind in ACCUMULATIONS},
            "unit": "mm",
            **timestamps(row["observed_at"], data.tz),
            "source": row["source"],
        }
        out.append(station_feature(row, properties))
    return out


def _mm(value: float | None, t: Translator) -> str:
    return "–" if value is None else f"{number(value, t)} mm"


def _hover(row: dict[str, Any], data: CityData, t: Translator) -> str:
    head = f"<b>{row['name']}</b> " + t.gettext("(rain gauge)")
    if row["rain_mm"] is None:
        return head + "<br>" + t.gettext("no reading")
    label = t.gettext(row["rain_class"].label)
    return (f"{head}<br>{label}: {number(row['rain_mm'], t)} mm/15 min"
            f"<br>1 h {_mm(row['rain_1h_mm'], t)} · 24 h {_mm(row['rain_24h_mm'], t)}"
            f" · 96 h {_mm(row['rain_96h_mm'], t)}"
            f"<br>{local_label(row['observed_at'], data.tz, t)} · {row['source']}")


HOVER = HoverTexts()  # per (language, gauge): rewritten only when its row changed


def traces(data: CityData, t: Translator | None = None) -> list[dict[str, Any]]:
    t = texts(t)
    rows = gauge_rows(data)
    sizes = [r["rain_class"].marker_size for r in rows]
    lat, lon = [r["lat"] for r in rows], [r["lon"] for r in rows]
    # A dark disc under each gauge, so a marker stands out from a zone of the same colour.
    halo = {"type": "scattermap", "mode": "markers", "name": "Rain gauges (outline)", "lat": lat, "lon": lon,
            "marker": {"size": [size + 5 for size in sizes], "color": HALO_COLOUR, "opacity": 0.9},
            "hoverinfo": "skip"}
    return [halo, {
        "type": "scattermap",
        "mode": "markers",
        "name": "Rain gauges",
        "lat": lat,
        "lon": lon,
        "marker": {
            "size": sizes,
            "color": [r["rain_class"].colour for r in rows],
            "opacity": 0.95,
        },
        "text": [HOVER.get(t, r["entity_id"], r, data.tz, lambda r=r: _hover(r, data, t)) for r in rows],
        "hovertemplate": "%{text}<extra></extra>",
        # over lod.POINTS_MAX gauges the map draws a zone's worst gauge for the zone (layers/lod.py)
        LOD_KEY: lod_marks([r["zone_id"] for r in rows],
                           [r["rain_class"].level * 10_000 + (r["rain_mm"] or 0.0) for r in rows],
                           t.gettext("rain gauges")),
    }]


LAYER = Layer(
    layer_id="rain_gauges",
    label="Rain gauges",
    shortcut="r",
    title="Rain gauges — 15-min rain class",
    kinds=(KIND, *ACCUMULATIONS),
    features=features,
    traces=traces,
    patched=("lat", "lon", "marker.size", "marker.color", "text"),
    legend=tuple(LegendEntry(f"{c.label}", c.colour, "dot") for c in RAIN_CLASSES),
)
