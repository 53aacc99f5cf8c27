"""Zones layer: each zone coloured by the worst 15-minute rain class of the gauges that speak
for it (its own gauges, or the nearest one), on the stage colour scale."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opscentre.core.geo import Zones
from opscentre.i18n import Translator
from opscentre.i18n.vocabulary import HAZARDS, SEVERITIES
from opscentre.layers.base import CityData, Layer, LegendEntry, number, short_local_times, texts, timestamps
from opscentre.layers.rain_classes import NO_DATA, RAIN_CLASSES, RainClass, classify_rain
from opscentre.layers.stages import stage_colour
from opscentre.layers.zone_gauges import gauge_points, zone_gauges

KIND = "rain_mm"
UNIT = "mm/15 min"
LEVELS = [NO_DATA, *RAIN_CLASSES]  # z of the map is the level: 0 (no data) .. 5
# Map fill per level: the stage colours, except "no rain" is a quiet dark green so that what
# is drawn over the zones (roads in free-flow green, gauges) stays readable.
MAP_FILL = {rain_class.level: rain_class.colour for rain_class in LEVELS} | {1: "#2f5a47"}


def zone_rain(data: CityData) -> list[dict[str, Any]]:
    """Per zone, in zone order: the worst class, its value, and the gauge it came from."""
    readings = data.values(KIND)
    gauges = [g for g in data.of_type("rain_gauge") if g["entity_id"] in readings]
    mapping = zone_gauges(data.zones, _points(gauges))
    names = {g["entity_id"]: g.get("name") or g["entity_id"] for g in gauges}
    rows = []
    for zone_id, zone_name in zip(data.zones.ids, data.zones.names):
        source = mapping.get(zone_id)
        candidates = [(readings[g][0], g) for g in (source.gauge_ids if source else ()) if g in readings]
        row: dict[str, Any] = {"zone_id": zone_id, "name": zone_name, "rain_class": NO_DATA, "rain_mm": None,
                               "gauge_id": None, "gauge_name": None, "from_nearest_gauge": None,
                               "observed_at": None, "source": None}
        if candidates:
            value, gauge_id = max(candidates)
            _, observed_at, feed = readings[gauge_id]
            row.update(rain_class=classify_rain(value, data.rain_classes), rain_mm=value, gauge_id=gauge_id,
                       gauge_name=names.get(gauge_id), from_nearest_gauge=source.nearest,
                       observed_at=observed_at, source=feed)
        rows.append(row)
    return rows


_held_points: list = [None, None]  # [the gauges (list of records), their gauge_points]


def _points(gauges: list) -> tuple:
    """gauge_points(gauges), kept while the same records are given (compared by identity, in C:
    the registry's records are the same objects until it changes)."""
    if _held_points[0] is None or len(_held_points[0]) != len(gauges) or \
            any(a is not b for a, b in zip(_held_points[0], gauges)):
        _held_points[:] = [gauges, gauge_points(gauges)]
    return _held_points[1]


# Alert severities on COR's stage colour scale: a zone with alerts gets a thick outline in the
# colour of its worst one.
SEVERITY_LEVEL = {"advisory": 2, "warning": 3, "critical": 4, "emergency": 5}
OUTLINE = "#0b1220"


def zone_alerts(data: CityData) -> dict[str, list[Mapping[str, Any]]]:
    """zone id -> its firing alerts, worst first (alerts on an entity count for the entity's zone)."""
    by_zone: dict[str, list[Mapping[str, Any]]] = {}
    for alert in data.alerts:
        zone_id = alert.get("zone_id") or (data.entities.get(alert.get("entity_id") or "") or {}).get("zone_id")
        if zone_id:
            by_zone.setdefault(zone_id, []).append(alert)
    for alerts in by_zone.values():
        alerts.sort(key=lambda a: -SEVERITY_LEVEL.get(str(a.get("severity")), 0))
    return by_zone


def _alert_level(alerts: list[Mapping[str, Any]]) -> int:
    return SEVERITY_LEVEL.get(str(alerts[0].get("severity")), 0) if alerts else 0


def features(data: CityData) -> list[dict[str, Any]]:
    geometries = [f["geometry"] for f in data.zones.geojson["features"]]
    alerts = zone_alerts(data)
    out = []
    for row, geometry in zip(zone_rain(data), geometries):
        here = alerts.get(row["zone_id"], [])
        rain_class: RainClass = row["rain_class"]
        properties = {
            "zone_id": row["zone_id"],
            "name": row["name"],
            "rain_class": rain_class.key,
            "rain_class_label": rain_class.label,
            "rain_mm": row["rain_mm"],
            "unit": UNIT,
            "level": rain_class.level,
            "colour": rain_class.colour,
            "gauge_id": row["gauge_id"],
            "gauge_name": row["gauge_name"],
            "from_nearest_gauge": row["from_nearest_gauge"],
            "alert_level": _alert_level(here),  # 0 none; 2..5 on the stage scale (advisory..emergency)
            "alert_severity": here[0].get("severity") if here else None,
            "alert_colour": stage_colour(_alert_level(here)) if here else None,
            "alerts": [{"id": a.get("id"), "rule": a.get("rule"), "severity": a.get("severity"),
                        "summary": a.get("summary")} for a in here],
            **timestamps(row["observed_at"], data.tz),
            "source": row["source"],
        }
        out.append({"type": "Feature", "id": row["zone_id"], "properties": properties, "geometry": geometry})
    return out


_map_geojson: dict[int, dict[str, Any]] = {}


def map_geojson(zones: Zones) -> dict[str, Any]:
    """The zones as the map draws them (5 decimals ≈ 1 m), built once per Zones object."""
    if id(zones) not in _map_geojson:
        _map_geojson[id(zones)] = {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "id": f["id"], "properties": {},
                 "geometry": {"type": f["geometry"]["type"], "coordinates": _round(f["geometry"]["coordinates"])}}
                for f in zones.geojson["features"]
            ],
        }
    return _map_geojson[id(zones)]


def _round(coordinates: Any) -> Any:
    if coordinates and isinstance(coordinates[0], (int, float)):
        return [round(float(c), 5) for c in coordinates[:2]]
    return [_round(c) for c in coordinates]


def _hover_values(rows: list[dict[str, Any]], data: CityData, t: Translator) -> tuple[list[list[str]], str]:
    """Per zone [class and value, the gauge it came from, local time]; the UTC offset once."""
    times, offset = short_local_times([row["observed_at"] for row in rows], data.tz, t)
    no_reading = t.gettext("no rain gauge reading")
    values = []
    for row, time in zip(rows, times):
        if row["rain_mm"] is None:
            values.append([no_reading, "", ""])
            continue
        via = t.gettext("nearest gauge {name}") if row["from_nearest_gauge"] else t.gettext("gauge {name}")
        label = t.gettext(row["rain_class"].label)
        values.append([f"{label}: {number(row['rain_mm'], t)} {UNIT}", via.format(name=row["gauge_name"]),
                       f"{time} · {row['source']}"])
    return values, offset


def _colourscale() -> list[list[Any]]:
    steps = len(LEVELS)
    scale = []
    for level, rain_class in enumerate(LEVELS):
        scale.append([level / steps, MAP_FILL[rain_class.level]])
        scale.append([(level + 1) / steps, MAP_FILL[rain_class.level]])
    return scale


def _alert_words(alert: Mapping[str, Any], t: Translator) -> str:
    """An alert in the hover: "Alerta: Chuva forte" from the catalogue when the reader gave its
    hazard (`topic`: the public map does), else the rule's own summary (the console's operators)."""
    if alert.get("topic"):
        level = t.gettext(SEVERITIES.get(str(alert.get("severity")), SEVERITIES["warning"]))
        return t.gettext("{level}: {hazard}").format(
            level=level, hazard=t.gettext(HAZARDS.get(str(alert["topic"]), HAZARDS["other"])))
    return str(alert.get("summary") or alert.get("rule"))


def traces(data: CityData, t: Translator | None = None) -> list[dict[str, Any]]:
    t = texts(t)
    rows = zone_rain(data)
    hover, offset = _hover_values(rows, data, t)
    alerts = zone_alerts(data)
    for row, values in zip(rows, hover):
        here = alerts.get(row["zone_id"], [])
        more = " " + t.gettext("(+{n} more)").format(n=len(here) - 1) if len(here) > 1 else ""
        values.append(f"<br>⚠ {_alert_words(here[0], t)}{more}" if here else "")
    levels = [_alert_level(alerts.get(row["zone_id"], [])) for row in rows]
    return [{
        "type": "choroplethmap",
        "name": "Zones",
        "geojson": map_geojson(data.zones),
        "locations": list(data.zones.ids),
        "z": [row["rain_class"].level for row in rows],
        "zmin": -0.5,
        "zmax": len(LEVELS) - 0.5,
        "colorscale": _colourscale(),
        "showscale": False,
        "marker": {"opacity": 0.55, "line": {"width": [3.0 if level else 0.7 for level in levels],
                                             "color": [stage_colour(level) if level else OUTLINE for level in levels]}},
        "text": [f"<b>{row['name']}</b>" for row in rows],
        "customdata": hover,
        "meta": offset,
        "hovertemplate": "%{text}<br>%{customdata[0]}<br>%{customdata[1]}<br>%{customdata[2]} (%{meta})"
                         "%{customdata[3]}<extra></extra>",
    }]


LAYER = Layer(
    layer_id="zones",
    label="Zones",
    title="Zones — worst 15-min rain (outline: worst alert)",
    kinds=(KIND,),
    features=features,
    traces=traces,
    patched=("z", "text", "customdata", "meta", "marker.line.width", "marker.line.color"),
    legend=tuple(LegendEntry(c.label, MAP_FILL[c.level], "area") for c in LEVELS),
)
