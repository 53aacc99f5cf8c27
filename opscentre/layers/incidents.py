"""Incidents layer (operator console only): each open incident's area — the outline of the
bairros its alerts are in — and a marker inside it, coloured by the incident's severity on the
stage scale, with its alerts and since when in the hover.

Operator-only (`public=False`): an incident groups internal alerts too. Inputs: the open
incidents in `CityData.incidents` ({id, severity, zone_ids, alerts, opened_at, title}).
Two traces, always: the outlines, then the markers.
"""

from __future__ import annotations

from typing import Any

import shapely

from opscentre.i18n import Translator
from opscentre.layers.base import CityData, Layer, LegendEntry, local_label, rounded_line, texts
from opscentre.layers.stages import stage_colour

SEVERITY_LEVEL = {"advisory": 2, "warning": 3, "critical": 4, "emergency": 5}
OUTLINE = "#f4f6fa"


def incident_rows(data: CityData) -> list[dict[str, Any]]:
    """One row per open incident that has zones of this city: its area and an anchor inside it."""
    geometry_of = dict(zip(data.zones.ids, data.zones.geometries))
    rows = []
    for incident in data.incidents:
        shapes = [geometry_of[z] for z in incident.get("zone_ids") or [] if z in geometry_of]
        if not shapes:
            continue  # city-wide or feed incidents have no area to draw
        area = shapely.union_all(shapes)
        anchor = area.representative_point()
        rows.append({**incident, "area": area, "lon": round(anchor.x, 5), "lat": round(anchor.y, 5),
                     "colour": stage_colour(SEVERITY_LEVEL.get(str(incident.get("severity")), 1))})
    rows.sort(key=lambda r: r["id"])
    return rows


def _outline(area: Any) -> list[list[float]]:
    polygons = getattr(area, "geoms", [area])
    return [rounded_line(list(p.exterior.coords)) for p in polygons if p.geom_type == "Polygon"]


def _hover(row: dict[str, Any], data: CityData, t: Translator) -> str:
    names = [data.zones.name_by_id.get(z, z) for z in row.get("zone_ids") or []]
    where = ", ".join(names[:4])
    if len(names) > 4:
        where = t.gettext("{names} and {n} more").format(names=where, n=len(names) - 4)
    head = t.gettext("Incident {id}").format(id=row["id"])
    alerts = int(row.get("alerts", 0))
    count = t.ngettext("{n} alert", "{n} alerts", alerts).format(n=alerts)
    since = t.gettext("since {time}").format(time=local_label(row.get("opened_at"), data.tz, t))
    return f"<b>{head}</b> ({row.get('severity')})<br>{row.get('title') or ''}<br>{count} · {where}<br>{since}"


def features(data: CityData) -> list[dict[str, Any]]:
    out = []
    for row in incident_rows(data):
        properties = {key: row.get(key) for key in ("id", "severity", "title", "alerts", "zone_ids")}
        properties["colour"] = row["colour"]
        out.append({"type": "Feature", "id": row["id"], "properties": properties,
                    "geometry": shapely.geometry.mapping(row["area"])})
    return out


def traces(data: CityData, t: Translator | None = None) -> list[dict[str, Any]]:
    t = texts(t)
    rows = incident_rows(data)
    lat: list[float | None] = []
    lon: list[float | None] = []
    for row in rows:
        for ring in _outline(row["area"]):
            if lat:
                lat.append(None)
                lon.append(None)
            lon.extend(c[0] for c in ring)
            lat.extend(c[1] for c in ring)
    outline = {"type": "scattermap", "mode": "lines", "name": "Incident areas", "lat": lat, "lon": lon,
               "line": {"color": OUTLINE, "width": 2.5}, "hoverinfo": "skip"}
    markers = {"type": "scattermap", "mode": "markers", "name": "Incidents",
               "lat": [r["lat"] for r in rows], "lon": [r["lon"] for r in rows],
               "marker": {"size": 16, "color": [r["colour"] for r in rows], "opacity": 0.95},
               "text": [_hover(r, data, t) for r in rows], "hovertemplate": "%{text}<extra></extra>"}
    return [outline, markers]


LAYER = Layer(
    layer_id="incidents",
    label="Incidents",
    title="Incidents — open, by severity (outline: their bairros)",
    kinds=(),
    features=features,
    traces=traces,
    patched=("lat", "lon", "marker.color", "text"),
    legend=tuple(LegendEntry(name, stage_colour(level), "dot") for name, level in SEVERITY_LEVEL.items()),
    public=False,
)
