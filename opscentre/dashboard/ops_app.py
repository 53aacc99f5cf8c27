"""The operator console: a full-window live map with layer toggles, legend and status bar.

Its own Dash app on its own Flask server; every route except /login needs an operator session
(see auth.py). The layer toggle changes what this browser shows; the writes are the alert
actions (components/ack_form.py: acknowledge, resolve, silence) the approvals of mass sends and
retries of dead letters (components/approvals.py), the stage set by hand with the two-person rule
(components/stage_panel.py), each checked against the signed-in user's role on the server
(dashboard/roles.py). The page shows the role and disables what it may not do. An unacknowledged
critical alert chimes (mutable per screen) and new alerts are announced to screen readers
(components/attention.py).
"""

from __future__ import annotations

import time

from dash import Dash, Input, Output, dcc, html
from flask import Flask
from flask_login import current_user

from opscentre.core.alert_store import AlertStore
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.roles import Action, allows
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard import ids
from opscentre.dashboard.assets import ASSETS
from opscentre.dashboard.auth import csrf_token
from opscentre.dashboard.components.ack_form import ack_form, register_ack
from opscentre.dashboard.components.approvals import approvals_form, register_approvals
from opscentre.dashboard.components.attention import attention_model, attention_parts, register_attention
from opscentre.dashboard.components.incident_panel import IncidentPanel
from opscentre.dashboard.components.map_figure import visibility_patch
from opscentre.dashboard.components.stage_panel import pending_id, register_stage, stage_panel
from opscentre.dashboard.live_map import LiveMap, map_overlays, map_shell
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.roles import current_role
from opscentre.core import stage_control
from opscentre.i18n import translator
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


def layer_toggle(layer_ids: list[str], visible: list[str]) -> dcc.Checklist:
    keys = access_keys(layer_ids)
    options = []
    for layer_id in layer_ids:
        key = keys.get(layer_id, "")
        shortcut = {"data-layer-key": key, "aria-keyshortcuts": f"Alt+{key.upper()}"} if key else {}
        label = html.Span(LAYERS[layer_id].label, title=f"Show/hide (Alt+{key.upper()})" if key else None, **shortcut)
        options.append({"label": label, "value": layer_id})
    return dcc.Checklist(id=ids.LAYER_TOGGLE, options=options, value=visible, inline=True,
                         className="layer-toggle", inputClassName="layer-toggle-input")


def create_ops_app(settings: Settings, store: Store, simulated: bool, server: Flask) -> Dash:
    app = Dash(__name__, server=server, url_base_pathname="/", assets_folder=ASSETS,
               title=f"{settings.city.name} — operations", update_title=None, serve_locally=True,
               enable_mcp=False, compress=False,
               # no validation layout: Dash would embed a whole map (data included) in every page
               suppress_callback_exceptions=True)
    live = LiveMap(settings, store, simulated, OPS_LAYERS, operator_view=True)
    incidents = IncidentPanel(store.redis, settings.zones.name_by_id, settings.tz)
    deliveries = DeliveryStore(store.redis)
    waiting_id = pending_id(store.redis)
    lang = settings.city.language  # the console's own texts (stage control, attention) are in the city's language

    def layout():
        visible = list(OPS_LAYERS)
        parts = live.initial(visible)
        operator = getattr(current_user, "id", None) or ""
        try:
            role = current_role(store.redis)
        except REDIS_DOWN:
            role = None
        can = {action for action in Action if allows(role, action)}
        t = translator(lang)
        alert_store = AlertStore(store.redis)
        try:
            now = time.time()
            status = live.status_source(now)
            noticed = attention_model(status.alerts, status.stage, waiting_id(now))
        except REDIS_DOWN:
            noticed = attention_model([], None)
        header = [
            html.Div([html.Span(settings.city.name, className="city-name"),
                      html.Span("Operations centre", className="app-name")], className="brand"),
            # (not aria-live: it changes with every poll; the attention region announces what is new)
            html.Div(parts["status"], id=ids.STATUS_BAR, className="status-bar"),
            *attention_parts(t, noticed),
            html.Div([html.Span("Layers", className="toolbar-label"), layer_toggle(OPS_LAYERS, visible)],
                     className="toolbar", role="group", **{"aria-label": "Map layers"}),
            html.Form([html.Span(operator, className="operator-name"),
                       html.Span(role.value if role else "", id=ids.OPERATOR_ROLE, className="operator-role"),
                       dcc.Input(type="hidden", name="csrf_token", value=csrf_token()),
                       html.Button("Sign out", type="submit", className="signout")],
                      method="post", action="/logout", className="operator"),
        ]
        overlays = map_overlays(settings, simulated, OPS_LAYERS, parts)
        try:
            open_alerts = alert_store.active()
            pending = stage_control.waiting(alert_store.stage_pending(), time.time())
        except REDIS_DOWN:
            open_alerts, pending = [], None
        actions = html.Div([ack_form(open_alerts, can), approvals_form(deliveries, Action.APPROVE in can,
                                                                       Action.RETRY in can),
                            stage_panel(t, pending, Action.STAGE in can, operator, settings.tz)],
                           className="console-actions")
        return map_shell(parts, header, [*overlays, *incidents.initial(), actions])

    app.layout = layout
    live.register(app)
    incidents.register(app)  # on the map's tick
    register_ack(app, store.redis)
    register_approvals(app, store.redis)
    register_stage(app, store.redis, lang, settings.tz)
    register_attention(app, live.status_source, lang, waiting_id)

    @app.callback(
        Output(ids.MAP, "figure", allow_duplicate=True),
        Input(ids.LAYER_TOGGLE, "value"),
        prevent_initial_call=True,
    )
    def toggle_layers(visible):
        shown = [layer_id for layer_id in visible or [] if layer_id in LAYERS]
        return visibility_patch(live.index, shown)

    return app
