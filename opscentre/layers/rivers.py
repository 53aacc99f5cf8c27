"""Rivers layer: each river or channel station coloured by its level against its own thresholds.

Every river source stores a station's stage levels on the entity as `attention_m`, `alert_m`
and `overflow_m` (metres; the simulator, `cemaden` from the payload, `usgs_iv` from the
config). The class is the highest threshold the level has reached: normal, attention, alert,
overflow — drawn in the colours of the city stages of the same name (3 attention, 4 alert,
5 crisis). A station with a level but no thresholds is drawn blue ("no thresholds"), one with
no reading grey. Missing thresholds are skipped: a station with only `overflow_m` is normal
or overflowing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from opscentre.i18n import Translator
from opscentre.layers.base import (CityData, HoverTexts, Layer, Rows, LegendEntry, local_label, number, station_feature,
                                   texts, timestamps)
from opscentre.layers.lod import LOD_KEY, lod_marks
from opscentre.layers.stages import STAGE_COLOURS

LEVEL = "river_level_m"
DISCHARGE = "river_discharge_m3s"
THRESHOLDS = ("attention_m", "alert_m", "overflow_m")  # rising order
HALO_COLOUR = "#0a1422"


@dataclass(frozen=True)
class RiverClass:
    key: str
    label: str
    colour: str
    marker_size: int


NORMAL = RiverClass("normal", "normal", STAGE_COLOURS[1], 10)
# One class per threshold, in THRESHOLDS order: reached when the level is at or above it.
REACHED = (
    RiverClass("attention", "attention", STAGE_COLOURS[3], 14),
    RiverClass("alert", "alert", STAGE_COLOURS[4], 17),
    RiverClass("overflow", "overflow", STAGE_COLOURS[5], 21),
)
NO_THRESHOLDS = RiverClass("no_thresholds", "level (no thresholds)", "#3b82c4", 10)
NO_READING = RiverClass("no_reading", "no reading", "#4a5568", 8)
RIVER_CLASSES = (NORMAL, *REACHED, NO_THRESHOLDS, NO_READING)


def thresholds_of(station: dict[str, Any] | Any) -> dict[str, float]:
    """The station's numeric thresholds among attention_m / alert_m / overflow_m."""
    properties = station.get("properties") or {}
    out = {}
    for name in THRESHOLDS:
        value = properties.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


def classify_level(level: float | None, thresholds: dict[str, float]) -> RiverClass:
    if level is None or not math.isfinite(level):
        return NO_READING
    if not thresholds:
        return NO_THRESHOLDS
    reached = NORMAL
    for name, river_class in zip(THRESHOLDS, REACHED):
        if name in thresholds and level >= thresholds[name]:
            reached = river_class
    return reached


def station_rows(data: CityData) -> list[dict[str, Any]]:
    """One row per river station with a Point geometry, ordered by id."""
    levels, discharges = data.values(LEVEL), data.values(DISCHARGE)
    rows = []
    for station in data.of_type("river_station"):
        geometry = station.get("geometry") or {}
        if geometry.get("type") != "Point":
            continue
        entity_id = station["entity_id"]
        readings = (levels.get(entity_id), discharges.get(entity_id))
        rows.append(ROWS.get(station, readings, lambda station=station, readings=readings: _row(station, readings)))
    return rows


ROWS = Rows()  # per station: remade only when its record or readings changed


def _row(station: dict[str, Any], readings: tuple) -> dict[str, Any]:
    lon, lat = station["geometry"]["coordinates"][:2]
    entity_id = station["entity_id"]
    level, observed_at, source = readings[0] or (None, None, None)
    discharge = readings[1]
    if observed_at is None and discharge is not None:
        observed_at, source = discharge[1], discharge[2]
    thresholds = thresholds_of(station)
    return {
        "entity_id": entity_id,
        "name": station.get("name") or entity_id,
        "zone_id": station.get("zone_id"),
        "lon": round(float(lon), 5),
        "lat": round(float(lat), 5),
        "level_m": level,
        "discharge_m3s": discharge[0] if discharge else None,
        "thresholds": thresholds,
        "river_class": classify_level(level, thresholds),
        "river": (station.get("properties") or {}).get("river"),
        "observed_at": observed_at,
        "source": source or station.get("source"),
    }


def features(data: CityData) -> list[dict[str, Any]]:
    out = []
    for row in station_rows(data):
        properties = {
            "entity_id": row["entity_id"],
            "name": row["name"],
            "zone_id": row["zone_id"],
            "river": row["river"],
            "level_m": row["level_m"],
            "discharge_m3s": row["discharge_m3s"],
            **{name: row["thresholds"].get(name) for name in THRESHOLDS},
            "river_class": row["river_class"].key,
            "river_class_label": row["river_class"].label,
            "colour": row["river_class"].colour,
            "unit": "m",
            **timestamps(row["observed_at"], data.tz),
            "source": row["source"],
        }
        out.append(station_feature(row, properties))
    return out


# threshold -> the class reached at it (its label names the threshold in a hover text)
THRESHOLD_CLASS = dict(zip(THRESHOLDS, REACHED))


def _next_threshold(row: dict[str, Any], t: Translator) -> str:
    """' · 0.48 m below alert', or '' when the level is over the highest threshold it has."""
    for name in THRESHOLDS:
        limit = row["thresholds"].get(name)
        if limit is not None and row["level_m"] < limit:
            below = t.gettext("{distance} m below {threshold}")
            return " · " + below.format(distance=number(limit - row["level_m"], t, 2),
                                        threshold=t.gettext(THRESHOLD_CLASS[name].label))
    return ""


def _hover(row: dict[str, Any], data: CityData, t: Translator) -> str:
    head = f"<b>{row['name']}</b> " + t.gettext("(river station)")
    river_class = row["river_class"]
    if row["level_m"] is None:
        line = t.gettext("no level reading")
    elif river_class is NO_THRESHOLDS:
        line = t.gettext("level {level} m (no thresholds for this station)").format(level=number(row["level_m"], t, 2))
    else:
        label = t.gettext(river_class.label)
        line = f"{label[:1].upper()}{label[1:]}: {number(row['level_m'], t, 2)} m{_next_threshold(row, t)}"
    limits = " · ".join(f"{t.gettext(THRESHOLD_CLASS[name].label)} {number(limit, t, 2)} m" for name in THRESHOLDS
                        if (limit := row["thresholds"].get(name)) is not None)
    parts = [head, line]
    if limits:
        parts.append(limits)
    if row["discharge_m3s"] is not None:
        parts.append(t.gettext("discharge {value} m³/s").format(value=number(row["discharge_m3s"], t)))
    parts.append(f"{local_label(row['observed_at'], data.tz, t)} · {row['source']}")
    return "<br>".join(parts)


HOVER = HoverTexts()  # per (language, gauge): rewritten only when its row changed


def traces(data: CityData, t: Translator | None = None) -> list[dict[str, Any]]:
    t = texts(t)
    rows = station_rows(data)
    sizes = [r["river_class"].marker_size for r in rows]
    lat, lon = [r["lat"] for r in rows], [r["lon"] for r in rows]
    halo = {"type": "scattermap", "mode": "markers", "name": "River stations (outline)", "lat": lat, "lon": lon,
            "marker": {"size": [size + 5 for size in sizes], "color": HALO_COLOUR, "opacity": 0.9},
            "hoverinfo": "skip"}
    return [halo, {
        "type": "scattermap",
        "mode": "markers",
        "name": "River stations",
        "lat": lat,
        "lon": lon,
        "marker": {"size": sizes, "color": [r["river_class"].colour for r in rows], "opacity": 0.95},
        "text": [HOVER.get(t, r["entity_id"], r, data.tz, lambda r=r: _hover(r, data, t)) for r in rows],
        "hovertemplate": "%{text}<extra></extra>",
        "customdata": [r["entity_id"] for r in rows],  # a click opens the station's page (pages/entity.py)
        # over lod.POINTS_MAX stations the map draws a zone's worst station for the zone (layers/lod.py)
        LOD_KEY: lod_marks([r["zone_id"] for r in rows], [size * 1_000 + (r["level_m"] or 0.0)
                                                         for size, r in zip(sizes, rows)],
                           t.gettext("river stations")),
    }]


LAYER = Layer(
    layer_id="rivers",
    label="Rivers",
    title="Rivers — level against each station's thresholds",
    kinds=(LEVEL, DISCHARGE),
    features=features,
    traces=traces,
    patched=("lat", "lon", "marker.size", "marker.color", "text", "customdata"),
    legend=tuple(LegendEntry(c.label, c.colour, "dot") for c in RIVER_CLASSES),
)
