"""The console's approvals: mass sends held for the two-person rule (core/notify/planning.py), and
an Approve button. The first supervisor's approval is recorded; a second, different one releases
the messages (the delivery lifecycle refuses the same person twice).

The Approve callback runs only for a role that may approve (dashboard/roles.py `guarded`: 403 and
an audit entry otherwise); the approver's name comes from the session. Other roles see the list
with the button disabled.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update
from flask_login import current_user

from opscentre.core.notify.deliveries import InvalidTransition, State as Delivery
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.roles import Action
from opscentre.dashboard import ids
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.roles import guarded

MAX_LISTED = 1000  # deliveries read to build the list (a bigger send shows as "1000+")


def approval_options(store: DeliveryStore) -> list[dict[str, str]]:
    """One option per notification with messages awaiting approval: how many, which incident, who approved."""
    waiting: dict[str, list] = defaultdict(list)
    for d in store.by_state(Delivery.AWAITING_APPROVAL, MAX_LISTED):
        waiting[d.notification_id].append(d)
    options = []
    for notification_id, held in sorted(waiting.items()):
        count = f"{len(held)}+" if len(held) >= MAX_LISTED else str(len(held))
        approved = sorted({a for d in held for a in d.approvals})
        label = (f"{count} {held[0].channel} · incident {held[0].incident_id or '-'}"
                 + (f" · approved by {', '.join(approved)}" if approved else ""))
        options.append({"label": label[:160], "value": notification_id})
    return options


def approvals_form(store: DeliveryStore, can_approve: bool) -> html.Div:
    try:
        options = approval_options(store)
    except REDIS_DOWN:
        options = []
    return html.Div([
        html.Label("Mass sends awaiting approval", htmlFor=ids.APPROVALS, className="panel-title"),
        dcc.Dropdown(id=ids.APPROVALS, options=options, placeholder="None waiting" if not options else "Send to approve",
                     clearable=True, className="approvals", disabled=not can_approve),
        html.Button("Approve", id=ids.APPROVE_BUTTON, n_clicks=0, className="ack-button", disabled=not can_approve,
                    title="Approve the send; a second supervisor's approval releases it"),
        html.Div(None if can_approve else "Approvals need a supervisor.", id=ids.APPROVE_RESULT,
                 className="ack-result", role="status", **{"aria-live": "polite"}),
    ], className="ack-form approvals-form")


def register_approvals(app: Dash, redis_client) -> None:
    store = DeliveryStore(redis_client)

    # The incident panel redraws when its delivery counts change (awaiting approval among them).
    @app.callback(Output(ids.APPROVALS, "options"), Input(ids.INCIDENT_PANEL, "children"), prevent_initial_call=True)
    def refresh_options(_panel):
        try:
            return approval_options(store)
        except REDIS_DOWN:
            return no_update

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
        if not notification_id:
            return "Choose a send first.", no_update, no_update
        try:
            approved = store.approve(str(notification_id)[:128], current_user.id, time.time())
        except InvalidTransition:
            return f"{current_user.id} approved this send already: a second supervisor must.", no_update, no_update
        except REDIS_DOWN:
            return "Redis unreachable — not approved, try again.", no_update, no_update
        if not approved:
            return "That send is no longer waiting.", None, approval_options(store)
        released = sum(d.state is Delivery.QUEUED for d in approved)
        text = (f"{released} messages released by {', '.join(approved[0].approvals)}" if released else
                f"{len(approved)} messages approved by {current_user.id}; a second supervisor must confirm")
        return text, None, approval_options(store)
