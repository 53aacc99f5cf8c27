"""An incident's page (`/incident/<id>`, linked from the alerts page): its timeline — the engine's
transitions of its alerts (the incident's own record) and what people did about them (the audit
stream: acknowledgements, resolutions by hand, silenced notifications) — its bairros on a small
map, and its notifications by channel and state (core/notify/incident_counts.py, as the map's
incidents panel counts them). Read once per page draw: nothing here changes anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import tzinfo
from typing import Any

import orjson
import shapely
from dash import dcc, html

from opscentre.core.alerting.incidents import CITY_WIDE, Incident
from opscentre.core.alert_store import ACTOR_ENGINE
from opscentre.dashboard import ids
from opscentre.dashboard.components.incident_panel import age_text, channel_line, zones_text
from opscentre.dashboard.components.map_figure import map_layout
from opscentre.dashboard.components.status_bar import severity_word
from opscentre.dashboard.pages.frame import Console, Page, Viewer, page_shell
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import N_, Translator
from opscentre.layers.base import local_label
from opscentre.layers.zones import map_geojson

MAX_ID = 64
AUDIT_SLACK_S = 60  # audit entries this long before the incident opened still belong to it
TEXT = {
    "title": N_("Incident {id}"),
    "unknown": N_("No incident {id} (it may have been resolved more than a day ago)."),
    "unreachable": N_("Redis unreachable — try again shortly."),
    "open": N_("open since {when} · {age}"),
    "resolved": N_("resolved {when}"),
    "timeline": N_("Timeline"),
    "bairros": N_("Bairros"),
    "notifications": N_("Notifications"),
    "no_messages": N_("no messages"),
    "back": N_("Back to the alerts"),
    "by": N_("{what} — by {who}"),
    "change": {"pending": N_("pending"), "firing": N_("firing"), "escalated": N_("escalated"),
               "de-escalated": N_("de-escalated"), "resolved": N_("resolved"),
               "pending-cleared": N_("cleared before firing")},
    "action": {"acknowledged": N_("acknowledged"), "unacknowledged": N_("acknowledgement withdrawn"),
               "resolved-by-hand": N_("resolved by hand"), "notification-silenced": N_("notification silenced")},
}


def timeline(incident: Incident, audit: Iterable[Mapping[str, Any]], tz: tzinfo,
             t: Translator) -> list[dict[str, Any]]:
    """The incident's story (pure), oldest first: its own timeline, and the audit entries about its
    alerts (or about it) written by people."""
    alert_ids = {e.get("alert_id") for e in incident.timeline if e.get("alert_id")}
    events = []
    for entry in incident.timeline:
        change = str(entry.get("change") or "")
        what = t.gettext(TEXT["change"][change]) if change in TEXT["change"] else change
        events.append((float(entry.get("at") or 0), {
            "what": what, "severity": entry.get("severity") or "", "rule": entry.get("rule") or "",
            "where": entry.get("where") or "", "alert": entry.get("alert_id") or ""}))
    for entry in audit:
        if entry.get("actor") == ACTOR_ENGINE or entry.get("subject") not in alert_ids | {incident.id}:
            continue
        action = str(entry.get("action") or "")
        what = t.gettext(TEXT["action"][action]) if action in TEXT["action"] else action
        note = (entry.get("after") or {}).get("note") if isinstance(entry.get("after"), dict) else None
        events.append((float(entry.get("at") or 0), {
            "what": t.gettext(TEXT["by"]).format(what=what, who=entry.get("actor")), "severity": "",
            "rule": "", "where": note or "", "alert": entry.get("subject") or ""}))
    events.sort(key=lambda e: e[0])
    return [{**e, "when": local_label(at, tz, t)} for at, e in events]


def small_map(console: Console, zone_ids: list[str]) -> dcc.Graph:
    """The city's bairros faint, the incident's drawn strong (plotly, the map's own zone geometry)."""
    zones = console.settings.zones
    geojson = map_geojson(zones)
    hit = [z for z in zone_ids if z != CITY_WIDE and z in zones.name_by_id]
    names = zones.name_by_id
    traces = [
        {"type": "choroplethmap", "geojson": geojson, "locations": list(zones.ids), "z": [0] * len(zones.ids),
         "colorscale": [[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]], "showscale": False,
         "marker": {"line": {"width": 0.5, "color": "#3b4a63"}}, "hoverinfo": "skip"},
        {"type": "choroplethmap", "geojson": geojson, "locations": hit, "z": [1] * len(hit),
         "text": [names[z] for z in hit], "hovertemplate": "%{text}<extra></extra>",
         "colorscale": [[0, "#ff8a3d"], [1, "#ff8a3d"]], "showscale": False,
         "marker": {"opacity": 0.6, "line": {"width": 2, "color": "#ffd166"}}},
    ]
    layout = {**map_layout(console.settings), "uirevision": "incident"}
    if hit:  # fitted to its bairros (assets/fit_city.js fits a map to its meta.city_bounds)
        index = {z: i for i, z in enumerate(zones.ids)}
        west, south, east, north = shapely.union_all([zones.geometries[index[z]] for z in hit]).bounds
        pad = max(east - west, north - south) * 0.3 + 0.005
        layout["meta"] = {"city_bounds": [round(b, 5) for b in (west - pad, south - pad, east + pad, north + pad)]}
    return dcc.Graph(id=ids.INCIDENT_MAP, figure={"data": traces, "layout": layout}, className="incident-map",
                     style={"height": "360px"},
                     config={"displaylogo": False, "displayModeBar": False, "scrollZoom": True, "responsive": True})


def notification_lines(counts: Mapping[str, Mapping[str, int]], t: Translator) -> list[str]:
    return [channel_line(channel, by_state, t) for channel, by_state in sorted(counts.items())] or \
        [t.gettext(TEXT["no_messages"])]


def layout(console: Console, viewer: Viewer, incident_id: str = "") -> html.Div:
    t, tz = viewer.t, console.settings.tz
    incident_id = incident_id[:MAX_ID]
    title = t.gettext(TEXT["title"]).format(id=incident_id)
    back = dcc.Link(t.gettext(TEXT["back"]), href="/alerts", className="page-back")
    try:
        found = {i: (orjson.loads(raw), counts) for i, raw, counts in console.incidents.read_incidents()}
        if incident_id not in found:
            return page_shell(console, viewer, [], [html.P(t.gettext(TEXT["unknown"]).format(id=incident_id)),
                                                    back], title)
        record, counts = found[incident_id]
        incident = Incident.model_validate(record)
        audit = list(console.alerts.audit(since=incident.opened_at - AUDIT_SLACK_S))
    except REDIS_DOWN:
        return page_shell(console, viewer, [], [html.P(t.gettext(TEXT["unreachable"]), className="status-error"),
                                                back], title)
    now = time.time()
    head = (t.gettext(TEXT["resolved"]).format(when=local_label(incident.resolved_at, tz, t))
            if incident.state == "resolved" and incident.resolved_at
            else t.gettext(TEXT["open"]).format(when=local_label(incident.opened_at, tz, t),
                                                age=age_text(now - incident.opened_at, t)))
    events = timeline(incident, audit, tz, t)
    main = [
        html.P([html.Span(severity_word(t, incident.severity.value),
                          className=f"incident-severity severity-{incident.severity.value}"), " ",
                html.Span(zones_text(incident.zone_ids, console.settings.zones.name_by_id, t),
                          className="incident-zones"), " · ", head], className="incident-summary"),
        html.Div([
            html.Div([
                html.Section([html.H2(t.gettext(TEXT["timeline"]), className="panel-title"),
                              html.Ol([html.Li([html.Span(e["when"], className="timeline-when"), " ",
                                                html.Span(e["what"], className="timeline-what"), " ",
                                                html.Span(" · ".join(x for x in (severity_word(t, e["severity"])
                                                                                 if e["severity"] else "",
                                                                                 e["rule"], e["where"]) if x),
                                                          className="timeline-detail")],
                                               className="timeline-event", **{"data-alert": e["alert"]})
                                       for e in events], className="incident-timeline")],
                             className="incident-section"),
                html.Section([html.H2(t.gettext(TEXT["notifications"]), className="panel-title"),
                              html.Ul([html.Li(line, className="incident-messages")
                                       for line in notification_lines(counts, t)], className="incident-notifications")],
                             className="incident-section"),
            ]),
            html.Section([html.H2(t.gettext(TEXT["bairros"]), className="panel-title"),
                          small_map(console, incident.zone_ids)], className="incident-section"),
        ], className="incident-columns"),
        back,
    ]
    return page_shell(console, viewer, [], main, title)


PAGE = Page("/incident/", None, layout)
