"""The console's messages that wait for a person: mass sends held for the two-person rule
(core/notify/planning.py) with an Approve button — the first supervisor's approval is recorded, a
second, different one releases the messages (the delivery lifecycle refuses the same person
twice) — and dead letters with a Retry button.

Both callbacks run only for a role that may (dashboard/roles.py `guarded`: 403 and an audit entry
otherwise); the name recorded comes from the session. Other roles see the lists with the buttons
disabled. Every text is in the console's language (dashboard/console_language.py).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update
from flask_login import current_user

from opscentre.core.notify.deliveries import InvalidTransition, State as Delivery
from opscentre.core.notify.delivery_store import DeliveryStore, UnknownDelivery
from opscentre.core.roles import Action
from opscentre.dashboard import ids
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.roles import guarded
from opscentre.i18n import Translator

MAX_LISTED = 1000  # deliveries read to build the list (a bigger send shows as "1000+")
MAX_DEAD = 50  # dead letters offered for a retry, most recent first (all of them: `opscentre deliveries --dead`)


def approval_options(store: DeliveryStore, t: Translator | None = None) -> list[dict[str, str]]:
    """One option per notification with messages awaiting approval: how many, which incident, who approved."""
    t = console_translator(t)
    waiting: dict[str, list] = defaultdict(list)
    for d in store.by_state(Delivery.AWAITING_APPROVAL, MAX_LISTED):
        waiting[d.notification_id].append(d)
    options = []
    for notification_id, held in sorted(waiting.items()):
        count = f"{len(held)}+" if len(held) >= MAX_LISTED else str(len(held))
        approved = sorted({a for d in held for a in d.approvals})
        label = (t.gettext("{count} {channel} · incident {incident}").format(
                     count=count, channel=held[0].channel, incident=held[0].incident_id or "-")
                 + (" · " + t.gettext("approved by {names}").format(names=", ".join(approved)) if approved else ""))
        options.append({"label": label[:160], "value": notification_id})
    return options


def dead_options(store: DeliveryStore, t: Translator | None = None) -> list[dict[str, str]]:
    t = console_translator(t)
    return [{"label": (t.gettext("{channel} to {target}").format(channel=d.channel, target=d.target_masked)
                       + f" · {d.last_error or d.state.value}")[:160], "value": d.id}
            for d in store.by_state(Delivery.DEAD, MAX_DEAD)]


def approvals_form(store: DeliveryStore, can_approve: bool, can_retry: bool, t: Translator | None = None) -> html.Div:
    t = console_translator(t)
    try:
        options, dead = approval_options(store, t), dead_options(store, t)
    except REDIS_DOWN:
        options, dead = [], []
    return html.Div([
        html.Label(t.gettext("Mass sends awaiting approval"), htmlFor=ids.APPROVALS, className="panel-title"),
        dcc.Dropdown(id=ids.APPROVALS, options=options,
                     placeholder=t.gettext("None waiting") if not options else t.gettext("Send to approve"),
                     clearable=True, className="approvals", disabled=not can_approve),
        html.Button(t.gettext("Approve"), id=ids.APPROVE_BUTTON, n_clicks=0, className="ack-button",
                    disabled=not can_approve, title=t.gettext("Approve the send; a second supervisor's approval releases it")),
        html.Div(None if can_approve else t.gettext("Approvals need a supervisor."), id=ids.APPROVE_RESULT,
                 className="ack-result", role="status", **{"aria-live": "polite"}),
        html.Label(t.gettext("Dead letters"), htmlFor=ids.DEAD_LETTERS, className="panel-title"),
        dcc.Dropdown(id=ids.DEAD_LETTERS, options=dead,
                     placeholder=t.gettext("None") if not dead else t.gettext("Message to send again"),
                     clearable=True, className="approvals", disabled=not can_retry),
        html.Button(t.gettext("Retry"), id=ids.RETRY_BUTTON, n_clicks=0, className="ack-button", disabled=not can_retry,
                    title=t.gettext("Queue the message again, with a fresh retry budget")),
        html.Div(id=ids.RETRY_RESULT, className="ack-result", role="status", **{"aria-live": "polite"}),
    ], className="ack-form approvals-form")


def register_approvals(app: Dash, redis_client) -> None:
    store = DeliveryStore(redis_client)

    # The incident panel redraws when its delivery counts change (awaiting approval among them).
    @app.callback(Output(ids.APPROVALS, "options"), Input(ids.INCIDENT_PANEL, "children"), prevent_initial_call=True)
    def refresh_options(_panel):
        try:
            return approval_options(store, console_translator())
        except REDIS_DOWN:
            return no_update

    @app.callback(Output(ids.DEAD_LETTERS, "options"), Input(ids.INCIDENT_PANEL, "children"), prevent_initial_call=True)
    def refresh_dead(_panel):
        try:
            return dead_options(store, console_translator())
        except REDIS_DOWN:
            return no_update

    @app.callback(
        Output(ids.RETRY_RESULT, "children"),
        Output(ids.DEAD_LETTERS, "value"),
        Output(ids.DEAD_LETTERS, "options", allow_duplicate=True),
        Input(ids.RETRY_BUTTON, "n_clicks"),
        State(ids.DEAD_LETTERS, "value"),
        prevent_initial_call=True,
    )
    @guarded(redis_client, Action.RETRY)
    def retry(_clicks, delivery_id) -> tuple[Any, Any, Any]:
        t = console_translator()
        if not delivery_id:
            return t.gettext("Choose a message first."), no_update, no_update
        try:
            store.retry(str(delivery_id)[:128], time.time(), by=current_user.id)
        except (InvalidTransition, UnknownDelivery):
            return t.gettext("That message is not waiting for a retry any more."), None, dead_options(store, t)
        except REDIS_DOWN:
            return t.gettext("Redis unreachable — not retried, try again."), no_update, no_update
        return t.gettext("Queued again by {name}").format(name=current_user.id), None, dead_options(store, t)

    @app.callback(
        Output(ids.APPROVE_RESULT, "children"),
        Output(ids.APPROVALS, "value"),
        Output(ids.APPROVALS, "options", allow_duplicate=True),
        Input(ids.APPROVE_BUTTON, "n_clicks"),
        State(ids.APPROVALS, "value"),
        prevent_initial_call=True,
    )
    @guarded(redis_client, Action.APPROVE)
    def approve(_clicks, notification_id) -> tuple[Any, Any, Any]:
        t = console_translator()
        if not notification_id:
            return t.gettext("Choose a send first."), no_update, no_update
        try:
            approved = store.approve(str(notification_id)[:128], current_user.id, time.time())
        except InvalidTransition:
            return (t.gettext("{name} approved this send already: a second supervisor must.").format(name=current_user.id),
                    no_update, no_update)
        except REDIS_DOWN:
            return t.gettext("Redis unreachable — not approved, try again."), no_update, no_update
        if not approved:
            return t.gettext("That send is no longer waiting."), None, approval_options(store, t)
        released = sum(d.state is Delivery.QUEUED for d in approved)
        text = (t.gettext("{n} messages released by {names}").format(n=released, names=", ".join(approved[0].approvals))
                if released else
                t.gettext("{n} messages approved by {name}; a second supervisor must confirm").format(
                    n=len(approved), name=current_user.id))
        return text, None, approval_options(store, t)
