"""The alerts & incidents page (`/alerts`): the queue of open alerts, most severe first and, within
a severity, the oldest first (the one waiting longest); each row says its rule, bairro, severity,
age and state (acknowledged by whom, or not; silenced). Below the queue, the open incidents,
each a link to its page.

The queue is a radio group with the id ACK_ALERT, so the alert actions of the map page
(components/ack_form.py: acknowledge with a note, resolve, silence for a while) act on the row
chosen here with the same callbacks — one server-side check of the role, one audit entry, no copy.
A viewer sees the queue and its controls disabled.

Keyboard (assets/alert_queue.js): j / k choose the next / previous row, a acknowledges the chosen
one at once with whatever the note field holds (usually nothing): in a queue an operator works
through, a key that acts is what they expect (as in Alertmanager-like tools); n moves to the note
for the ones worth a word, and Alt+K acknowledges from there. The keys are off while typing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from dash import Dash, Input, Output, dcc, html, no_update

from opscentre.core.alert_store import SEVERITY_RANK
from opscentre.dashboard import ids
from opscentre.dashboard.components.ack_form import ack_controls
from opscentre.dashboard.components.incident_panel import age_text
from opscentre.dashboard.components.status_bar import severity_word
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.pages.frame import Console, Page, Viewer, page_shell
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import N_, Translator

QUEUE_TICK_MS = 5000
TEXT = {
    "title": N_("Alerts & incidents"),
    "queue": N_("Open alerts"),
    "none": N_("No open alerts"),
    "unreachable": N_("Redis unreachable — reconnecting"),
    "city_wide": N_("city-wide"),
    "acked": N_("acknowledged by {name}"),
    "not_acked": N_("not acknowledged"),
    "silenced": N_("silenced"),
    "pending": N_("pending"),
    "age": N_("for {age}"),
    "keys": N_("Keys: j / k next / previous alert · a acknowledge · n write a note first"),
    "incidents": N_("Incidents"),
    "no_incidents": N_("No open incidents"),
}


def _started(alert: Mapping[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(alert.get("started_at") or alert.get("since"))).timestamp()
    except ValueError:
        return 0.0


def queue_rows(alerts: Iterable[Mapping[str, Any]], zone_names: Mapping[str, str], now: float,
               t: Translator) -> list[dict[str, Any]]:
    """The queue (pure): open alerts, most severe first, then the oldest first."""
    rows = []
    for alert in alerts:
        started = _started(alert)
        zone = alert.get("zone_id")
        state = (t.gettext(TEXT["acked"]).format(name=alert["acknowledged_by"]) if alert.get("acknowledged_by")
                 else t.gettext(TEXT["not_acked"]))
        flags = [t.gettext(TEXT["pending"])] if alert.get("state") == "pending" else []
        if alert.get("silenced_by"):
            flags.append(t.gettext(TEXT["silenced"]))
        rows.append({
            "id": alert["id"], "severity": alert["severity"], "rank": SEVERITY_RANK.get(alert["severity"], 0),
            "started": started, "rule": alert.get("rule") or "",
            "summary": alert.get("summary") or "",
            "where": zone_names.get(zone, zone) if zone else (alert.get("where") or t.gettext(TEXT["city_wide"])),
            "severity_text": severity_word(t, alert["severity"]),
            "age": t.gettext(TEXT["age"]).format(age=age_text(now - started, t)) if started else "",
            "acked": bool(alert.get("acknowledged_by")), "state": " · ".join([state, *flags]),
        })
    rows.sort(key=lambda r: (-r["rank"], r["started"], r["id"]))
    return rows


def queue_options(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The radio group's options: one row each, its parts as spans (CSS lays them out)."""
    return [{"value": r["id"], "label": html.Span([
        html.Span(r["severity_text"], className=f"queue-severity severity-{r['severity']}"),
        html.Span(r["rule"], className="queue-rule"),
        html.Span(r["where"], className="queue-where"),
        html.Span(r["summary"], className="queue-summary"),
        html.Span(r["age"], className="queue-age"),
        html.Span(r["state"], className="queue-state" + (" queue-acked" if r["acked"] else " queue-unacked")),
    ], className="queue-row", **{"data-alert": r["id"]})} for r in rows]


def queue(console: Console, t: Translator) -> tuple[list[dict[str, Any]], str | None]:
    """The queue's options, and a line to show instead when there is nothing (or no Redis)."""
    try:
        rows = queue_rows(console.alerts.active(), console.settings.zones.name_by_id, time.time(), t)
    except REDIS_DOWN:
        return [], t.gettext(TEXT["unreachable"])
    return queue_options(rows), None if rows else t.gettext(TEXT["none"])


def incident_links(console: Console, t: Translator) -> list[Any]:
    model = console.incidents.model(t)
    if model.get("unreachable"):
        return [html.P(t.gettext(TEXT["unreachable"]), className="status-error")]
    if not model["rows"]:
        return [html.P(t.gettext(TEXT["no_incidents"]), className="incident-none")]
    return [html.Ul([html.Li([
        dcc.Link([html.Span(r["severity_text"], className=f"incident-severity severity-{r['severity']}"), " ",
                  html.Span(r["zones"], className="incident-zones")], href=f"/incident/{r['id']}",
                 className="incident-link"),
        html.Div(r["when"], className="incident-when"),
        *[html.Div(line, className="incident-messages") for line in r["messages"]],
    ], className="incident" + ("" if r["open"] else " incident-resolved"), **{"data-incident": r["id"]})
        for r in model["rows"]], className="incident-list")]


def layout(console: Console, viewer: Viewer, _param: str = "") -> html.Div:
    t = viewer.t
    options, empty = queue(console, t)
    main = [
        html.Section([
            html.H2(t.gettext(TEXT["queue"]), id=ids.QUEUE_TITLE, className="panel-title"),
            html.P(t.gettext(TEXT["keys"]), className="queue-keys"),
            html.Div(empty, id=ids.QUEUE_EMPTY, className="queue-empty"),
            dcc.RadioItems(id=ids.ACK_ALERT, options=options, value=None, className="alert-queue",
                           labelClassName="queue-option", inputClassName="queue-input"),
            html.Div(ack_controls(viewer.can, t), className="ack-form queue-actions"),
        ], className="queue-section", **{"aria-labelledby": ids.QUEUE_TITLE}),
        html.Section([html.H2(t.gettext(TEXT["incidents"]), className="panel-title"),
                      html.Div(incident_links(console, t), id=ids.QUEUE_INCIDENTS)], className="queue-incidents"),
        dcc.Interval(id=ids.QUEUE_TICK, interval=QUEUE_TICK_MS),
    ]
    return page_shell(console, viewer, [], main, t.gettext(TEXT["title"]))


def register(app: Dash, console: Console) -> None:
    @app.callback(
        Output(ids.ACK_ALERT, "options", allow_duplicate=True),
        Output(ids.QUEUE_EMPTY, "children"),
        Output(ids.QUEUE_INCIDENTS, "children"),
        Input(ids.QUEUE_TICK, "n_intervals"),
        Input(ids.ACK_RESULT, "children"),  # an action here: redraw at once
        prevent_initial_call=True,
    )
    def refresh(_n, _result):
        t = console_translator()
        options, empty = queue(console, t)
        if not options and empty == t.gettext(TEXT["unreachable"]):
            return no_update, empty, no_update
        return options, empty, incident_links(console, t)


PAGE = Page("/alerts", TEXT["title"], layout, register)
