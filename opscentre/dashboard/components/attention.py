"""The console's attention: a chime while any critical (or emergency) alert is firing and nobody
has acknowledged it, and an aria-live region that announces each new alert and each stage change
to screen readers.

The server decides *what* needs attention, on the map's tick, from the console's status snapshot
(core/operator_documents.py: built once per data version or operator action for every console):
`attention_model` lists the firing alerts, the ones that ring and the stage; this browser's store
holds the last one it saw, so an update is sent only when something changed, and the
announcement names only what is new to this screen. The browser does the sound
(assets/attention.js, Web Audio: no sound file; allowed by the CSP as a same-origin script): it
rings while the element's class says `attention-alarm` and this screen has not muted it (a toggle
kept in localStorage, per screen), and says so in `data-chime` (ringing | muted | silent).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from opscentre.core.errors import StoreUnavailable
from opscentre.dashboard import ids
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.console_language import console_translator
from opscentre.i18n import Translator
from opscentre.i18n.vocabulary import SEVERITIES, STAGES

RINGING_SEVERITIES = frozenset({"critical", "emergency"})
MAX_ANNOUNCED = 5  # alerts named in one announcement; more are counted


def attention_model(alerts: list[dict[str, Any]], stage: dict[str, Any] | None,
                    stage_request: str | None = None) -> dict[str, Any]:
    """{firing: ids of firing alerts, ringing: the critical / emergency ones nobody acknowledged, stage,
    stage_request: the id of the stage change waiting for a second supervisor (the stage panel redraws
    when it moves: one tick callback, not two)}."""
    firing = [a for a in alerts if a.get("state") == "firing"]
    return {"firing": sorted(a["id"] for a in firing),
            "ringing": sorted(a["id"] for a in firing
                              if a.get("severity") in RINGING_SEVERITIES and not a.get("acknowledged_by")),
            "stage": (stage or {}).get("level"), "stage_request": stage_request}


def announcement(t: Translator, before: dict[str, Any] | None, after: dict[str, Any],
                 alerts: list[dict[str, Any]]) -> str | None:
    """What a screen reader should hear: the alerts firing now that were not before, and a new stage."""
    if before is None:
        return None
    known = set(before.get("firing") or [])
    by_id = {a["id"]: a for a in alerts}
    new = [by_id[i] for i in after["firing"] if i not in known and i in by_id]
    new.sort(key=lambda a: a.get("severity") not in RINGING_SEVERITIES)
    parts = [t.gettext("New alert: {severity} — {summary}").format(
        severity=t.gettext(SEVERITIES.get(a.get("severity"), a.get("severity") or "")),
        summary=a.get("summary") or a.get("rule") or a["id"]) for a in new[:MAX_ANNOUNCED]]
    if len(new) > MAX_ANNOUNCED:
        parts.append(t.ngettext("and {n} more alert", "and {n} more alerts", len(new) - MAX_ANNOUNCED).format(
            n=len(new) - MAX_ANNOUNCED))
    level = after.get("stage")
    if level and before.get("stage") and level != before.get("stage") and level in STAGES:
        parts.append(t.gettext("The city is now at stage {level} — {name}.").format(
            level=level, name=t.gettext(STAGES[level][0])))
    return " ".join(p if p.endswith(".") else p + "." for p in parts) or None


def alarm_class(model: dict[str, Any]) -> str:
    return "attention attention-alarm" if model["ringing"] else "attention"


def attention_parts(t: Translator, model: dict[str, Any]) -> list[Any]:
    """The chime's element with its mute toggle, the announcer, and this browser's store."""
    labels = {"data-label-mute": t.gettext("Mute the chime on this screen"),
              "data-label-unmute": t.gettext("Unmute the chime on this screen"),
              "data-text-ringing": t.gettext("Chime: an unacknowledged critical alert"),
              "data-text-muted": t.gettext("Chime muted on this screen"),
              "data-text-silent": t.gettext("Chime: quiet")}
    return [
        html.Div([
            html.Span(t.gettext("Chime: quiet"), className="attention-text"),
            html.Button(t.gettext("Mute the chime on this screen"), id=ids.ATTENTION_MUTE, n_clicks=0,
                        className="attention-mute", type="button", **{"aria-pressed": "false"}),
        ], id=ids.ATTENTION, className=alarm_class(model), **{"data-chime": "silent"}, **labels),
        html.Div(id=ids.ATTENTION_LIVE, className="visually-hidden", role="status",
                 **{"aria-live": "polite", "aria-atomic": "true"}),
        dcc.Store(id=ids.ATTENTION_STATE, data=model),
    ]


def register_attention(app: Dash, status_source,
                       stage_request: Callable[[float], str | None] = lambda _now: None) -> None:
    """`status_source(now)`: the console's status (dashboard/components/status_bar.OperatorStatus);
    `stage_request(now)`: the id of the stage change waiting for confirmation, if any. The
    announcements are in the signed-in user's console language."""

    @app.callback(
        Output(ids.ATTENTION_STATE, "data"),
        Output(ids.ATTENTION, "className"),
        Output(ids.ATTENTION_LIVE, "children"),
        Input(ids.TICK, "n_intervals"),
        State(ids.ATTENTION_STATE, "data"),
        prevent_initial_call=True,
    )
    def attention(_n, held):
        try:
            now = time.time()
            status = status_source(now)
            model = attention_model(status.alerts, status.stage, stage_request(now))
        except (StoreUnavailable, *REDIS_DOWN):
            raise PreventUpdate from None
        if model == held:
            raise PreventUpdate
        said = announcement(console_translator(), held, model, status.alerts)
        return model, alarm_class(model), said if said else no_update
