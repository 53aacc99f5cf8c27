"""The notifications page (`/notifications`): the messages the notifier sends and what became of
them — how many in each state, the recent deliveries (all, or of one state) with their recipient
(a masked phone, a webhook's name), channel, incident and times in the city's zone; the dead
letters; and the mass sends waiting for the two-person rule.

Nothing here writes by itself: Retry and Approve are the console's one approvals form
(components/approvals.py, the same component ids), so its callbacks — guarded on the server by
Action.RETRY and Action.APPROVE, the session's name recorded, the same supervisor never twice —
act here too, with no second copy of that logic. A viewer sees the lists and the controls
disabled. The lists are redrawn every NOTIFY_TICK_MS, only when they changed, and at once after
a retry or an approval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import tzinfo
from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update

from opscentre.core.notify.deliveries import Delivery, State as DeliveryState
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.roles import Action
from opscentre.dashboard import ids
from opscentre.dashboard.components.approvals import approval_options, approvals_form, dead_options
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.pages.frame import Console, Page, Viewer, page_shell
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import N_, Translator
from opscentre.layers.base import local_label

NOTIFY_TICK_MS = 10_000
RECENT = 100  # deliveries listed (the most recently changed)
DEAD_LISTED = 50  # as the retry list offers (components/approvals.py MAX_DEAD)
ALL = "all"
TEXT = {
    "title": N_("Notifications"),
    "counts": N_("By state"),
    "recent": N_("Recent deliveries"),
    "dead": N_("Dead letters"),
    "approvals": N_("Mass sends awaiting approval"),
    "actions": N_("Retry and approve"),
    "filter": N_("State"),
    "all": N_("all"),
    "none": N_("None."),
    "unreachable": N_("Redis unreachable — reconnecting"),
    "when": N_("Changed"), "state": N_("State"), "channel": N_("Channel"), "recipient": N_("Recipient"),
    "incident": N_("Incident"), "notification": N_("Notification"), "attempts": N_("Attempts"),
    "error": N_("Last error"), "created": N_("Created"), "messages": N_("Messages"),
    "approved_by": N_("Approved by"), "nobody": N_("nobody yet"),
    "state_word": {"awaiting_approval": N_("awaiting approval"), "queued": N_("queued"), "sending": N_("sending"),
                   "sent": N_("sent"), "delivered": N_("delivered"), "failed": N_("failed (will retry)"),
                   "undelivered": N_("undelivered"), "dead": N_("dead letter"), "unknown": N_("unknown"),
                   "cancelled": N_("cancelled")},
}


def state_word(state: str, t: Translator) -> str:
    return t.gettext(TEXT["state_word"][state]) if state in TEXT["state_word"] else state


def recipient(d: Delivery) -> str:
    """A webhook by its name (and address), a phone as masked as it is stored: never more."""
    return f"{d.recipient_id} · {d.target_masked}" if d.channel == "webhook" else d.target_masked


def delivery_rows(deliveries: Iterable[Delivery], tz: tzinfo, t: Translator) -> list[dict[str, Any]]:
    """The table's rows (pure), the most recently changed first."""
    rows = [{"id": d.id, "state": d.state.value, "state_text": state_word(d.state.value, t), "channel": d.channel,
             "recipient": recipient(d), "incident": d.incident_id or "", "notification": d.transition,
             "attempts": d.attempts, "error": d.last_error or "", "updated_at": d.updated_at,
             "when": local_label(d.updated_at, tz, t), "created": local_label(d.created_at, tz, t)}
            for d in deliveries]
    rows.sort(key=lambda r: (-r["updated_at"], r["id"]))
    return rows


def approval_rows(waiting: Iterable[Delivery], tz: tzinfo, t: Translator) -> list[dict[str, Any]]:
    """One row per mass send awaiting approval (pure): how many messages, which incident, who approved."""
    by_notification: dict[str, list[Delivery]] = defaultdict(list)
    for d in waiting:
        by_notification[d.notification_id].append(d)
    return [{"id": notification_id, "count": len(held), "channel": held[0].channel,
             "incident": held[0].incident_id or "", "notification": held[0].transition,
             "approved_by": ", ".join(sorted({a for d in held for a in d.approvals})) or t.gettext(TEXT["nobody"]),
             "created": local_label(min(d.created_at for d in held), tz, t)}
            for notification_id, held in sorted(by_notification.items())]


def model(store: DeliveryStore, state: str, tz: tzinfo, t: Translator) -> dict[str, Any]:
    """What the page shows, as plain data (compared to redraw only on a change)."""
    try:
        counts = store.counts()
        if state == ALL:
            recent = [d for s in DeliveryState for d in store.by_state(s, RECENT)]
        else:
            recent = store.by_state(DeliveryState(state), RECENT)
        rows = delivery_rows(recent, tz, t)[:RECENT]
        dead = delivery_rows(store.by_state(DeliveryState.DEAD, DEAD_LISTED), tz, t)
        waiting = approval_rows(store.by_state(DeliveryState.AWAITING_APPROVAL, 1000), tz, t)
    except REDIS_DOWN:
        return {"unreachable": True, "lang": t.lang}
    return {"counts": counts, "recent": rows, "dead": dead, "waiting": waiting, "state": state, "lang": t.lang}


def _incident_link(incident_id: str) -> Any:
    return dcc.Link(incident_id, href=f"/incident/{incident_id}") if incident_id else "–"


def deliveries_table(rows: list[dict[str, Any]], t: Translator, kind: str) -> Any:
    if not rows:
        return html.P(t.gettext(TEXT["none"]), className="incident-none")
    columns = ("when", "state", "channel", "recipient", "incident", "notification", "attempts", "error", "created")
    head = html.Thead(html.Tr([html.Th(t.gettext(TEXT[c]), scope="col") for c in columns]))
    body = html.Tbody([html.Tr([
        html.Td(r["when"]), html.Td(r["state_text"], className=f"delivery-state delivery-{r['state']}"),
        html.Td(r["channel"]), html.Td(r["recipient"], className="delivery-recipient"),
        html.Td(_incident_link(r["incident"])), html.Td(r["notification"]),
        html.Td(r["attempts"], className="feed-number"), html.Td(r["error"], className="feed-error"),
        html.Td(r["created"]),
    ], **{"data-delivery": r["id"], "data-state": r["state"]}) for r in rows])
    return html.Table([head, body], className=f"feeds-table deliveries-table deliveries-{kind}")


def approvals_table(rows: list[dict[str, Any]], t: Translator) -> Any:
    if not rows:
        return html.P(t.gettext(TEXT["none"]), className="incident-none")
    columns = ("notification", "messages", "channel", "incident", "approved_by", "created")
    head = html.Thead(html.Tr([html.Th(t.gettext(TEXT[c]), scope="col") for c in columns]))
    body = html.Tbody([html.Tr([
        html.Td(f"{r['id']} · {r['notification']}"), html.Td(r["count"], className="feed-number"),
        html.Td(r["channel"]), html.Td(_incident_link(r["incident"])), html.Td(r["approved_by"]),
        html.Td(r["created"]),
    ], **{"data-notification": r["id"]}) for r in rows])
    return html.Table([head, body], className="feeds-table approvals-table")


def count_line(counts: Mapping[str, int], t: Translator) -> Any:
    items = [html.Li([html.Span(state_word(s.value, t), className="delivery-count-state"), " ",
                      html.Strong(str(counts.get(s.value, 0)))], className=f"delivery-count delivery-{s.value}",
                     **{"data-state": s.value})
             for s in DeliveryState]
    return html.Ul(items, className="delivery-counts")


def parts(held: Mapping[str, Any], t: Translator) -> tuple[Any, Any, Any, Any]:
    """(counts, recent, dead letters, approvals) as drawn."""
    if held.get("unreachable"):
        line = html.P(t.gettext(TEXT["unreachable"]), className="status-error")
        return line, None, None, None
    return (count_line(held["counts"], t), deliveries_table(held["recent"], t, "recent"),
            deliveries_table(held["dead"], t, "dead"), approvals_table(held["waiting"], t))


def layout(console: Console, viewer: Viewer, _param: str = "") -> html.Div:
    t, tz = viewer.t, console.settings.tz
    held = model(console.deliveries, ALL, tz, t)
    counts, recent, dead, waiting = parts(held, t)
    states = [{"label": t.gettext(TEXT["all"]), "value": ALL},
              *({"label": state_word(s.value, t), "value": s.value} for s in DeliveryState)]

    def section(title: str, *children: Any, extra: str = "") -> html.Section:
        return html.Section([html.H2(t.gettext(title), className="panel-title"), *children],
                            className=f"notify-section {extra}".strip())

    main = [
        html.Div(counts, id=ids.NOTIFY_COUNTS),
        html.Div([
            html.Div([
                section(TEXT["dead"], html.Div(dead, id=ids.NOTIFY_DEAD)),
                section(TEXT["approvals"], html.Div(waiting, id=ids.NOTIFY_APPROVALS)),
                section(TEXT["recent"],
                        html.Label([t.gettext(TEXT["filter"]), " ",
                                    dcc.Dropdown(id=ids.NOTIFY_STATE, options=states, value=ALL, clearable=False,
                                                 className="notify-state")], className="notify-filter"),
                        html.Div(recent, id=ids.NOTIFY_RECENT)),
            ], className="notify-lists"),
            section(TEXT["actions"], approvals_form(console.deliveries, Action.APPROVE in viewer.can,
                                                    Action.RETRY in viewer.can, t), extra="notify-actions"),
        ], className="notify-columns"),
        dcc.Store(id=ids.NOTIFY_HELD, data=held),
        dcc.Interval(id=ids.NOTIFY_TICK, interval=NOTIFY_TICK_MS),
    ]
    return page_shell(console, viewer, [], main, t.gettext(TEXT["title"]))


def register(app: Dash, console: Console) -> None:
    store, tz = console.deliveries, console.settings.tz

    @app.callback(
        Output(ids.NOTIFY_COUNTS, "children"), Output(ids.NOTIFY_RECENT, "children"),
        Output(ids.NOTIFY_DEAD, "children"), Output(ids.NOTIFY_APPROVALS, "children"),
        Output(ids.NOTIFY_HELD, "data"),
        Output(ids.DEAD_LETTERS, "options", allow_duplicate=True),
        Output(ids.APPROVALS, "options", allow_duplicate=True),
        Input(ids.NOTIFY_TICK, "n_intervals"), Input(ids.NOTIFY_STATE, "value"),
        Input(ids.RETRY_RESULT, "children"), Input(ids.APPROVE_RESULT, "children"),  # an action here: redraw at once
        State(ids.NOTIFY_HELD, "data"),
        prevent_initial_call=True,
    )
    def refresh(_n, state, _retried, _approved, held):
        t = console_translator()
        state = state if state in {ALL, *(s.value for s in DeliveryState)} else ALL
        now_held = model(store, state, tz, t)
        if now_held == held:
            return (no_update,) * 7
        try:
            options = dead_options(store, t), approval_options(store, t)
        except REDIS_DOWN:
            options = no_update, no_update
        return (*parts(now_held, t), now_held, *options)


PAGE = Page("/notifications", TEXT["title"], layout, register)
