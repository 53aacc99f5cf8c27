"""Warnings layer: external warnings (NWS alerts, CAP messages) drawn as filled areas by severity.

The map gets a fixed set of traces: one filled-area trace per severity (every polygon of that
severity in one lat/lon array, rings separated by None, drawn from the least to the worst so
the worst lies on top) and one marker trace, a marker per warning that has a geometry, that
carries the hover text (plotly does not hover over map fills). Interior rings (holes) are not
drawn; the GeoJSON keeps them. A warning known only by named areas (NWS zone codes, CAP
geocodes, no polygon) is not on the map: it is in the public GeoJSON as a feature with a null
geometry, with its area description, geocodes and zone ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import shapely
from shapely.geometry import shape

from opscentre.i18n import Translator
from opscentre.layers.base import CityData, Layer, LegendEntry, iso_local, iso_utc, local_label, texts, timestamps
from opscentre.layers.stages import STAGE_COLOURS

CATEGORY = "warning"
# CAP severity -> (label, colour), from the least to the worst: the drawing order.
SEVERITY_STYLES: dict[str, tuple[str, str]] = {
    "unknown": ("severity unknown", "#8a94a6"),
    "minor": ("minor", STAGE_COLOURS[2]),
    "moderate": ("moderate", STAGE_COLOURS[3]),
    "severe": ("severe", STAGE_COLOURS[4]),
    "extreme": ("extreme", STAGE_COLOURS[5]),
}
FILL_ALPHA = 0.22
MAX_HOVER_TITLE = 110


def severity_key(event: Mapping[str, Any]) -> str:
    severity = event.get("severity")
    return severity if severity in SEVERITY_STYLES else "unknown"


def _round(coordinates: Any) -> Any:
    if coordinates and isinstance(coordinates[0], (int, float)):
        return [round(float(c), 5) for c in coordinates[:2]]
    return [_round(c) for c in coordinates]


def _rounded_geometry(geometry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not geometry:
        return None
    if geometry.get("type") == "GeometryCollection":
        return {"type": "GeometryCollection",
                "geometries": [_rounded_geometry(g) for g in geometry.get("geometries") or []]}
    return {"type": geometry.get("type"), "coordinates": _round(geometry.get("coordinates") or [])}


def _times(event: Mapping[str, Any], tz) -> dict[str, str | None]:
    out: dict[str, str | None] = dict(timestamps(event.get("observed_at"), tz))
    for name in ("starts_at", "ends_at"):
        out[name] = iso_utc(event.get(name))
        out[f"{name}_local"] = iso_local(event.get(name), tz)
    return out


def features(data: CityData) -> list[dict[str, Any]]:
    names = data.zones.name_by_id
    out = []
    for event in data.events_of(CATEGORY):
        key = severity_key(event)
        label, colour = SEVERITY_STYLES[key]
        zone_ids = list(event.get("zone_ids") or [])
        properties = {
            **(event.get("properties") or {}),
            "event_id": event["event_id"],
            "source": event.get("source"),
            "event_type": event.get("event_type"),
            "title": event.get("title"),
            "severity": key,
            "severity_label": label,
            "colour": colour,
            "zone_ids": zone_ids,
            "zone_names": [names.get(z, z) for z in zone_ids],
            "references": list(event.get("references") or []),
            "on_map": bool(event.get("geometry")),
            **_times(event, data.tz),
        }
        out.append({"type": "Feature", "id": f"{event.get('source')}:{event['event_id']}",
                    "properties": properties, "geometry": _rounded_geometry(event.get("geometry"))})
    return out


def _rings(geometry: Mapping[str, Any]) -> list[list[list[float]]]:
    """The outer rings of every polygon in a GeoJSON geometry (holes are not drawn)."""
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates") or []
    if kind == "Polygon":
        return [coordinates[0]] if coordinates else []
    if kind == "MultiPolygon":
        return [polygon[0] for polygon in coordinates if polygon]
    if kind == "GeometryCollection":
        return [ring for part in geometry.get("geometries") or [] for ring in _rings(part)]
    return []


def _anchor(geometry: Mapping[str, Any]) -> tuple[float, float] | None:
    """(lon, lat) of a point inside the warning's area, where its hover marker sits."""
    try:
        point = shape(geometry).representative_point()
    except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException):
        return None
    return (round(point.x, 5), round(point.y, 5)) if not point.is_empty else None


def _hover(event: Mapping[str, Any], data: CityData, t: Translator) -> str:
    label = t.gettext(SEVERITY_STYLES[severity_key(event)][0])
    title = event.get("title") or ""
    if len(title) > MAX_HOVER_TITLE:
        title = title[: MAX_HOVER_TITLE - 1].rstrip() + "…"
    properties = event.get("properties") or {}
    who = properties.get("sender_name") or event.get("source")
    until = (t.gettext("until {time}").format(time=local_label(event["ends_at"], data.tz, t)) if event.get("ends_at")
             else t.gettext("until further notice"))
    zones = len(event.get("zone_ids") or [])
    area = " · " + t.ngettext("{n} zone", "{n} zones", zones).format(n=zones) if zones else ""
    return f"<b>{event.get('event_type')}</b> ({label})<br>{title}<br>{until}{area}<br>{who}"


def traces(data: CityData, t: Translator | None = None) -> list[dict[str, Any]]:
    t = texts(t)
    warnings = [e for e in data.events_of(CATEGORY) if e.get("geometry")]
    fills = []
    for key, (label, colour) in SEVERITY_STYLES.items():
        lat: list[float | None] = []
        lon: list[float | None] = []
        for event in warnings:
            if severity_key(event) != key:
                continue
            for ring in _rings(event["geometry"]):
                if lat:
                    lat.append(None)
                    lon.append(None)
                rounded = _round(ring)
                lon.extend(c[0] for c in rounded)
                lat.extend(c[1] for c in rounded)
        red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        fills.append({"type": "scattermap", "mode": "lines", "name": f"Warnings: {label}", "lat": lat, "lon": lon,
                      "fill": "toself", "fillcolor": f"rgba({red},{green},{blue},{FILL_ALPHA})",
                      "line": {"color": colour, "width": 2}, "hoverinfo": "skip"})
    anchored = [(event, point) for event in warnings if (point := _anchor(event["geometry"])) is not None]
    hover = {
        "type": "scattermap",
        "mode": "markers",
        "name": "Warnings",
        "lon": [point[0] for _, point in anchored],
        "lat": [point[1] for _, point in anchored],
        "marker": {"size": 11, "color": [SEVERITY_STYLES[severity_key(e)][1] for e, _ in anchored], "opacity": 0.95},
        "text": [_hover(e, data, t) for e, _ in anchored],
        "hovertemplate": "%{text}<extra></extra>",
    }
    return [*fills, hover]


LAYER = Layer(
    layer_id="warnings",
    label="Warnings",
    title="Warnings — NWS / CAP, by severity",
    kinds=(),
    features=features,
    traces=traces,
    patched=("lat", "lon", "text", "marker.color"),
    legend=tuple(LegendEntry(label, colour, "area") for label, colour in reversed(SEVERITY_STYLES.values())),
    event_categories=(CATEGORY,),
)
