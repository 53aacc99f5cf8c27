"""Outages layer: utility outages as markers sized by the customers they affect, with each
zone's total (the `outage_customers` reading of its zone entity) in the hover and the GeoJSON.

Inputs: `outage` events (a Point, or a Polygon / MultiPolygon area whose outline is drawn and
whose marker sits at a point inside it) and the per-zone `outage_customers` readings.
Two traces, always: the outlines of outage areas, then the markers (biggest drawn first, so a
small outage next to a big one stays visible).
"""

from __future__ import annotations

import math
from typing import Any

from shapely.geometry import shape

from opscentre.i18n import Translator
from opscentre.layers.base import CityData, Layer, LegendEntry, local_label, number, rounded_line, texts, timestamps

KIND = "outage_customers"
EVENTS = "outage"
# (lower bound of customers affected, label, colour)
CUSTOMER_CLASSES: tuple[tuple[int, str, str], ...] = (
    (0, "< 50 customers", "#f2d13a"),
    (50, "50–499", "#f59f2a"),
    (500, "500–4,999", "#ea5a2a"),
    (5000, "5,000 or more", "#c81e3c"),
)
OUTLINE_COLOUR = "#f59f2a"


def customer_class(customers: float) -> tuple[int, str, str]:
    return next(c for c in reversed(CUSTOMER_CLASSES) if customers >= c[0])


def marker_size(customers: float) -> float:
    """7 px for one customer, ~18 px for a thousand, at most 28."""
    return round(min(28.0, 6 + 4 * math.log10(1 + max(0.0, customers))), 1)


def zone_totals(data: CityData) -> dict[str, dict[str, Any]]:
    """zone id -> {customers, observed_at, source}: the latest `outage_customers` of each zone
    entity (summed when several sources report a zone)."""
    out: dict[str, dict[str, Any]] = {}
    for entity_id, (value, observed_at, source) in data.values(KIND).items():
        entity = data.entities.get(entity_id) or {}
        zone_id = entity.get("zone_id")
        if entity.get("entity_type") != "zone" or not zone_id:
            continue
        total = out.setdefault(zone_id, {"customers": 0.0, "observed_at": observed_at, "sources": set()})
        total["customers"] += value
        total["observed_at"] = max(total["observed_at"], observed_at)
        total["sources"].add(source)
    for total in out.values():
        total["source"] = ", ".join(sorted(total.pop("sources")))
    return out


def outage_rows(data: CityData) -> list[dict[str, Any]]:
    """One row per outage event with a usable geometry, biggest first (then by id)."""
    rows = []
    for event in data.events_of(EVENTS):
        geometry = event.get("geometry") or {}
        anchor, outlines = _place(geometry)
        if anchor is None:
            continue
        props = event.get("properties") or {}
        customers = props.get("customers")
        customers = float(customers) if isinstance(customers, (int, float)) and not isinstance(customers, bool) else 0.0
        rows.append({
            "event_id": event["event_id"],
            "title": event.get("title") or "Outage",
            "customers": customers,
            "cause": props.get("cause"),
            "substation": props.get("substation"),
            "feeder": props.get("feeder"),
            "zone_ids": list(event.get("zone_ids") or []),
            "lon": anchor[0],
            "lat": anchor[1],
            "outlines": outlines,
            "geometry": geometry,
            "starts_at": event.get("starts_at"),
            "observed_at": event.get("observed_at"),
            "source": event.get("source"),
        })
    rows.sort(key=lambda r: (-r["customers"], r["event_id"]))
    return rows


def _place(geometry: dict[str, Any]) -> tuple[tuple[float, float] | None, list[list[list[float]]]]:
    """(marker position, outline rings) of a Point / Polygon / MultiPolygon; (None, []) if unusable."""
    kind = geometry.get("type")
    try:
        if kind == "Point":
            lon, lat = (round(float(c), 5) for c in geometry["coordinates"][:2])
            return (lon, lat), []
        if kind in ("Polygon", "MultiPolygon"):
            polygons = geometry["coordinates"] if kind == "MultiPolygon" else [geometry["coordinates"]]
            rings = [rounded_line(ring) for polygon in polygons for ring in polygon]
            point = shape(geometry).representative_point()
            return (round(point.x, 5), round(point.y, 5)), rings
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        pass
    return None, []


def features(data: CityData) -> list[dict[str, Any]]:
    totals = zone_totals(data)
    out = []
    for row in outage_rows(data):
        zone_id = row["zone_ids"][0] if row["zone_ids"] else None
        properties = {
            "event_id": row["event_id"],
            "kind": "outage",
            "title": row["title"],
            "customers": row["customers"],
            "cause": row["cause"],
            "substation": row["substation"],
            "feeder": row["feeder"],
            "customer_class": customer_class(row["customers"])[1],
            "zone_ids": row["zone_ids"],
            "zone_id": zone_id,
            "zone_customers": totals[zone_id]["customers"] if zone_id in totals else None,
            "starts_at": timestamps(row["starts_at"], data.tz)["observed_at"],
            **timestamps(row["observed_at"], data.tz),
            "source": row["source"],
        }
        geometry = row["geometry"] if row["outlines"] else {"type": "Point", "coordinates": [row["lon"], row["lat"]]}
        out.append({"type": "Feature", "id": row["event_id"], "properties": properties, "geometry": geometry})
    # Each zone's total, at a point inside the zone, in zone order.
    for zone_id, name, (lon, lat) in zip(data.zones.ids, data.zones.names, data.zones.representative_points):
        if zone_id not in totals:
            continue
        total = totals[zone_id]
        out.append({
            "type": "Feature",
            "id": f"zone:{zone_id}",
            "properties": {"kind": "zone_total", "zone_id": zone_id, "name": name, "customers": total["customers"],
                           **timestamps(total["observed_at"], data.tz), "source": total["source"]},
            "geometry": {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]},
        })
    return out


def _customers(value: float, t: Translator) -> str:
    return number(value, t, 0, grouped=True)


def _hover(row: dict[str, Any], totals: dict[str, dict[str, Any]], data: CityData, t: Translator) -> str:
    named = {"substation": t.gettext("substation {name}"), "feeder": t.gettext("feeder {name}")}
    where = " · ".join(named[k].format(name=row[k]) for k in ("substation", "feeder") if row[k])
    count = round(row["customers"])
    head = t.ngettext("{n} customer without power", "{n} customers without power", count)
    lines = ["<b>" + head.format(n=_customers(row["customers"], t)) + "</b>"]
    if row["cause"]:
        lines.append(str(row["cause"]))
    since = (t.gettext("since {time}").format(time=local_label(row["starts_at"], data.tz, t))
             if row["starts_at"] is not None else t.gettext("start unknown"))
    lines.append(since + (f" · {where}" if where else ""))
    for zone_id in row["zone_ids"][:3]:
        name = data.zones.name_by_id.get(zone_id, zone_id)
        total = totals.get(zone_id)
        if total:
            out = t.ngettext("{zone}: {n} customer out in the zone", "{zone}: {n} customers out in the zone",
                             round(total["customers"]))
            lines.append(out.format(zone=name, n=_customers(total["customers"], t)))
        else:
            lines.append(f"{name}")
    lines.append(str(row["source"]))
    return "<br>".join(lines)


def traces(data: CityData, t: Translator | None = None) -> list[dict[str, Any]]:
    t = texts(t)
    rows = outage_rows(data)
    totals = zone_totals(data)
    lat: list[float | None] = []
    lon: list[float | None] = []
    for ring in (ring for row in rows for ring in row["outlines"]):
        if lat:
            lat.append(None)
            lon.append(None)
        lon.extend(c[0] for c in ring)
        lat.extend(c[1] for c in ring)
    outlines = {"type": "scattermap", "mode": "lines", "name": "Outage areas", "lat": lat, "lon": lon,
                "line": {"color": OUTLINE_COLOUR, "width": 1.5}, "hoverinfo": "skip"}
    markers = {
        "type": "scattermap",
        "mode": "markers",
        "name": "Outages",
        "lat": [r["lat"] for r in rows],
        "lon": [r["lon"] for r in rows],
        "marker": {"size": [marker_size(r["customers"]) for r in rows],
                   "color": [customer_class(r["customers"])[2] for r in rows], "opacity": 0.85},
        "text": [_hover(r, totals, data, t) for r in rows],
        "hovertemplate": "%{text}<extra></extra>",
    }
    return [outlines, markers]


LAYER = Layer(
    layer_id="outages",
    label="Outages",
    title="Power outages — customers affected",
    kinds=(KIND,),
    features=features,
    traces=traces,
    patched=("lat", "lon", "marker.size", "marker.color", "text"),
    legend=tuple(LegendEntry(label, colour, "dot") for _, label, colour in CUSTOMER_CLASSES),
    event_categories=(EVENTS,),
)
