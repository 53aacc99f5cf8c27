"""The status bar: city stage, feed health (n/m healthy, unhealthy ones named), last update.

Rendered from a small JSON-able model so a tick can tell whether anything visible changed
and send nothing when it did not.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import orjson
from dash import html

from opscentre.core.errors import StoreUnavailable
from opscentre.core.read_model import ReadModel, Snapshot
from opscentre.dashboard.city_reading import CityStatus
from opscentre.layers.base import local_label
from opscentre.layers.stages import stage_colour

HEALTHY = {"ok"}
UNREACHABLE = "Redis unreachable — reconnecting"


class OperatorStatus:
    """The console's status: the read model's `operator/status` document (core/operator_documents.py),
    built once per store version for every console, parsed here once per snapshot. A snapshot
    served stale while Redis is away is not shown: the console says Redis is unreachable."""

    def __init__(self, read_model: ReadModel):
        self.read_model = read_model
        self._parsed: tuple[Snapshot, CityStatus] | None = None

    def __call__(self, _now: float | None = None) -> CityStatus:
        snapshot = self.read_model.get("operator", "status")
        if snapshot.stale:
            raise StoreUnavailable("Redis unreachable: the console shows no stale status")
        parsed = self._parsed
        if parsed is None or parsed[0] is not snapshot:
            doc = orjson.loads(snapshot.body)
            parsed = self._parsed = (snapshot, CityStatus(
                version=snapshot.version, stage=doc["stage"], feeds=doc["feeds"], alerts=doc["alerts"],
                updated_at=doc["updated_at"], simulated=doc["simulated"], incidents=doc["incidents"]))
        return parsed[1]


def status_model(status: CityStatus, tz: tzinfo) -> dict[str, Any]:
    counted = {f: v for f, v in status.feeds.items() if v["status"] != "disabled"}
    unhealthy = sorted(_unhealthy(f, v, tz) for f, v in counted.items() if v["status"] not in HEALTHY)
    return {
        "stage_level": status.stage["level"],
        "stage_name": status.stage["name"],
        "feeds_healthy": len(counted) - len(unhealthy),
        "feeds_total": len(counted),
        "unhealthy": unhealthy,
        "updated": local_label(status.updated_at, tz) if status.updated_at else "no data yet",
        "alerts": [_alert_line(a) for a in status.alerts],
        "incidents": [_incident_line(i, tz) for i in status.incidents],
    }


def _incident_line(incident: dict[str, Any], tz: tzinfo) -> str:
    zones = incident["zones"]
    where = ", ".join(zones[:3]) + (f" +{len(zones) - 3}" if len(zones) > 3 else "")
    alerts = f"{incident['alerts']} alert{'s' if incident['alerts'] != 1 else ''}"
    return (f"{incident['severity']} · {where} · {alerts} · since "
            f"{local_label(incident['opened_at'], tz)}")


def _unhealthy(feed_id: str, view: dict[str, Any], tz: tzinfo) -> str:
    if view["status"] == "stale":
        since = local_label(view["last_success_ts"], tz) if view.get("last_success_ts") is not None else "?"
        return f"{feed_id} (stale since {since}: its map layers are greyed)"
    return f"{feed_id} ({view['status']})"


def unreachable_model() -> dict[str, Any]:
    return {"unreachable": True}


def _alert_line(alert: dict[str, Any]) -> str:
    where = alert.get("zone_name") or alert.get("where") or alert.get("zone_id") or alert.get("entity_id") or "city"
    severity = alert.get("severity") or "alert"
    text = alert.get("summary") or f"{alert.get('rule') or ''} · {where}"
    line = text if text.lower().startswith(severity) else f"{severity} · {text}"
    if alert.get("state") == "pending":
        line += " (pending)"
    if alert.get("silenced_by"):  # operator view only, as acks below
        line += " (silenced)"
    if alert.get("acknowledged_by"):  # operator view only: the public projection has no acks
        note = (alert.get("ack_note") or "").strip()
        line += f" · ack {alert['acknowledged_by']}" + (f": {note[:80]}" if note else "")
    return line


def status_bar(model: dict[str, Any]) -> list[Any]:
    if model.get("unreachable"):
        return [html.Span(UNREACHABLE, className="status-item status-error", role="alert")]
    level = model["stage_level"]
    feeds_class = "status-item" + (" status-warn" if model["unhealthy"] else "")
    feeds_text = f"Feeds {model['feeds_healthy']}/{model['feeds_total']} healthy"
    if model["unhealthy"]:
        feeds_text += " — " + ", ".join(model["unhealthy"])
    return [
        html.Span(f"Stage {level} · {model['stage_name']}", className="stage-badge",
                  style={"backgroundColor": stage_colour(level)}, title="City operational stage"),
        html.Span(feeds_text, className=feeds_class),
        html.Span(f"Updated {model['updated']}", className="status-item"),
        html.Span(f"{len(model['alerts'])} active alert{'s' if len(model['alerts']) != 1 else ''}",
                  className="status-item" + (" status-warn" if model["alerts"] else "")),
    ]


def alerts_panel(model: dict[str, Any]) -> list[Any]:
    lines = model.get("alerts") or []
    incidents = model.get("incidents") or []
    parts: list[Any] = []
    if incidents:  # operator view: what is notified is the incident, so it comes first
        parts += [html.Div(f"Open incidents ({len(incidents)})", className="panel-title"),
                  html.Ul([html.Li(line) for line in incidents[:6]])]
    if lines:
        more = f" — showing 12 of {len(lines)}" if len(lines) > 12 else ""
        parts += [html.Div(f"Active alerts{more}", className="panel-title"),
                  html.Ul([html.Li(line) for line in lines[:12]])]
    return parts
