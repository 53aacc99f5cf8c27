"""The public view: the same live map, read-only. Its own Dash app on its own Flask server,
with no login, no operator controls, no personal data and no callback that writes anything
(its only callback is the map's read-only tick)."""

from __future__ import annotations

from dash import Dash, html
from flask import Flask

from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard import ids
from opscentre.dashboard.live_map import LiveMap, map_overlays, map_shell
from opscentre.dashboard.ops_app import ASSETS
from opscentre.layers import LAYERS

PUBLIC_LAYERS = [layer_id for layer_id, layer in LAYERS.items() if layer.public]
PUBLIC_PREFIX = "/public/"


def create_public_app(settings: Settings, store: Store, simulated: bool, prefix: str = PUBLIC_PREFIX) -> Dash:
    """A Dash app whose pages are requested under `prefix` (it is mounted there by the server)."""
    server = Flask("opscentre.public")
    app = Dash(__name__, server=server, routes_pathname_prefix="/", requests_pathname_prefix=prefix,
               assets_folder=ASSETS, title=f"{settings.city.name} — public view", update_title=None,
               serve_locally=True, enable_mcp=False, compress=False,
               suppress_callback_exceptions=True)  # no validation layout (see ops_app)
    live = LiveMap(settings, store, simulated, PUBLIC_LAYERS)

    def layout():
        parts = live.initial(PUBLIC_LAYERS)
        header = [
            html.Div([html.Span(settings.city.name, className="city-name"),
                      html.Span("Public view", className="app-name")], className="brand"),
            html.Div(parts["status"], id=ids.STATUS_BAR, className="status-bar", **{"aria-live": "polite"}),
        ]
        return map_shell(parts, header, map_overlays(settings, simulated, PUBLIC_LAYERS, parts))

    app.layout = layout
    live.register(app)
    return app
