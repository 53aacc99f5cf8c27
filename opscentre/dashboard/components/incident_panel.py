"""The console's Incidents panel: open (and recently resolved) incidents with their severity,
bairros, age in the city's time zone, and their messages — how many went out by channel and how
many are delivered, failed or still waiting ("SMS 120 · 118 delivered · 2 failed").

One read per tick: the incidents and each one's delivery counts in one Redis round trip
(core/notify/incident_counts.py, kept in step with every delivery change). The panel is built
from a small JSON-able model and redrawn only when that model changed. Every string the panel
shows is in TEXT, marked for the catalogue and written in the console's language
(dashboard/console_language.py; the model names its language, so a switch redraws it).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import tzinfo
from typing import Any

import orjson
from dash import Dash, Input, Output, State, dcc, html, no_update
from redis import Redis

from opscentre.core.alerting.incidents import CITY_WIDE
from opscentre.core.alerting.rules import AlertSeverity
from opscentre.core.notify.deliveries import State as Delivery
from opscentre.core.notify.incident_counts import Counts, IncidentsWithCounts
from opscentre.dashboard import ids
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import N_, Translator
from opscentre.layers.base import local_label, texts

TEXT = {
    "title": N_("Incidents"),
    "label": N_("Incidents and their notifications"),
    "none": N_("No open incidents"),
    "unreachable": N_("Redis unreachable — reconnecting"),
    "city_wide": N_("city-wide"),
    "opened": N_("opened {when} · {age} ago"),
    "resolved": N_("resolved {when}"),
    "no_messages": N_("no messages"),
    "more": N_("+{n} more"),
    "age_minutes": N_("{m} min"),
    "age_hours": N_("{h} h {m} min"),
    "age_days": N_("{d} d {h} h"),
    "channel": {"sms": N_("SMS"), "webhook": N_("webhook"), "log": N_("log")},
    "severity": {"advisory": N_("advisory"), "warning": N_("warning"), "critical": N_("critical"),
                 "emergency": N_("emergency")},
    "group": {"delivered": N_("{n} delivered"), "sent": N_("{n} sent"), "waiting": N_("{n} waiting"),
              "approval": N_("{n} awaiting approval"), "failed": N_("{n} failed"), "unknown": N_("{n} unknown"),
              "cancelled": N_("{n} cancelled")},
}


def _(t: Translator | None, text: str) -> str:
    return texts(t).gettext(text)


# What the operator reads, from the delivery states (core/notify/deliveries.py), in this order.
GROUPS = (
    ("delivered", (Delivery.DELIVERED,)),
    ("sent", (Delivery.SENT,)),  # the provider took it; no receipt yet
    ("waiting", (Delivery.QUEUED, Delivery.SENDING, Delivery.FAILED)),  # failed: a retry is due
    ("approval", (Delivery.AWAITING_APPROVAL,)),
    ("failed", (Delivery.UNDELIVERED, Delivery.DEAD)),
    ("unknown", (Delivery.UNKNOWN,)),
    ("cancelled", (Delivery.CANCELLED,)),
)
CHANNEL_ORDER = ("sms", "webhook")
RECENTLY_RESOLVED_S = 6 * 3600  # resolved incidents stay listed this long
MAX_ROWS = 8
MAX_ZONES = 4


def age_text(seconds: float, t: Translator | None = None) -> str:
    minutes = max(0, int(seconds // 60))
    hours, m = divmod(minutes, 60)
    days, h = divmod(hours, 24)
    if days:
        return _(t, TEXT["age_days"]).format(d=days, h=h)
    if hours:
        return _(t, TEXT["age_hours"]).format(h=hours, m=m)
    return _(t, TEXT["age_minutes"]).format(m=m)


def channel_line(channel: str, by_state: Mapping[str, int], t: Translator | None = None) -> str:
    """'SMS 120 · 118 delivered · 2 failed': the channel's messages, then where they stand."""
    total = sum(by_state.values())
    name = TEXT["channel"].get(channel)
    parts = [f"{_(t, name) if name else channel} {total}"]
    for group, states in GROUPS:
        n = sum(by_state.get(s.value, 0) for s in states)
        if n:
            parts.append(_(t, TEXT["group"][group]).format(n=n))
    return " · ".join(parts)


def zones_text(zone_ids: Iterable[str], zone_names: Mapping[str, str], t: Translator | None = None) -> str:
    names = [_(t, TEXT["city_wide"]) if z == CITY_WIDE else zone_names.get(z, z) for z in zone_ids]
    shown = ", ".join(names[:MAX_ZONES])
    return shown + (f" {_(t, TEXT['more']).format(n=len(names) - MAX_ZONES)}" if len(names) > MAX_ZONES else "")


def panel_model(incidents: Iterable[tuple[str, Mapping[str, Any], Counts]], zone_names: Mapping[str, str],
                tz: tzinfo, now: float, t: Translator | None = None) -> dict[str, Any]:
    """The panel's content (pure) in the language of `t` (None: English): open incidents, worst and
    newest first, then those resolved in the last RECENTLY_RESOLVED_S, most recent first; each with
    its channels' lines."""
    rows = []
    for incident_id, incident, counts in incidents:
        try:
            severity = AlertSeverity(incident["severity"])
            opened_at = float(incident["opened_at"])
        except (KeyError, TypeError, ValueError):
            continue  # not an incident this version knows how to show
        resolved_at = incident.get("resolved_at") if incident.get("state") == "resolved" else None
        if resolved_at is not None and now - float(resolved_at) > RECENTLY_RESOLVED_S:
            continue
        channels = [c for c in CHANNEL_ORDER if c in counts] + sorted(c for c in counts if c not in CHANNEL_ORDER)
        order = (resolved_at is not None, -severity.rank if resolved_at is None else 0,
                 -(float(resolved_at) if resolved_at is not None else opened_at))
        rows.append((order, {
            "id": incident_id, "severity": severity.value, "open": resolved_at is None,
            "severity_text": _(t, TEXT["severity"][severity.value]) if severity.value in TEXT["severity"]
            else severity.value,
            "zones": zones_text(incident.get("zone_ids") or (), zone_names, t),
            "when": (_(t, TEXT["opened"]).format(when=local_label(opened_at, tz, t), age=age_text(now - opened_at, t))
                     if resolved_at is None
                     else _(t, TEXT["resolved"]).format(when=local_label(float(resolved_at), tz, t))),
            "messages": [channel_line(c, counts[c], t) for c in channels] or [_(t, TEXT["no_messages"])],
        }))
    rows.sort(key=lambda order_row: order_row[0])
    return {"rows": [row for _, row in rows[:MAX_ROWS]], "more": max(0, len(rows) - MAX_ROWS)}


def panel_children(model: Mapping[str, Any], t: Translator | None = None) -> list[Any]:
    title = html.Div(_(t, TEXT["title"]), className="panel-title")
    if model.get("unreachable"):
        return [title, html.Div(_(t, TEXT["unreachable"]), className="status-error")]
    if not model["rows"]:
        return [title, html.Div(_(t, TEXT["none"]), className="incident-none")]
    items = [html.Li([
        html.Div([html.Span(r["severity_text"], className=f"incident-severity severity-{r['severity']}"),
                  html.Span(r["zones"], className="incident-zones")], className="incident-head"),
        html.Div(r["when"], className="incident-when"),
        *[html.Div(line, className="incident-messages") for line in r["messages"]],
    ], className="incident" + ("" if r["open"] else " incident-resolved"), **{"data-incident": r["id"]})
        for r in model["rows"]]
    more = [html.Div(_(t, TEXT["more"]).format(n=model["more"]), className="incident-when")] if model["more"] else []
    return [title, html.Ul(items, className="incident-list"), *more]


def _digest(model: Mapping[str, Any]) -> str:
    return hashlib.blake2b(orjson.dumps(model, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()


class IncidentPanel:
    """The panel's read (one round trip) and its place in the page and the tick."""

    def __init__(self, redis: Redis, zone_names: Mapping[str, str], tz: tzinfo,
                 clock: Callable[[], float] = time.time):
        self.read_incidents, self.zone_names, self.tz, self.clock = IncidentsWithCounts(redis), zone_names, tz, clock

    def model(self, t: Translator | None = None) -> dict[str, Any]:
        """The panel's model in the language of `t` (None: the console request's)."""
        t = console_translator(t)
        try:
            rows = [(i, orjson.loads(raw), counts) for i, raw, counts in self.read_incidents()]
        except REDIS_DOWN:
            return {"unreachable": True, "lang": t.lang}
        return {**panel_model(rows, self.zone_names, self.tz, self.clock(), t), "lang": t.lang}

    def initial(self, t: Translator | None = None) -> list[Any]:
        t = console_translator(t)
        model = self.model(t)
        return [html.Div(panel_children(model, t), id=ids.INCIDENT_PANEL, className="incident-panel",
                         role="region", **{"aria-label": t.gettext(TEXT["label"])}),
                dcc.Store(id=ids.INCIDENT_PANEL_STATE, data=_digest(model))]

    def tick(self, held: Any) -> tuple[Any, Any]:
        """The panel's children and digest when they changed since `held`, else nothing at all."""
        t = console_translator()
        model = self.model(t)
        digest = _digest(model)
        if digest == held:
            return no_update, no_update
        return panel_children(model, t), digest

    def register(self, app: Dash) -> None:
        @app.callback(Output(ids.INCIDENT_PANEL, "children"), Output(ids.INCIDENT_PANEL_STATE, "data"),
                      Input(ids.TICK, "n_intervals"), State(ids.INCIDENT_PANEL_STATE, "data"),
                      prevent_initial_call=True)
        def refresh(_n_intervals, held):
            return self.tick(held)
