"""Rain gauges layer: each gauge sized and coloured by its 15-minute rain class, with its
1 h / 24 h / 96 h accumulations."""

from __future__ import annotations

from typing import Any

from opscentre.i18n import Translator
from opscentre.layers.base import (CityData, HoverTexts, Layer, Rows, LegendEntry, local_label, number, station_feature,
                                   texts, timestamps)
from opscentre.layers.lod import LOD_KEY
from opscentre.layers.rain_classes import RAIN_CLASSES, classify_rain

KIND = "rain_mm"
ACCUMULATIONS = ("rain_1h_mm", "rain_24h_mm", "rain_96h_mm")
HALO_COLOUR = "#0a1422"


def gauge_rows(data: CityData) -> list[dict[str, Any]]:
    """One row per rain gauge with a Point geometry, ordered by id."""
    rain = data.values(KIND)
    one_h, one_day, four_days = (data.values(kind) for kind in ACCUMULATIONS)
    rows, held = [], ROWS.held
    for gauge in data.of_type("rain_gauge"):
        geometry = gauge.get("geometry") or {}
        if geometry.get("type") != "Point":
            continue
        entity_id = gauge["entity_id"]
        readings = (rain.get(entity_id), one_h.get(entity_id), one_day.get(entity_id), four_days.get(entity_id))
        kept = held(gauge, readings)
        rows.append(kept if kept is not None else ROWS.keep(gauge, readings, _row(gauge, readings, data.rain_classes)))
    return rows


ROWS = Rows()  # per gauge: remade only when its record or readings changed


def _row(gauge: dict[str, Any], readings: tuple, classes: tuple = RAIN_CLASSES) -> dict[str, Any]:
    lon, lat = gauge["geometry"]["coordinates"][:2]
    value, observed_at, source = readings[0] or (None, None, None)
    row = {
        "entity_id": gauge["entity_id"],
        "name": gauge.get("name") or gauge["entity_id"],
        "zone_id": gauge.get("zone_id"),
        "lon": round(float(lon), 5),
        "lat": round(float(lat), 5),
        "rain_mm": value,
        "rain_class": classify_rain(value, classes),  # the city's table (data.rain_classes)
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


# Per gauge, the columns of its point in the traces (name: how to read it from a row).
def _columns(row: dict[str, Any], data: CityData, t: Translator) -> tuple:
    size = row["rain_class"].marker_size
    return (row["lat"], row["lon"], size, size + 5, row["rain_class"].colour,
            HOVER.get(t, row["entity_id"], row, data.tz, lambda: _hover(row, data, t)),
            row["zone_id"], row["rain_class"].level * 10_000 + (row["rain_mm"] or 0.0), row["entity_id"])


COLUMNS = ("lat", "lon", "size", "halo", "colour", "text", "zone", "rank", "id")
# language -> (the rows, the time zone, the traces) of the last build: a build after a few gauges
# changed copies the columns and rewrites only those gauges' items.
_last: dict[str, tuple[list[dict[str, Any]], Any, list[dict[str, Any]]]] = {}


def traces(data: CityData, t: Translator | None = None) -> list[dict[str, Any]]:
    t = texts(t)
    rows = gauge_rows(data)
    last = _last.get(t.lang)
    columns = None
    if last is not None and last[1] is data.tz and len(last[0]) == len(rows):
        changed = [i for i, (a, b) in enumerate(zip(last[0], rows)) if a is not b]
        if len(changed) <= len(rows) // 10 and all(last[0][i]["entity_id"] == rows[i]["entity_id"] for i in changed):
            columns = dict(zip(COLUMNS, _held_columns(last[2])))
            copied = set()  # a column is copied (never changed in place) when one of its items changes
            for i in changed:
                for name, value in zip(COLUMNS, _columns(rows[i], data, t)):
                    if columns[name][i] != value:
                        if name not in copied:
                            columns[name] = list(columns[name])
                            copied.add(name)
                        columns[name][i] = value
    if columns is None:
        columns = dict(zip(COLUMNS, (list(c) for c in zip(*(_columns(r, data, t) for r in rows))))) if rows \
            else {name: [] for name in COLUMNS}
    built = _traces(columns, t)
    _last[t.lang] = (rows, data.tz, built)
    return built


def _held_columns(built: list[dict[str, Any]]) -> tuple:
    halo, main = built
    marks = main[LOD_KEY]
    return (main["lat"], main["lon"], main["marker"]["size"], halo["marker"]["size"], main["marker"]["color"],
            main["text"], marks["zone"], marks["rank"], main["customdata"])


def _traces(columns: dict[str, list], t: Translator) -> list[dict[str, Any]]:
    lat, lon = columns["lat"], columns["lon"]
    # A dark disc under each gauge, so a marker stands out from a zone of the same colour.
    halo = {"type": "scattermap", "mode": "markers", "name": "Rain gauges (outline)", "lat": lat, "lon": lon,
            "marker": {"size": columns["halo"], "color": HALO_COLOUR, "opacity": 0.9},
            "hoverinfo": "skip"}
    return [halo, {
        "type": "scattermap",
        "mode": "markers",
        "name": "Rain gauges",
        "lat": lat,
        "lon": lon,
        "marker": {
            "size": columns["size"],
            "color": columns["colour"],
            "opacity": 0.95,
        },
        "text": columns["text"],
        "hovertemplate": "%{text}<extra></extra>",
        "customdata": columns["id"],  # the gauge's entity id: a click opens its page (pages/entity.py)
        # over lod.POINTS_MAX gauges the map draws a zone's worst gauge for the zone (layers/lod.py)
        LOD_KEY: {"zone": columns["zone"], "rank": columns["rank"], "noun": t.gettext("rain gauges")},
    }]


LAYER = Layer(
    layer_id="rain_gauges",
    label="Rain gauges",
    shortcut="r",
    title="Rain gauges — 15-min rain class",
    kinds=(KIND, *ACCUMULATIONS),
    features=features,
    traces=traces,
    patched=("lat", "lon", "marker.size", "marker.color", "text", "customdata"),
    legend=tuple(LegendEntry(f"{c.label}", c.colour, "dot") for c in RAIN_CLASSES),
)
