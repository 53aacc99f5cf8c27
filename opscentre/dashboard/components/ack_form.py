"""The operator console's acknowledge form: pick an open alert, write a note, acknowledge.

The callback runs on the server for a signed-in operator only: the auth guard answers 401 to
any anonymous POST before Dash sees it, and the callback checks the session again and takes
the operator's name from it — never from the request body. The note is stored as plain text
and Dash renders it as text (never as HTML).
"""

from __future__ import annotations

import time
from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from opscentre.core.alert_store import AlertStore, UnknownAlert
from opscentre.dashboard import ids
from opscentre.dashboard.redis_clients import REDIS_DOWN

MAX_NOTE = 1000


def ack_options(alerts: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Dropdown options: the open alerts not yet acknowledged, most severe first."""
    return [{"label": f"{a['severity']} · {a.get('summary') or a['rule']}"[:120], "value": a["id"]}
            for a in alerts if not a.get("acknowledged_by")]


def ack_form(alerts: list[dict[str, Any]]) -> html.Div:
    return html.Div([
        html.Label("Acknowledge", htmlFor=ids.ACK_ALERT, className="panel-title"),
        dcc.Dropdown(id=ids.ACK_ALERT, options=ack_options(alerts), placeholder="Alert to acknowledge",
                     clearable=True, className="ack-alert"),
        dcc.Textarea(id=ids.ACK_NOTE, maxLength=MAX_NOTE, placeholder="Note: what was done (plain text)",
                     className="ack-note"),
        html.Button("Acknowledge", id=ids.ACK_BUTTON, n_clicks=0, className="ack-button", accessKey="k",
                    title="Acknowledge the selected alert (Alt+K)"),
        html.Div(id=ids.ACK_RESULT, className="ack-result", role="status", **{"aria-live": "polite"}),
    ], className="ack-form")


def register_ack(app: Dash, redis_client) -> None:
    alerts = AlertStore(redis_client)

    # The tick redraws the alert panel only when the open alerts changed: follow it, not the tick.
    @app.callback(Output(ids.ACK_ALERT, "options"), Input(ids.ALERTS_PANEL, "children"), prevent_initial_call=True)
    def refresh_options(_panel):
        try:
            return ack_options(alerts.active())
        except REDIS_DOWN:
            return no_update

    @app.callback(
        Output(ids.ACK_RESULT, "children"),
        Output(ids.ACK_NOTE, "value"),
        Output(ids.ACK_ALERT, "value"),
        Input(ids.ACK_BUTTON, "n_clicks"),
        State(ids.ACK_ALERT, "value"),
        State(ids.ACK_NOTE, "value"),
        prevent_initial_call=True,
    )
    def acknowledge(_clicks, alert_id, note):
        if not getattr(current_user, "is_authenticated", False):
            raise PreventUpdate  # the auth guard already refused it; never act for nobody
        if not alert_id:
            return "Choose an alert first.", no_update, no_update
        note = str(note or "")
        if len(note) > MAX_NOTE:
            return f"The note holds at most {MAX_NOTE} characters.", no_update, no_update
        try:
            alert = alerts.acknowledge(str(alert_id)[:64], current_user.id, note, time.time())
        except UnknownAlert:
            return "That alert is no longer open.", no_update, None
        except REDIS_DOWN:
            return "Redis unreachable — not acknowledged, try again.", no_update, no_update
        return f"Acknowledged by {current_user.id}: {alert.summary or alert.rule}", "", None
