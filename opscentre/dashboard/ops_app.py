"""The operator console: a full-window live map with layer toggles, legend and status bar.

Its own Dash app on its own Flask server; every route except /login needs an operator session
(see auth.py). The layer toggle changes what this browser shows; the writes are the alert
actions (components/ack_form.py: acknowledge, resolve, silence) the approvals of mass sends and
retries of dead letters (components/approvals.py), the stage set by hand with the two-person rule
(components/stage_panel.py), each checked against the signed-in user's role on the server
(dashboard/roles.py). The page shows the role and disables what it may not do. An unacknowledged
critical alert chimes (mutable per screen) and new alerts are announced to screen readers
(components/attention.py).

Language: every text is in the city's language (`city.language`) unless a user picks another with
`?lang=` on a console URL (kept in their session: dashboard/console_language.py); the header names
the languages we have as links. The map's hover texts are not yet (live_map.py passes no language
to the layers).
"""

from __future__ import annotations

import time

from typing import Any

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
from opscentre.dashboard.components.banner import attribution, simulated_banner
from opscentre.dashboard.components.incident_panel import IncidentPanel
from opscentre.dashboard.components.legend import legend
from opscentre.dashboard.components.map_figure import visibility_patch
from opscentre.dashboard.components.stage_panel import pending_id, register_stage, stage_panel
from opscentre.dashboard.console_language import console_lang, install_console_language
from opscentre.dashboard.live_map import LiveMap, map_shell
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.roles import current_role
from opscentre.core import stage_control
from opscentre.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Translator, translator
from opscentre.layers import LAYERS

OPS_LAYERS = list(LAYERS)
TITLE = N_("{city} — operations")


class OpsDash(Dash):
    """The console's index page in the console's language: `<html lang>` and the title."""

    city: str = ""

    def interpolate_index(self, **kwargs: Any) -> str:
        t = translator(console_lang())
        kwargs["title"] = t.gettext(TITLE).format(city=self.city)
        page = super().interpolate_index(**kwargs)
        return page.replace("<html>", f'<html lang="{t.lang}">', 1)


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


def language_switch(t: Translator) -> html.Nav:
    """Links to the console in each language we have (`?lang=`, then kept in the session)."""
    links = [html.A(LANGUAGE_NAMES[lang], href=f"/?lang={lang}", lang=lang, hrefLang=lang,
                    className="console-lang" + (" console-lang-current" if lang == t.lang else ""),
                    **({"aria-current": "true"} if lang == t.lang else {}))
             for lang in LANGUAGES]
    return html.Nav(links, className="console-langs", **{"aria-label": t.gettext("Language")})


def create_ops_app(settings: Settings, store: Store, simulated: bool, server: Flask) -> Dash:
    install_console_language(server, settings.city.language)
    app = OpsDash(__name__, server=server, url_base_pathname="/", assets_folder=ASSETS,
                  title=f"{settings.city.name} — operations", update_title=None, serve_locally=True,
                  enable_mcp=False, compress=False,
                  # no validation layout: Dash would embed a whole map (data included) in every page
                  suppress_callback_exceptions=True)
    app.city = settings.city.name
    live = LiveMap(settings, store, simulated, OPS_LAYERS, operator_view=True)
    incidents = IncidentPanel(store.redis, settings.zones.name_by_id, settings.tz)
    deliveries = DeliveryStore(store.redis)
    waiting_id = pending_id(store.redis)
    # the stage panel's and attention's callbacks speak the city's language; the rest, the console's
    lang = settings.city.language

    def layout():
        visible = list(OPS_LAYERS)
        parts = live.initial(visible)
        operator = getattr(current_user, "id", None) or ""
        try:
            role = current_role(store.redis)
        except REDIS_DOWN:
            role = None
        can = {action for action in Action if allows(role, action)}
        t = translator(console_lang())  # the city's, or the one this user picked (?lang=)
        alert_store = AlertStore(store.redis)
        try:
            now = time.time()
            status = live.status_source(now)
            noticed = attention_model(status.alerts, status.stage, waiting_id(now))
        except REDIS_DOWN:
            noticed = attention_model([], None)
        header = [
            html.Div([html.Span(settings.city.name, className="city-name"),
                      html.Span(t.gettext("Operations centre"), className="app-name")], className="brand"),
            # (not aria-live: it changes with every poll; the attention region announces what is new)
            html.Div(parts["status"], id=ids.STATUS_BAR, className="status-bar"),
            *attention_parts(t, noticed),
            html.Div([html.Span(t.gettext("Layers"), className="toolbar-label"), layer_toggle(OPS_LAYERS, visible, t)],
                     className="toolbar", role="group", **{"aria-label": t.gettext("Map layers")}),
            language_switch(t),
            html.Form([html.Span(operator, className="operator-name"),
                       # (the role's own name, as `opscentre users role` spells it)
                       html.Span(role.value if role else "", id=ids.OPERATOR_ROLE, className="operator-role",
                                 title=t.gettext("Your role")),
                       dcc.Input(type="hidden", name="csrf_token", value=csrf_token()),
                       html.Button(t.gettext("Sign out"), type="submit", className="signout")],
                      method="post", action="/logout", className="operator"),
        ]
        overlays = [o for o in (
            simulated_banner(simulated, t),
            html.Div(legend(OPS_LAYERS, t, settings), id=ids.LEGEND, className="legend-panel"),
            html.Div(parts["alerts"], id=ids.ALERTS_PANEL, className="alerts-panel"),
            attribution(settings),
        ) if o is not None]  # (live_map.map_overlays' parts, in the console's language)
        try:
            open_alerts = alert_store.active()
            pending = stage_control.waiting(alert_store.stage_pending(), time.time())
        except REDIS_DOWN:
            open_alerts, pending = [], None
        actions = html.Div([ack_form(open_alerts, can, t), approvals_form(deliveries, Action.APPROVE in can,
                                                                          Action.RETRY in can, t),
                            stage_panel(t, pending, Action.STAGE in can, operator, settings.tz)],
                           className="console-actions")
        return map_shell(parts, header, [*overlays, *incidents.initial(t), actions])

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
