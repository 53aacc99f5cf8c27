"""The console's stage control: a supervisor chooses a stage and writes a note, then Set (stages 1–4
take effect at the next evaluation, within seconds) or Clear (end the manual stage). Stage 5 and
a clear only *ask*: the request shows on every console, and a **different** supervisor confirms it
within 10 minutes, or anyone who may rejects it (the two-person rule, core/stage_control.py).

The one write callback runs only for a role that may (dashboard/roles.py `guarded`: 401 / 403 and
an audit entry otherwise; nothing changes); the name recorded is the session's, never the
request's. Every change is in the audit stream (AlertStore.change_stage). Other roles see the
panel with its controls disabled. The waiting request is followed on the map's tick and redrawn
only when it changes (components/attention.py's tick carries the request's id).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from opscentre.core import stage_control
from opscentre.core.alert_store import AlertStore
from opscentre.core.roles import Action
from opscentre.core.stage_control import Result
from opscentre.dashboard import ids
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.roles import allowed, guarded
from opscentre.dashboard.console_language import console_translator
from opscentre.i18n import Translator
from opscentre.i18n.vocabulary import STAGES

NO_REQUEST = ""  # the pending-id store's value when nothing waits


def _clock(ts: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(float(ts), tz).strftime("%H:%M")


def stage_label(t: Translator, level: int) -> str:
    return t.gettext("Stage {level} — {name}").format(level=level, name=t.gettext(STAGES[level][0]))


def pending_text(t: Translator, pending: dict[str, Any] | None, tz: tzinfo) -> str | None:
    if not pending:
        return None
    change = (t.gettext("clear the manual stage") if pending["level"] is None
              else stage_label(t, int(pending["level"])))
    return t.gettext("Waiting for a second supervisor: {change}, asked by {name} at {time} ({note}). "
                     "Confirm by {deadline}.").format(change=change, name=pending["by"],
                                                      time=_clock(pending["requested_at"], tz),
                                                      note=pending["note"], deadline=_clock(pending["confirm_by"], tz))


def _buttons(pending: dict[str, Any] | None, can: bool, me: str) -> tuple[bool, bool]:
    """(confirm disabled, reject disabled) for this user."""
    if not (can and pending):
        return True, True
    return stage_control.same_person(me, pending["by"]), False


def stage_panel(t: Translator, pending: dict[str, Any] | None, can: bool, me: str, tz: tzinfo) -> html.Div:
    confirm_off, reject_off = _buttons(pending, can, me)
    return html.Div([
        html.Label(t.gettext("City stage by hand"), htmlFor=ids.STAGE_LEVEL, className="panel-title"),
        dcc.Dropdown(id=ids.STAGE_LEVEL, options=[{"label": stage_label(t, n), "value": n} for n in STAGES],
                     placeholder=t.gettext("Stage to set"), clearable=True, className="stage-level",
                     disabled=not can),
        dcc.Textarea(id=ids.STAGE_NOTE, maxLength=stage_control.MAX_NOTE, className="ack-note", disabled=not can,
                     placeholder=t.gettext("Note: who decided it and why (needed)")),
        html.Div([
            html.Button(t.gettext("Set"), id=ids.STAGE_SET, n_clicks=0, className="ack-button", disabled=not can,
                        title=t.gettext("Set the stage; stage 5 waits for a second supervisor")),
            html.Button(t.gettext("Clear"), id=ids.STAGE_CLEAR, n_clicks=0, className="ack-secondary",
                        disabled=not can,
                        title=t.gettext("End the manual stage; waits for a second supervisor")),
        ], className="ack-more"),
        html.Div(pending_text(t, pending, tz), id=ids.STAGE_PENDING, className="stage-pending"),
        dcc.Store(id=ids.STAGE_PENDING_ID, data=(pending or {}).get("id", NO_REQUEST)),
        html.Div([
            html.Button(t.gettext("Confirm"), id=ids.STAGE_CONFIRM, n_clicks=0, className="ack-button",
                        disabled=confirm_off, title=t.gettext("Confirm the waiting stage change (a second supervisor)")),
            html.Button(t.gettext("Reject"), id=ids.STAGE_REJECT, n_clicks=0, className="ack-secondary",
                        disabled=reject_off, title=t.gettext("Reject the waiting stage change")),
        ], className="ack-more"),
        html.Div(None if can else t.gettext("Setting the stage needs a supervisor."), id=ids.STAGE_RESULT,
                 className="ack-result", role="status", **{"aria-live": "polite"}),
    ], className="ack-form stage-panel", role="group", **{"aria-label": t.gettext("City stage by hand")})


def pending_id(redis_client) -> Callable[[float], str | None]:
    """For the attention tick: the id of the stage change waiting now (one GET)."""
    alerts = AlertStore(redis_client)

    def current(now: float) -> str | None:
        return (stage_control.waiting(alerts.stage_pending(), now) or {}).get("id")

    return current


def register_stage(app: Dash, redis_client, tz: tzinfo) -> None:
    """The stage panel's callbacks; their answers in the signed-in user's console language."""
    alerts = AlertStore(redis_client)

    def waiting_now() -> dict[str, Any] | None:
        return stage_control.waiting(alerts.stage_pending(), time.time())

    @app.callback(
        Output(ids.STAGE_RESULT, "children"),
        Output(ids.STAGE_PENDING, "children"),
        Output(ids.STAGE_PENDING_ID, "data"),
        Output(ids.STAGE_CONFIRM, "disabled"),
        Output(ids.STAGE_REJECT, "disabled"),
        Output(ids.ATTENTION_STATE, "data", allow_duplicate=True),
        Input(ids.STAGE_SET, "n_clicks"),
        Input(ids.STAGE_CLEAR, "n_clicks"),
        Input(ids.STAGE_CONFIRM, "n_clicks"),
        Input(ids.STAGE_REJECT, "n_clicks"),
        State(ids.STAGE_LEVEL, "value"),
        State(ids.STAGE_NOTE, "value"),
        State(ids.STAGE_PENDING_ID, "data"),
        State(ids.ATTENTION_STATE, "data"),
        prevent_initial_call=True,
    )
    @guarded(redis_client, Action.STAGE)
    def change(_set, _clear, _confirm, _reject, level, note, request_id, noticed) -> tuple[Any, ...]:
        t = console_translator()
        me, now = current_user.id, time.time()
        clicked = ctx.triggered_id
        note = str(note or "")[:stage_control.MAX_NOTE + 1]
        request_id = str(request_id)[:64] if request_id else None
        if clicked == ids.STAGE_SET:
            if level is None:
                return t.gettext("Choose a stage first."), no_update, no_update, no_update, no_update, no_update
            try:
                level = int(level)
            except (TypeError, ValueError):
                level = 0

            def decide(override, pending):
                return stage_control.request(level, me, note, now, override, pending)
        elif clicked == ids.STAGE_CLEAR:
            def decide(override, pending):
                return stage_control.request(None, me, note, now, override, pending)
        elif clicked == ids.STAGE_CONFIRM:
            def decide(override, pending):
                return stage_control.confirm(me, now, override, pending, request_id)
        elif clicked == ids.STAGE_REJECT:
            def decide(override, pending):
                return stage_control.reject(me, now, pending, request_id, note)
        else:
            raise PreventUpdate
        try:
            outcome = alerts.change_stage(decide, me, now)
            pending = waiting_now()
        except REDIS_DOWN:
            return (t.gettext("Redis unreachable — nothing was changed, try again."), no_update, no_update,
                    no_update, no_update, no_update)
        confirm_off, reject_off = _buttons(pending, True, me)
        shown = (pending_text(t, pending, tz), (pending or {}).get("id", NO_REQUEST), confirm_off, reject_off)
        return (result_text(t, outcome, me), *shown, _knowing(noticed, pending))

    @app.callback(
        Output(ids.STAGE_PENDING, "children", allow_duplicate=True),
        Output(ids.STAGE_PENDING_ID, "data", allow_duplicate=True),
        Output(ids.STAGE_CONFIRM, "disabled", allow_duplicate=True),
        Output(ids.STAGE_REJECT, "disabled", allow_duplicate=True),
        Input(ids.ATTENTION_STATE, "data"),  # (moves on the map's tick when the waiting request does)
        State(ids.STAGE_PENDING_ID, "data"),
        prevent_initial_call=True,
    )
    def refresh(_attention, shown_id):
        """Show another supervisor's request (or its end) on this console: only when it changed."""
        t = console_translator()
        try:
            pending = waiting_now()
        except REDIS_DOWN:
            raise PreventUpdate from None
        if (pending or {}).get("id", NO_REQUEST) == (shown_id or NO_REQUEST):
            raise PreventUpdate
        can = allowed(redis_client, Action.STAGE)
        me = getattr(current_user, "id", "") or ""
        return (pending_text(t, pending, tz), (pending or {}).get("id", NO_REQUEST), *_buttons(pending, can, me))


def _knowing(noticed: Any, pending: dict[str, Any] | None) -> Any:
    """The attention store (components/attention.py), told which request this panel now shows.
    Without it, a request made here and confirmed elsewhere before this screen's next tick would
    never move the store (it would go from no request to no request), and the panel would go on
    showing it."""
    if not isinstance(noticed, dict):
        return no_update
    request = (pending or {}).get("id")
    return no_update if noticed.get("stage_request") == request else {**noticed, "stage_request": request}


def result_text(t: Translator, outcome: stage_control.Outcome, me: str) -> str:
    if outcome.result is Result.REFUSED:
        return t.gettext(stage_control.REASONS[outcome.refusal]) + " " + t.gettext("Nothing was changed.")
    asked = outcome.request or {}
    if outcome.result is Result.PENDING:
        change = (t.gettext("clear the manual stage") if asked.get("level") is None
                  else stage_label(t, int(asked["level"])))
        return t.gettext("Asked by {name}: {change}. A second supervisor must confirm within 10 minutes.").format(
            name=me, change=change)
    if outcome.result is Result.REJECTED:
        return t.gettext("Stage change rejected by {name}.").format(name=me)
    if outcome.result is Result.CONFIRMED:
        if asked.get("level") is None:
            return t.gettext("Manual stage cleared: confirmed by {name}; the stage is derived from the alerts "
                             "again.").format(name=me)
        return t.gettext("{stage} confirmed by {name}.").format(stage=stage_label(t, int(asked["level"])), name=me)
    verb, record = outcome.override or ("set", {})
    return t.gettext("{stage} set by {name}.").format(stage=stage_label(t, int(record["level"])), name=me)
