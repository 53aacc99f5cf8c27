"""Traffic layer: road segments and reported jams coloured by congestion (jam level 0-5), and
traffic reports (accidents, closures, hazards) as markers.

Two inputs: road segments (entities with speed / jam level readings, e.g. the simulator's) and
traffic events (e.g. Waze): a LineString event is a jam, drawn by its `level` property on the
same colour scale; a Point event is a report, coloured by REPORT_CLASSES of its event type.

The map draws one line trace per jam level (segments and jams joined with None gaps, so a level
is one trace however many lines it holds), one marker trace of reports, and last one
transparent marker per line, at its middle, that carries the hover text. A tick replaces only
the coordinate arrays of the levels whose membership changed and the hover values.
"""

from __future__ import annotations

from typing import Any

from opscentre.i18n import Translator
from opscentre.layers.base import (CityData, Layer, LegendEntry, local_label, rounded_line, short_local_times,
                                   texts, timestamps)

SPEED = "traffic_speed_kmh"
JAM = "jam_level"
EVENTS = "traffic"

# (label, colour, line width) per jam level 0..5; index 6 is "no reading".
JAM_LEVELS: tuple[tuple[str, str, float], ...] = (
    ("free flow", "#2e9e4f", 1.6),
    ("light", "#9ccc3c", 1.8),
    ("moderate", "#e8c31a", 2.2),
    ("heavy", "#f28c1b", 2.6),
    ("very heavy", "#e0362c", 3.0),
    ("standstill", "#a01a4a", 3.4),
)
NO_READING = ("no reading", "#5a6577", 1.0)

# Report markers: (class, label, colour, size) and the event types of each; anything else is "other".
REPORT_CLASSES: tuple[tuple[str, str, str, int], ...] = (
    ("accident", "accident", "#ff3b30", 13),
    ("closure", "road closed", "#b455e0", 12),
    ("hazard", "hazard", "#ff9f0a", 10),
    ("other", "other report", "#8fa3bf", 8),
)
REPORT_TYPES = {"ACCIDENT": "accident", "ROAD_CLOSED": "closure", "WEATHERHAZARD": "hazard", "HAZARD": "hazard",
                "CONSTRUCTION": "hazard"}
_REPORT_STYLE = {key: (label, colour, size) for key, label, colour, size in REPORT_CLASSES}

# Without a reported jam level, derive one from speed / free-flow speed (lower bounds).
JAM_FROM_SPEED_RATIO: tuple[tuple[float, int], ...] = ((0.8, 0), (0.6, 1), (0.45, 2), (0.3, 3), (0.15, 4), (0.0, 5))


def jam_from_ratio(speed: float, free_flow: float) -> int:
    ratio = speed / free_flow if free_flow > 0 else 1.0
    return next(level for bound, level in JAM_FROM_SPEED_RATIO if ratio >= bound)


_rounded: dict[str, tuple[tuple, list]] = {}  # entity id -> (fingerprint of the geometry, rounded)


def _rounded_coordinates(entity_id: str, coordinates: list) -> list[list[float]]:
    """Rounded once per segment geometry. A segment's geometry is registered once and rarely
    changes; its vertex count and end points are enough to notice when it does."""
    fingerprint = (len(coordinates), *coordinates[0][:2], *coordinates[-1][:2])
    cached = _rounded.get(entity_id)
    if cached is None or cached[0] != fingerprint:
        cached = _rounded[entity_id] = (fingerprint, rounded_line(coordinates))
    return cached[1]


def segment_rows(data: CityData) -> list[dict[str, Any]]:
    speeds, jams = data.values(SPEED), data.values(JAM)
    rows = []
    for segment in data.of_type("road_segment"):
        geometry = segment.get("geometry") or {}
        if geometry.get("type") != "LineString" or len(geometry.get("coordinates") or ()) < 2:
            continue
        entity_id = segment["entity_id"]
        free_flow = (segment.get("properties") or {}).get("free_flow_kmh")
        speed, observed_at, source = speeds.get(entity_id, (None, None, None))
        jam = jams.get(entity_id)
        if jam is not None:
            jam_level = int(round(jam[0]))
            observed_at, source = observed_at or jam[1], source or jam[2]
        elif speed is not None and free_flow:
            jam_level = jam_from_ratio(speed, float(free_flow))
        else:
            jam_level = None
        rows.append({
            "entity_id": entity_id,
            "name": segment.get("name") or entity_id,
            "zone_id": segment.get("zone_id"),
            "coordinates": _rounded_coordinates(entity_id, geometry["coordinates"]),
            "speed_kmh": speed,
            "free_flow_kmh": free_flow,
            "jam_level": None if jam_level is None else max(0, min(5, jam_level)),
            "observed_at": observed_at,
            "source": source or segment.get("source"),
        })
    return rows


def jam_rows(data: CityData) -> list[dict[str, Any]]:
    """Rows, as segment_rows, for the traffic events drawn as lines (reported jams)."""
    rows = []
    for event in data.events_of(EVENTS):
        geometry = event.get("geometry") or {}
        if geometry.get("type") != "LineString" or len(geometry.get("coordinates") or ()) < 2:
            continue
        props = event.get("properties") or {}
        level, speed, delay = _num(props.get("level")), _num(props.get("speedKMH")), _num(props.get("delay"))
        rows.append({
            "entity_id": event["event_id"],
            "name": props.get("street") or event.get("title") or event["event_id"],
            "city": props.get("city"),
            "zone_ids": list(event.get("zone_ids") or []),
            "coordinates": rounded_line(geometry["coordinates"]),
            "speed_kmh": speed,
            "delay_s": delay if delay is not None and delay >= 0 else None,  # Waze says -1 for a blocked road
            "blocked": bool(props.get("blocked")),
            "length_m": props.get("length"),
            "jam_level": int(level) if level is not None and 0 <= level <= 5 else None,
            "severity": event.get("severity"),
            "observed_at": event.get("observed_at"),
            "source": event.get("source"),
        })
    return rows


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def report_rows(data: CityData) -> list[dict[str, Any]]:
    """One row per traffic event drawn as a point (an accident, closure, hazard... report)."""
    rows = []
    for event in data.events_of(EVENTS):
        geometry = event.get("geometry") or {}
        if geometry.get("type") != "Point":
            continue
        props = event.get("properties") or {}
        try:
            lon, lat = (round(float(c), 5) for c in geometry["coordinates"][:2])
        except (TypeError, ValueError):
            continue
        rows.append({
            "event_id": event["event_id"],
            "event_type": event.get("event_type"),
            "subtype": props.get("subtype") or None,
            "report_class": REPORT_TYPES.get(str(event.get("event_type")), "other"),
            "title": event.get("title") or event.get("event_type"),
            "reliability": props.get("reliability"),
            "severity": event.get("severity"),
            "zone_ids": list(event.get("zone_ids") or []),
            "lon": lon,
            "lat": lat,
            "observed_at": event.get("observed_at"),
            "source": event.get("source"),
        })
    return rows


def features(data: CityData) -> list[dict[str, Any]]:
    return [*_segment_features(data), *_jam_features(data), *_report_features(data)]


def _jam_features(data: CityData) -> list[dict[str, Any]]:
    return [{
        "type": "Feature",
        "id": row["entity_id"],
        "properties": {
            "event_id": row["entity_id"],
            "kind": "jam",
            "name": row["name"],
            "zone_ids": row["zone_ids"],
            "speed_kmh": row["speed_kmh"],
            "jam_level": row["jam_level"],
            "jam_label": _style(row["jam_level"])[0],
            "delay_s": row["delay_s"],
            "blocked": row["blocked"],
            "length_m": row["length_m"],
            "severity": row["severity"],
            "unit": "km/h",
            **timestamps(row["observed_at"], data.tz),
            "source": row["source"],
        },
        "geometry": {"type": "LineString", "coordinates": row["coordinates"]},
    } for row in jam_rows(data)]


def _report_features(data: CityData) -> list[dict[str, Any]]:
    return [{
        "type": "Feature",
        "id": row["event_id"],
        "properties": {
            "event_id": row["event_id"],
            "kind": "report",
            "event_type": row["event_type"],
            "subtype": row["subtype"],
            "report_class": row["report_class"],
            "title": row["title"],
            "reliability": row["reliability"],
            "severity": row["severity"],
            "zone_ids": row["zone_ids"],
            **timestamps(row["observed_at"], data.tz),
            "source": row["source"],
        },
        "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
    } for row in report_rows(data)]


def _segment_features(data: CityData) -> list[dict[str, Any]]:
    return [{
        "type": "Feature",
        "id": row["entity_id"],
        "properties": {
            "entity_id": row["entity_id"],
            "name": row["name"],
            "zone_id": row["zone_id"],
            "speed_kmh": row["speed_kmh"],
            "free_flow_kmh": row["free_flow_kmh"],
            "jam_level": row["jam_level"],
            "jam_label": _style(row["jam_level"])[0],
            "unit": "km/h",
            **timestamps(row["observed_at"], data.tz),
            "source": row["source"],
        },
        "geometry": {"type": "LineString", "coordinates": row["coordinates"]},
    } for row in segment_rows(data)]


def _style(jam_level: int | None) -> tuple[str, str, float]:
    return NO_READING if jam_level is None else JAM_LEVELS[jam_level]


def _line_trace(rows: list[dict[str, Any]], style: tuple[str, str, float]) -> dict[str, Any]:
    lat: list[float | None] = []
    lon: list[float | None] = []
    for row in rows:
        if lat:
            lat.append(None)
            lon.append(None)
        lon.extend(c[0] for c in row["coordinates"])
        lat.extend(c[1] for c in row["coordinates"])
    label, colour, width = style
    return {"type": "scattermap", "mode": "lines", "name": f"Traffic: {label}", "lat": lat, "lon": lon,
            "line": {"color": colour, "width": width}, "hoverinfo": "skip"}


def _middle(coordinates: list[list[float]]) -> list[float]:
    if len(coordinates) == 2:
        (x1, y1), (x2, y2) = coordinates
        return [round((x1 + x2) / 2, 5), round((y1 + y2) / 2, 5)]
    return coordinates[len(coordinates) // 2]


def traces(data: CityData, t: Translator | None = None) -> list[dict[str, Any]]:
    t = texts(t)
    segments, jams = segment_rows(data), jam_rows(data)
    rows = [*segments, *jams]
    by_level: dict[int | None, list[dict[str, Any]]] = {level: [] for level in (None, *range(len(JAM_LEVELS)))}
    for row in rows:
        by_level[row["jam_level"]].append(row)
    lines = [_line_trace(by_level[level], _style(level)) for level in by_level]
    middles = [_middle(row["coordinates"]) for row in rows]
    # ~2,000 segments: the hover values that change per tick are kept short (customdata), the
    # name is static (text), the UTC offset and the sources are said once (meta).
    times, offset = short_local_times([row["observed_at"] for row in rows], data.tz, t)
    free_flow, jam, jam_in = (t.gettext("(free flow {speed} km/h)"), t.gettext("(reported jam)"),
                              t.gettext("(reported jam, {city})"))
    details = _jam_details(t)
    sources = ", ".join(sorted({row["source"] for row in rows if row["source"]}))
    hover = {
        "type": "scattermap",
        "mode": "markers",
        "name": "Traffic segments",
        "lon": [m[0] for m in middles],
        "lat": [m[1] for m in middles],
        "marker": {"size": 9, "color": "rgba(0,0,0,0)"},
        "text": [f"<b>{row['name']}</b> " + free_flow.format(speed=_free_flow(row)) for row in segments]
                + [f"<b>{row['name']}</b> " + (jam_in.format(city=row["city"]) if row.get("city") else jam)
                   for row in jams],
        # (the last item: a segment's entity id, whose page a click opens — pages/entity.py; none for a jam)
        "customdata": [[_speed(row), _jam_detail(row, details), time, row["entity_id"] if i < len(segments) else None]
                       for i, (row, time) in enumerate(zip(rows, times))],
        "meta": f"{offset} · {sources}" if sources else offset,
        "hovertemplate": "%{text}<br>%{customdata[0]} km/h · %{customdata[1]}<br>%{customdata[2]} %{meta}"
                         "<extra></extra>",
    }
    return [*lines, _report_trace(report_rows(data), data, t), hover]


def _report_trace(rows: list[dict[str, Any]], data: CityData, t: Translator) -> dict[str, Any]:
    styles = [_REPORT_STYLE[row["report_class"]] for row in rows]
    return {
        "type": "scattermap",
        "mode": "markers",
        "name": "Traffic reports",
        "lon": [row["lon"] for row in rows],
        "lat": [row["lat"] for row in rows],
        "marker": {"size": [s[2] for s in styles], "color": [s[1] for s in styles], "opacity": 0.95},
        "text": [_report_hover(row, data, t) for row in rows],
        "hovertemplate": "%{text}<extra></extra>",
    }


def _report_hover(row: dict[str, Any], data: CityData, t: Translator) -> str:
    reliability = (" · " + t.gettext("reliability {n}/10").format(n=row["reliability"])
                   if row["reliability"] is not None else "")
    label = t.gettext(_REPORT_STYLE[row["report_class"]][0])
    return (f"<b>{row['title']}</b><br>{label}{reliability}"
            f"<br>{local_label(row['observed_at'], data.tz, t)} · {row['source']}")


def _jam_details(t: Translator) -> dict[str, Any]:
    """The words of a jam's detail in one language, looked up once per trace, not per line."""
    return {"labels": {level: t.gettext(_style(level)[0]) for level in (None, *range(len(JAM_LEVELS)))},
            "blocked": t.gettext("{label} (road blocked)"), "delay": t.gettext("{label}, +{minutes} min")}


def _jam_detail(row: dict[str, Any], details: dict[str, Any]) -> str:
    label = details["labels"][row["jam_level"]]
    if row.get("blocked"):
        return details["blocked"].format(label=label)
    if row.get("delay_s"):
        return details["delay"].format(label=label, minutes=round(row["delay_s"] / 60))
    return label


def _free_flow(row: dict[str, Any]) -> str:
    return "?" if not row["free_flow_kmh"] else f"{float(row['free_flow_kmh']):.0f}"


def _speed(row: dict[str, Any]) -> int | str:
    return "–" if row["speed_kmh"] is None else round(row["speed_kmh"])


LAYER = Layer(
    layer_id="traffic",
    label="Traffic",
    title="Traffic — congestion",
    kinds=(SPEED, JAM),
    features=features,
    traces=traces,
    patched=("lat", "lon", "text", "customdata", "meta", "marker.size", "marker.color"),
    legend=(*(LegendEntry(label, colour, "line") for label, colour, _ in JAM_LEVELS),
            *(LegendEntry(label, colour, "dot") for _, label, colour, _ in REPORT_CLASSES)),
    event_categories=(EVENTS,),
)
