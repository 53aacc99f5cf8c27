"""Replay on the console's map (issue 13 item 4): a slider over the last 24 h redraws the map, the
status bar (the stage then) and the alert list as they were at that time, from what is stored
(core/replay.py through LiveMap.replay); "Back to live" (or the slider at its right end) returns
to the live map.

While a moment is replayed the map's held state carries it (`replay`), so the live tick leaves the
map alone, and a banner over the map says "Replaying HH:MM" in large type (aria-live) so nobody
takes the past for the present. Leaving replay empties the held state: the next tick sends the live map
whole. The slider moves by 5 minutes (arrow keys), by the hour with Page Up / Page Down.
"""

from __future__ import annotations

import time
from datetime import datetime
from datetime import tzinfo
from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from opscentre.core.replay import WINDOW_S
from opscentre.dashboard import ids
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.live_map import LiveMap
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import N_, Translator

STEP_MIN = 5
WINDOW_MIN = int(WINDOW_S // 60)
TEXT = {
    "title": N_("Replay (last 24 h)"),
    "live": N_("Live"),
    "back": N_("Back to live"),
    "replaying": N_("Replaying {time} — the map, the stage and the alerts as they were then"),
    "hours_ago": N_("{h} h ago"),
    "now": N_("now"),
    "unreachable": N_("Redis unreachable — cannot replay now"),
}


def replay_panel(t: Translator) -> html.Div:
    marks = {-m: t.gettext(TEXT["hours_ago"]).format(h=m // 60) for m in range(360, WINDOW_MIN + 1, 360)}
    marks[0] = t.gettext(TEXT["now"])
    return html.Div([
        html.Span(t.gettext(TEXT["title"]), className="replay-title", id=f"{ids.REPLAY_SLIDER}-label"),
        dcc.Slider(id=ids.REPLAY_SLIDER, min=-WINDOW_MIN, max=0, step=STEP_MIN, value=0, marks=marks,
                   updatemode="mouseup", className="replay-slider"),
        html.Button(t.gettext(TEXT["back"]), id=ids.REPLAY_LIVE, className="replay-live", n_clicks=0),
    ], className="replay-panel", role="group", **{"aria-labelledby": f"{ids.REPLAY_SLIDER}-label"})


def replay_banner(t: Translator) -> html.Div:
    """Over the map: empty while live; while replaying, "Replaying HH:MM ..." in large type."""
    return html.Div(t.gettext(TEXT["live"]), id=ids.REPLAY_LABEL, className="replay-label", role="status",
                    **{"aria-live": "polite"})


def moment(minutes_back: Any, now: float) -> float | None:
    """The moment the slider names (None: live). Anything but a number within the window is live."""
    try:
        minutes = float(minutes_back)
    except (TypeError, ValueError):
        return None
    if not -WINDOW_MIN <= minutes < 0:
        return None
    return now + minutes * 60


def replaying_text(t: Translator, at: float, tz: tzinfo) -> str:
    return t.gettext(TEXT["replaying"]).format(time=datetime.fromtimestamp(at, tz).strftime("%d/%m %H:%M"))


def register_replay(app: Dash, live: LiveMap, tz: tzinfo) -> None:
    @app.callback(
        Output(ids.MAP, "figure", allow_duplicate=True),
        Output(ids.STATUS_BAR, "children", allow_duplicate=True),
        Output(ids.ALERTS_PANEL, "children", allow_duplicate=True),
        Output(ids.MAP_STATE, "data", allow_duplicate=True),
        Output(ids.REPLAY_LABEL, "children"),
        Output(ids.REPLAY_SLIDER, "value"),
        Output(ids.REPLAY_LABEL, "className"),
        Input(ids.REPLAY_SLIDER, "value"),
        Input(ids.REPLAY_LIVE, "n_clicks"),
        State(ids.MAP_STATE, "data"),
        prevent_initial_call=True,
    )
    def replay(minutes_back, _back, held):
        t = console_translator()
        held = held if isinstance(held, dict) else {}
        at = None if ctx.triggered_id == ids.REPLAY_LIVE else moment(minutes_back, time.time())
        if at is None:  # live again: an empty held state makes the next tick send the live map whole
            return (no_update, no_update, no_update, {}, t.gettext(TEXT["live"]),
                    0 if minutes_back != 0 else no_update, "replay-label")
        try:
            figure, status, alerts, new_held = live.replay(at, held)
        except REDIS_DOWN:
            return (no_update, no_update, no_update, no_update, t.gettext(TEXT["unreachable"]), no_update,
                    "replay-label")
        return figure, status, alerts, new_held, replaying_text(t, at, tz), no_update, "replay-label replaying"
