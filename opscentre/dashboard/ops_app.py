"""The operator console: pages (dashboard/pages/, one module each) under one header with their
links — the live map at / (layer toggles, legend, status bar, the actions area), the alert queue,
an incident, the audit.

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
the languages we have as links. The map's hover texts too: the live map answers each request in
its user's language (LiveMap.lang_of; a language's traces are built once per data version).
"""

from __future__ import annotations

from typing import Any

from dash import Dash
from flask import Flask

from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard import pages
from opscentre.dashboard.assets import ASSETS
from opscentre.dashboard.components.incident_panel import IncidentPanel
from opscentre.dashboard.components.stage_panel import pending_id
from opscentre.dashboard.console_language import console_lang, install_console_language
from opscentre.dashboard.live_map import LiveMap
from opscentre.dashboard.pages.frame import Console
from opscentre.dashboard.pages.map import OPS_LAYERS, access_keys, layer_toggle  # noqa: F401 (named here too)
from opscentre.i18n import N_, translator

TITLE = N_("{city} — operations")


class OpsDash(Dash):
    """The console's index page in the console's language: `<html lang>` and the title."""

    city: str = ""

    def interpolate_index(self, **kwargs: Any) -> str:
        t = translator(console_lang())
        kwargs["title"] = t.gettext(TITLE).format(city=self.city)
        page = super().interpolate_index(**kwargs)
        return page.replace("<html>", f'<html lang="{t.lang}">', 1)


def create_ops_app(settings: Settings, store: Store, simulated: bool, server: Flask) -> Dash:
    install_console_language(server, settings.city.language)
    app = OpsDash(__name__, server=server, url_base_pathname="/", assets_folder=ASSETS,
                  title=f"{settings.city.name} — operations", update_title=None, serve_locally=True,
                  enable_mcp=False, compress=False,
                  # no validation layout: Dash would embed a whole map (data included) in every page
                  suppress_callback_exceptions=True)
    app.city = settings.city.name
    console = Console(settings=settings, store=store, simulated=simulated,
                      live=LiveMap(settings, store, simulated, OPS_LAYERS, operator_view=True, lang_of=console_lang),
                      incidents=IncidentPanel(store.redis, settings.zones.name_by_id, settings.tz),
                      deliveries=DeliveryStore(store.redis), waiting_id=pending_id(store.redis))
    pages.register(app, console)
    return app
