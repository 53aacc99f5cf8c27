"""The map page (`/`): the full-window live map with its status bar, attention chime, layer
toggles, legend, alerts and incidents panels, and the actions area (acknowledge, resolve, silence;
approvals and dead letters; the stage by hand) — the console as it was before it had pages.

Its callbacks follow the map's tick (live_map.py); the writes are the components' own, each
guarded by role on the server (dashboard/roles.py).
"""

from __future__ import annotations

import time

from dash import Dash, Input, Output, dcc, html

from opscentre.core import stage_control
from opscentre.core.roles import Action
from opscentre.dashboard import ids
from opscentre.dashboard.components.ack_form import ack_form, register_ack
from opscentre.dashboard.components.approvals import approvals_form, register_approvals
from opscentre.dashboard.components.attention import register_attention
from opscentre.dashboard.components.banner import attribution, simulated_banner
from opscentre.dashboard.components.legend import legend
from opscentre.dashboard.components.map_figure import visibility_patch
from opscentre.dashboard.components.replay_panel import register_replay, replay_banner, replay_panel
from opscentre.dashboard.components.stage_panel import register_stage, stage_panel
from opscentre.dashboard.live_map import map_shell
from opscentre.dashboard.pages.frame import Console, Page, Viewer, attention, header
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import N_, Translator, translator
from opscentre.layers import LAYERS

OPS_LAYERS = list(LAYERS)


def access_keys(layer_ids: list[str]) -> dict[str, str]:
    """A distinct keyboard shortcut letter per layer toggle (Alt+letter, see assets/keyboard.js):
    the layer's preferred letter, else the first free letter of its label."""
    keys: dict[str, str] = {}
    for layer_id in layer_ids:  # preferred letters first, so label order cannot take them
        wanted = LAYERS[layer_id].shortcut.lower()
        if wanted and wanted not in keys.values():
            keys[layer_id] = wanted
    for layer_id in layer_ids:
        if layer_id in keys:
            continue
        for letter in LAYERS[layer_id].label.lower():
            if letter.isalpha() and letter not in keys.values():
                keys[layer_id] = letter
                break
    return keys


def layer_toggle(layer_ids: list[str], visible: list[str], t: Translator | None = None) -> dcc.Checklist:
    """The layers' toggles, labelled in the language of `t`; the shortcut letters come from the
    English labels, so they stay the same in every language."""
    t = t or translator(None)
    keys = access_keys(layer_ids)
    options = []
    for layer_id in layer_ids:
        key = keys.get(layer_id, "")
        shortcut = {"data-layer-key": key, "aria-keyshortcuts": f"Alt+{key.upper()}"} if key else {}
        label = html.Span(t.gettext(LAYERS[layer_id].label),
                          title=t.gettext("Show/hide (Alt+{key})").format(key=key.upper()) if key else None, **shortcut)
        options.append({"label": label, "value": layer_id})
    return dcc.Checklist(id=ids.LAYER_TOGGLE, options=options, value=visible, inline=True,
                         className="layer-toggle", inputClassName="layer-toggle-input")


def layout(console: Console, viewer: Viewer, _param: str = "") -> html.Div:
    settings, live, t, can = console.settings, console.live, viewer.t, viewer.can
    visible = list(OPS_LAYERS)
    parts = live.initial(visible)
    alert_store = console.alerts
    items = [
        # (not aria-live: it changes with every poll; the attention region announces what is new)
        html.Div(parts["status"], id=ids.STATUS_BAR, className="status-bar"),
        *attention(console, t),
        html.Div([html.Span(t.gettext("Layers"), className="toolbar-label"), layer_toggle(OPS_LAYERS, visible, t)],
                 className="toolbar", role="group", **{"aria-label": t.gettext("Map layers")}),
    ]
    overlays = [o for o in (
        simulated_banner(console.simulated, t),
        replay_banner(t),
        html.Div(legend(OPS_LAYERS, t, settings), id=ids.LEGEND, className="legend-panel"),
        html.Div(parts["alerts"], id=ids.ALERTS_PANEL, className="alerts-panel"),
        attribution(settings),
    ) if o is not None]  # (live_map.map_overlays' parts, in the console's language)
    try:
        open_alerts = alert_store.active()
        pending = stage_control.waiting(alert_store.stage_pending(), time.time())
    except REDIS_DOWN:
        open_alerts, pending = [], None
    actions = html.Div([ack_form(open_alerts, can, t),
                        approvals_form(console.deliveries, Action.APPROVE in can, Action.RETRY in can, t),
                        stage_panel(t, pending, Action.STAGE in can, viewer.name, settings.tz),
                        replay_panel(t)],
                       className="console-actions")
    return map_shell(parts, header(console, viewer, items), [*overlays, *console.incidents.initial(t), actions])


def register(app: Dash, console: Console) -> None:
    live, settings = console.live, console.settings
    live.register(app)
    console.incidents.register(app)  # on the map's tick
    register_ack(app, console.store.redis, settings.city.timezone)  # (the alerts page's queue uses the same actions)
    register_approvals(app, console.store.redis)
    register_stage(app, console.store.redis, settings.tz)
    register_attention(app, live.status_source, console.waiting_id)
    register_replay(app, live, settings.tz)

    @app.callback(
        Output(ids.MAP, "figure", allow_duplicate=True),
        Input(ids.LAYER_TOGGLE, "value"),
        prevent_initial_call=True,
    )
    def toggle_layers(visible):
        shown = [layer_id for layer_id in visible or [] if layer_id in LAYERS]
        return visibility_patch(live.index, shown)


PAGE = Page("/", N_("Map"), layout, register)
