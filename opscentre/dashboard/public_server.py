"""The public WSGI app (the Procfile's `public` process): the public view at /public, the public
APIs at /api/public/* (status, layers, CAP/Atom, OGC API), the SMS provider's webhooks and
/healthz — and nothing of the operator console, not even imported (tested in a fresh process:
no console module, no feed client). dashboard/server.py builds the console's app from the same
parts.
"""

from __future__ import annotations

import os

from dash import Dash
from flask import Flask, redirect
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from opscentre.core.notify.channels.sms import SmsSettings
from opscentre.core.read_model import public_recheck_s
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard.api import public_api_blueprint
from opscentre.dashboard.fast_path import PublicFastPath
from opscentre.dashboard.health import health_blueprint
from opscentre.dashboard.ogc_api import ogc_api_blueprint
from opscentre.dashboard.open_data_api import AlertDocuments, open_data_blueprint
from opscentre.dashboard.public_app import create_public_app
from opscentre.dashboard.public_layers import PublicLayers
from opscentre.dashboard.redis_clients import resilient
from opscentre.dashboard.security import WebSecurity, guard, harden
from opscentre.dashboard.sms_webhooks import sms_webhooks_blueprint

PUBLIC_MOUNT = "/public"


def with_trailing_slash(app):
    """/public -> /public/ (the public app's pages live under the slash)."""

    def middleware(environ, start_response):
        if not environ.get("PATH_INFO"):
            location = environ.get("SCRIPT_NAME", "") + "/"
            query = environ.get("QUERY_STRING")
            start_response("308 Permanent Redirect", [("Location", location + (f"?{query}" if query else "")),
                                                      ("Content-Length", "0")])
            return [b""]
        return app(environ, start_response)

    return middleware


def _sms_auth_token() -> str | None:
    return SmsSettings.from_env(os.environ).auth_token or None


def set_up_before_serving(app: Dash) -> None:
    """Run Dash's one-time set-up now, in this process, before any request.

    Dash does it lazily in a before_request hook that flags itself done *before* it finishes;
    under a threaded server, script requests arriving during that first request find no
    registered scripts and fail ("dash is not a registered library"), and the page never loads.
    Seen with gunicorn's threaded workers when a browser's first requests reach a fresh worker.
    """
    with app.server.test_request_context("/"):
        app._setup_server()


def public_parts(server: Flask, settings: Settings, store: Store, simulated: bool) -> PublicLayers:
    """The public APIs on `server`, over one read model (returned, for the public Dash app)."""
    recheck_s = public_recheck_s()
    layers = PublicLayers(settings, store, simulated, recheck_s=recheck_s)
    layers.alerts = AlertDocuments(settings, store, simulated, recheck_s=recheck_s)  # (the fast path reads both)
    server.register_blueprint(public_api_blueprint(settings, store, simulated, layers))
    server.register_blueprint(open_data_blueprint(settings, store, simulated, layers.alerts))
    server.register_blueprint(ogc_api_blueprint(settings, layers))
    server.register_blueprint(sms_webhooks_blueprint(store.redis, settings.zones, _sms_auth_token))
    return layers


def create_public_wsgi_app(settings: Settings, redis_url: str, security: WebSecurity | None = None):
    security = security or WebSecurity.from_env()
    store = Store(resilient(redis_url))
    simulated = settings.simulated
    root = Flask("opscentre.public_root")
    layers = public_parts(root, settings, store, simulated)
    root.register_blueprint(health_blueprint(redis_url, security))
    root.add_url_rule("/", "index", lambda: redirect(PUBLIC_MOUNT + "/"))
    public = create_public_app(settings, store, simulated, prefix=PUBLIC_MOUNT + "/", documents=layers)
    harden(root, security, framable=True)
    harden(public.server, security, public, framable=True, tile_url=settings.map.tile_url)
    set_up_before_serving(public)
    fast = PublicFastPath(DispatcherMiddleware(root, {PUBLIC_MOUNT: with_trailing_slash(public.server)}), layers)
    app = guard(fast, security)
    app.root_server, app.public_server, app.public_dash = root, public.server, public
    app.fast_path = fast
    return app
