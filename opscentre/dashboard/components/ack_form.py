"""The operator console's alert actions: pick an open alert, write a note, then acknowledge,
resolve it by hand, escalate it (to the secondary recipients now), or silence its notifications
for a while or every day in a window (HH:MM-HH:MM in the city's time zone).

Each callback runs on the server for a signed-in user whose role allows it (dashboard/roles.py:
`guarded` answers 401 to nobody and 403, audited, to a role that may not — before the callback
acts); it takes the user's name from the session, never from the request body. A role that may
not sees the controls disabled. The note is stored as plain text and Dash renders it as text
(never as HTML). Every text is in the console's language (dashboard/console_language.py); the
alerts' summaries are the rules' own (the city's config).
"""

from __future__ import annotations

import time
from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from opscentre.core.alert_store import AlertStore, UnknownAlert
from opscentre.core.alerting.silences import SilenceError, build_silence, parse_daily
from opscentre.core.roles import Action
from opscentre.dashboard import ids
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.roles import guarded
from opscentre.dashboard.components.status_bar import severity_word
from opscentre.i18n import Translator

MAX_NOTE = 1000
SILENCE_FOR = {"1h": 3600, "4h": 4 * 3600, "12h": 12 * 3600, "24h": 24 * 3600}
DAILY = "daily"  # the silence dropdown's choice for a daily window (ACK_SILENCE_DAILY)


def ack_options(alerts: list[dict[str, Any]], t: Translator | None = None) -> list[dict[str, str]]:
    """Dropdown options: the open alerts not yet acknowledged, most severe first."""
    t = console_translator(t)
    return [{"label": f"{severity_word(t, a['severity'])} · {a.get('summary') or a['rule']}"[:120], "value": a["id"]}
            for a in alerts if not a.get("acknowledged_by")]


def ack_form(alerts: list[dict[str, Any]], can: set[Action] | None = None, t: Translator | None = None) -> html.Div:
    """The form; controls of actions not in `can` (what the user's role allows) are disabled."""
    t = console_translator(t)
    can = set(Action) if can is None else can
    acts = bool(can & {Action.ACK, Action.RESOLVE, Action.SILENCE, Action.ESCALATE})
    return html.Div([
        html.Label(t.gettext("Acknowledge"), htmlFor=ids.ACK_ALERT, className="panel-title"),
        dcc.Dropdown(id=ids.ACK_ALERT, options=ack_options(alerts, t), placeholder=t.gettext("Alert to acknowledge"),
                     clearable=True, className="ack-alert", disabled=not acts),
        *ack_controls(can, t),
    ], className="ack-form")


def ack_controls(can: set[Action], t: Translator) -> list[Any]:
    """The note, the action buttons and the result, acting on whatever component carries the id
    ACK_ALERT on the page (the map's dropdown; the alerts page's queue): the callbacks below serve
    both."""
    ack, resolve, silence = Action.ACK in can, Action.RESOLVE in can, Action.SILENCE in can
    escalate = Action.ESCALATE in can
    note = None if (ack or resolve or silence) else t.gettext("Your role can see alerts but not act on them.")
    return [
        dcc.Textarea(id=ids.ACK_NOTE, maxLength=MAX_NOTE, placeholder=t.gettext("Note: what was done (plain text)"),
                     className="ack-note", disabled=not (ack or resolve or silence)),
        html.Button(t.gettext("Acknowledge"), id=ids.ACK_BUTTON, n_clicks=0, className="ack-button", accessKey="k",
                    title=t.gettext("Acknowledge the selected alert (Alt+K)"), disabled=not ack),
        html.Div([
            html.Button(t.gettext("Resolve"), id=ids.ACK_RESOLVE, n_clicks=0, className="ack-secondary",
                        disabled=not resolve,
                        title=t.gettext("Resolve the selected alert by hand (it reopens if its condition still holds)")),
            html.Button(t.gettext("Silence"), id=ids.ACK_SILENCE, n_clicks=0, className="ack-secondary",
                        disabled=not silence,
                        title=t.gettext("Mute the selected alert's notifications (it stays on the map and in this list)")),
            dcc.Dropdown(id=ids.ACK_SILENCE_FOR,
                         options=[*({"label": t.gettext("for {duration}").format(duration=k), "value": k}
                                    for k in SILENCE_FOR),
                                  {"label": t.gettext("every day, in the window"), "value": DAILY}],
                         value="1h", clearable=False, className="ack-silence-for", disabled=not silence),
            html.Label(t.gettext("The daily window, in the city's time (e.g. 01:00-03:00)"),
                       htmlFor=ids.ACK_SILENCE_DAILY, className="visually-hidden"),
            dcc.Input(id=ids.ACK_SILENCE_DAILY, type="text", maxLength=11, placeholder="HH:MM-HH:MM",
                      className="ack-silence-daily", disabled=not silence),
            html.Button(t.gettext("Escalate"), id=ids.ACK_ESCALATE, n_clicks=0, className="ack-secondary",
                        disabled=not escalate,
                        title=t.gettext("Send the selected alert to the secondary recipients now")),
        ], className="ack-more"),
        html.Div(note, id=ids.ACK_RESULT, className="ack-result", role="status", **{"aria-live": "polite"}),
    ]


def register_ack(app: Dash, redis_client, timezone: str = "UTC") -> None:
    """The actions' callbacks; `timezone`: the city's, for daily silence windows."""
    alerts = AlertStore(redis_client)

    # The tick redraws the alert panel only when the open alerts changed: follow it, not the tick.
    @app.callback(Output(ids.ACK_ALERT, "options"), Input(ids.ALERTS_PANEL, "children"), prevent_initial_call=True)
    def refresh_options(_panel):
        try:
            return ack_options(alerts.active(), console_translator())
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
    @guarded(redis_client, Action.ACK)
    def acknowledge(_clicks, alert_id, note):
        if not getattr(current_user, "is_authenticated", False):
            raise PreventUpdate  # (guarded refused it already; never act for nobody)
        t = console_translator()
        if not alert_id:
            return t.gettext("Choose an alert first."), no_update, no_update
        note = str(note or "")
        if len(note) > MAX_NOTE:
            return t.gettext("The note holds at most {n} characters.").format(n=MAX_NOTE), no_update, no_update
        try:
            alert = alerts.acknowledge(str(alert_id)[:64], current_user.id, note, time.time())
        except UnknownAlert:
            return t.gettext("That alert is no longer open."), no_update, None
        except REDIS_DOWN:
            return t.gettext("Redis unreachable — not acknowledged, try again."), no_update, no_update
        return (t.gettext("Acknowledged by {name}: {alert}").format(name=current_user.id,
                                                                     alert=alert.summary or alert.rule), "", None)

    @app.callback(
        Output(ids.ACK_RESULT, "children", allow_duplicate=True),
        Output(ids.ACK_ALERT, "value", allow_duplicate=True),
        Input(ids.ACK_RESOLVE, "n_clicks"),
        State(ids.ACK_ALERT, "value"),
        State(ids.ACK_NOTE, "value"),
        prevent_initial_call=True,
    )
    @guarded(redis_client, Action.RESOLVE)
    def resolve(_clicks, alert_id, note):
        t = console_translator()
        if not alert_id:
            return t.gettext("Choose an alert first."), no_update
        try:
            alert = alerts.resolve_by_hand(str(alert_id)[:64], current_user.id, str(note or "")[:MAX_NOTE], time.time())
        except UnknownAlert:
            return t.gettext("That alert is no longer open."), None
        except (TimeoutError, *REDIS_DOWN):
            return t.gettext("Busy or Redis unreachable — not resolved, try again."), no_update
        return t.gettext("Resolved by {name}: {alert}").format(name=current_user.id, alert=alert.summary or alert.rule), None

    @app.callback(
        Output(ids.ACK_RESULT, "children", allow_duplicate=True),
        Input(ids.ACK_SILENCE, "n_clicks"),
        State(ids.ACK_ALERT, "value"),
        State(ids.ACK_SILENCE_FOR, "value"),
        State(ids.ACK_NOTE, "value"),
        State(ids.ACK_SILENCE_DAILY, "value"),
        prevent_initial_call=True,
    )
    @guarded(redis_client, Action.SILENCE)
    def silence(_clicks, alert_id, duration, note, daily):
        t = console_translator()
        if not alert_id:
            return t.gettext("Choose an alert first.")
        if duration not in SILENCE_FOR and duration != DAILY:
            return t.gettext("Choose how long to silence it.")
        now = time.time()
        try:
            alert = alerts.find(str(alert_id)[:64])
            if "," in alert.fingerprint:
                raise SilenceError(t.gettext("this alert cannot be matched alone; silence it with `opscentre silence`"))
            if duration == DAILY:
                window = str(daily or "").strip()[:11]
                try:
                    parse_daily(window)
                except SilenceError:
                    return t.gettext("Write the daily window as HH:MM-HH:MM, e.g. 01:00-03:00.")
                record = build_silence(f"fingerprint={alert.fingerprint}", now=now, daily=window, timezone=timezone,
                                       comment=str(note or "")[:MAX_NOTE])
                alerts.add_silence(record, current_user.id, now)
                return t.gettext("Silenced every day {window} by {name}: {alert}").format(
                    window=window, name=current_user.id, alert=alert.summary or alert.rule)
            record = build_silence(f"fingerprint={alert.fingerprint}", now=now, duration_s=SILENCE_FOR[duration],
                                   comment=str(note or "")[:MAX_NOTE])
            alerts.add_silence(record, current_user.id, now)
        except UnknownAlert:
            return t.gettext("That alert is no longer open.")
        except SilenceError as exc:
            return str(exc)
        except REDIS_DOWN:
            return t.gettext("Redis unreachable — not silenced, try again.")
        return t.gettext("Silenced for {duration} by {name}: {alert}").format(duration=duration, name=current_user.id,
                                                                              alert=alert.summary or alert.rule)

    @app.callback(
        Output(ids.ACK_RESULT, "children", allow_duplicate=True),
        Input(ids.ACK_ESCALATE, "n_clicks"),
        State(ids.ACK_ALERT, "value"),
        State(ids.ACK_NOTE, "value"),
        prevent_initial_call=True,
    )
    @guarded(redis_client, Action.ESCALATE)
    def escalate(_clicks, alert_id, note):
        t = console_translator()
        if not alert_id:
            return t.gettext("Choose an alert first.")
        try:
            alert = alerts.escalate_by_hand(str(alert_id)[:64], current_user.id, str(note or "")[:MAX_NOTE],
                                            time.time())
        except UnknownAlert:
            return t.gettext("That alert is no longer open.")
        except (TimeoutError, *REDIS_DOWN):
            return t.gettext("Busy or Redis unreachable — not escalated, try again.")
        return t.gettext("Escalated by {name} to the secondary recipients: {alert}").format(
            name=current_user.id, alert=alert.summary or alert.rule)
