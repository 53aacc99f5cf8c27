"""Transit layer: vehicles at their last reported position, and the service alerts in force.

Vehicles (events of category `vehicle`) are dots in their route's colour — a fixed palette
picked by a checksum of the route id, so a route keeps its colour across ticks and processes.
Under each dot an outline marks the vehicle's route: dark normally, orange when a service
alert (category `transit`) names that route. Service alerts carry no position (stops' places
are in the static GTFS), so in the GeoJSON they are features with a null geometry, listed
after the vehicles; on the map they show in the hover of the vehicles of the routes they name.

Layers have no clock, so a vehicle's age is given against the newest position in the layer
(the feed's own "now"): a vehicle 3 minutes behind the rest has stopped reporting.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from opscentre.i18n import N_, Translator
from opscentre.layers.base import CityData, Layer, LegendEntry, iso_utc, local_label, texts, timestamps

VEHICLE = "vehicle"
ALERT = "transit"
ROUTE_PALETTE = ("#4e79a7", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#86bcb6",
                 "#d4a6c8", "#a0cbe8", "#8cd17d", "#f1ce63")
NO_ROUTE_COLOUR = "#bab0ac"
OUTLINE_COLOUR = "#0a1422"
ALERTED_COLOUR = "#f28c1b"
MARKER_SIZE = 10
STALE_AFTER_S = 120  # behind the newest position by more than this: said in the hover

# GTFS-Realtime words in a hover, in the page's language (a value not listed: its enum, lower case).
VEHICLE_STATUS = {  # VehicleStopStatus -> (without a stop, with one)
    "INCOMING_AT": (N_("incoming at"), N_("incoming at stop {stop}")),
    "STOPPED_AT": (N_("stopped at"), N_("stopped at stop {stop}")),
    "IN_TRANSIT_TO": (N_("in transit to"), N_("in transit to stop {stop}")),
}
OCCUPANCY = {
    "EMPTY": N_("empty"), "MANY_SEATS_AVAILABLE": N_("many seats available"),
    "FEW_SEATS_AVAILABLE": N_("few seats available"), "STANDING_ROOM_ONLY": N_("standing room only"),
    "CRUSHED_STANDING_ROOM_ONLY": N_("crushed standing room only"), "FULL": N_("full"),
    "NOT_ACCEPTING_PASSENGERS": N_("not accepting passengers"), "NO_DATA_AVAILABLE": N_("no data available"),
    "NOT_BOARDABLE": N_("not boardable"),
}
EFFECTS = {  # a service alert's Effect
    "NO_SERVICE": N_("no service"), "REDUCED_SERVICE": N_("reduced service"),
    "SIGNIFICANT_DELAYS": N_("significant delays"), "DETOUR": N_("detour"),
    "ADDITIONAL_SERVICE": N_("additional service"), "MODIFIED_SERVICE": N_("modified service"),
    "OTHER_EFFECT": N_("other effect"), "UNKNOWN_EFFECT": N_("unknown effect"), "STOP_MOVED": N_("stop moved"),
    "NO_EFFECT": N_("no effect"), "ACCESSIBILITY_ISSUE": N_("accessibility issue"),
}


def _enum_words(value: str, table: dict[str, str], t: Translator) -> str:
    found = table.get(value.upper())
    return t.gettext(found) if found else value.replace("_", " ").lower()


def route_colour(route_id: str | None) -> str:
    if not route_id:
        return NO_ROUTE_COLOUR
    return ROUTE_PALETTE[zlib.crc32(route_id.encode()) % len(ROUTE_PALETTE)]


def alerts_by_route(data: CityData) -> dict[str, list[dict[str, Any]]]:
    by_route: dict[str, list[dict[str, Any]]] = {}
    for alert in data.events_of(ALERT):
        for route in (alert.get("properties") or {}).get("routes") or ():
            by_route.setdefault(route, []).append(alert)
    return by_route


def vehicle_rows(data: CityData) -> list[dict[str, Any]]:
    """One row per vehicle with a Point geometry, in the store's (source, event id) order."""
    alerted = alerts_by_route(data)
    vehicles = [v for v in data.events_of(VEHICLE) if (v.get("geometry") or {}).get("type") == "Point"]
    newest = max((v["observed_at"] for v in vehicles), default=None)
    rows = []
    for vehicle in vehicles:
        properties = vehicle.get("properties") or {}
        lon, lat = vehicle["geometry"]["coordinates"][:2]
        route = properties.get("route_id")
        rows.append({
            "event_id": vehicle["event_id"],
            "title": vehicle.get("title") or vehicle["event_id"],
            "properties": properties,
            "route_id": route,
            "lon": round(float(lon), 5),
            "lat": round(float(lat), 5),
            "colour": route_colour(route),
            "alerts": alerted.get(route, []) if route else [],
            "observed_at": vehicle["observed_at"],
            "behind_s": newest - vehicle["observed_at"],
            "zone_ids": vehicle.get("zone_ids") or [],
            "source": vehicle.get("source"),
        })
    return rows


def features(data: CityData) -> list[dict[str, Any]]:
    out = []
    for row in vehicle_rows(data):
        out.append({"type": "Feature", "id": row["event_id"], "properties": {
            "feature_type": "vehicle",
            "event_id": row["event_id"],
            "title": row["title"],
            **{k: row["properties"].get(k) for k in ("route_id", "trip_id", "vehicle_id", "label", "current_status",
                                                      "stop_id", "occupancy", "bearing", "speed_ms")},
            "colour": row["colour"],
            "route_alerts": [a["event_id"] for a in row["alerts"]],
            "behind_newest_s": round(row["behind_s"], 1),
            "zone_ids": row["zone_ids"],
            **timestamps(row["observed_at"], data.tz),
            "source": row["source"],
        }, "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]}})
    for alert in data.events_of(ALERT):
        properties = alert.get("properties") or {}
        out.append({"type": "Feature", "id": alert["event_id"], "properties": {
            "feature_type": "service_alert",
            "event_id": alert["event_id"],
            "title": alert.get("title"),
            "effect": properties.get("effect") or alert.get("event_type"),
            "cause": properties.get("cause"),
            "severity": alert.get("severity"),
            **{k: properties.get(k) or [] for k in ("routes", "stops", "agencies", "trips")},
            "description": properties.get("description"),
            "url": properties.get("url"),
            "starts_at": iso_utc(alert.get("starts_at")),
            "ends_at": iso_utc(alert.get("ends_at")),
            "zone_ids": alert.get("zone_ids") or [],
            **timestamps(alert.get("observed_at"), data.tz),
            "source": alert.get("source"),
        }, "geometry": alert.get("geometry")})
    return out


def _hover(row: dict[str, Any], data: CityData, t: Translator) -> str:
    properties = row["properties"]
    lines = [f"<b>{row['title']}</b>"]
    status = properties.get("current_status")
    details = []
    if status:
        stop = properties.get("stop_id")
        words = VEHICLE_STATUS.get(str(status).upper())
        if words:
            details.append(t.gettext(words[1]).format(stop=stop) if stop else t.gettext(words[0]))
        else:
            details.append(str(status).replace("_", " ").lower() + (f" stop {stop}" if stop else ""))
    if properties.get("speed_ms") is not None:
        details.append(f"{properties['speed_ms'] * 3.6:.0f} km/h")
    if properties.get("occupancy"):
        details.append(_enum_words(str(properties["occupancy"]), OCCUPANCY, t))
    if details:
        lines.append(" · ".join(details))
    for alert in row["alerts"][:3]:
        effect = _enum_words(str(alert.get("event_type", "")), EFFECTS, t)
        lines.append(f"⚠ {effect}: {alert.get('title', '')}"[:160])
    local = datetime.fromtimestamp(row["observed_at"], data.tz)
    zone = local_label(row["observed_at"], data.tz).rsplit("(", 1)[1].rstrip(")")
    line = t.gettext("position at {time}").format(time=f"{local:%H:%M:%S} ({zone})")
    if row["behind_s"] > STALE_AFTER_S:
        line += " — " + t.gettext("{n} min behind the newest").format(n=f"{row['behind_s'] / 60:.0f}")
    lines.append(f"{line} · {row['source']}")
    return "<br>".join(lines)


def traces(data: CityData, t: Translator | None = None) -> list[dict[str, Any]]:
    t = texts(t)
    rows = vehicle_rows(data)
    lat, lon = [r["lat"] for r in rows], [r["lon"] for r in rows]
    outline = {"type": "scattermap", "mode": "markers", "name": "Transit vehicles (route alert)", "lat": lat,
               "lon": lon, "hoverinfo": "skip",
               "marker": {"size": [MARKER_SIZE + (8 if r["alerts"] else 4) for r in rows],
                          "color": [ALERTED_COLOUR if r["alerts"] else OUTLINE_COLOUR for r in rows], "opacity": 0.9}}
    return [outline, {
        "type": "scattermap",
        "mode": "markers",
        "name": "Transit vehicles",
        "lat": lat,
        "lon": lon,
        "marker": {"size": MARKER_SIZE, "color": [r["colour"] for r in rows], "opacity": 0.95},
        "text": [_hover(r, data, t) for r in rows],
        "hovertemplate": "%{text}<extra></extra>",
    }]


LAYER = Layer(
    layer_id="transit",
    label="Transit",
    title="Transit — vehicles by route; service alerts",
    kinds=(),
    features=features,
    traces=traces,
    patched=("lat", "lon", "marker.size", "marker.color", "text"),
    legend=(LegendEntry("vehicle (colour: its route)", ROUTE_PALETTE[0], "dot"),
            LegendEntry("route with a service alert", ALERTED_COLOUR, "dot")),
    event_categories=(VEHICLE, ALERT),
)
