"""The WSGI apps the web processes serve.

`create_wsgi_app` (opscentre web / up): the operator console at / (login required), /login,
/logout, the public APIs, /healthz and /metrics on the console's Flask server, and the public
Dash app mounted at /public — two Dash apps, two Flask servers, two callback maps.
`create_public_wsgi_app` (the Procfile's `public` process) lives in dashboard/public_server.py,
which imports nothing of the console; it is named here too, for callers that build either.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard.auth import install_auth
from opscentre.dashboard.fast_path import PublicFastPath
from opscentre.dashboard.health import health_blueprint
from opscentre.dashboard.metrics import metrics_blueprint
from opscentre.dashboard.ops_app import create_ops_app
from opscentre.dashboard.public_app import create_public_app
from opscentre.dashboard.public_server import (  # noqa: F401 (create_public_wsgi_app: named here too)
    PUBLIC_MOUNT,
    create_public_wsgi_app,
    public_parts,
    set_up_before_serving,
    with_trailing_slash,
)
from opscentre.dashboard.redis_clients import resilient
from opscentre.dashboard.security import WebSecurity, guard, harden


def create_wsgi_app(settings: Settings, redis_url: str, secret_key: str, security: WebSecurity | None = None):
    security = security or WebSecurity.from_env()
    store = Store(resilient(redis_url))
    simulated = settings.simulated
    server = Flask("opscentre.ops")
    server.secret_key = secret_key
    install_auth(server, store.redis, settings.city.name)
    ops = create_ops_app(settings, store, simulated, server)
    layers = public_parts(server, settings, store, simulated)
    server.register_blueprint(health_blueprint(redis_url, security))
    server.register_blueprint(metrics_blueprint(redis_url, security))
    public = create_public_app(settings, store, simulated, prefix=PUBLIC_MOUNT + "/", documents=layers)
    harden(server, security, ops, tile_url=settings.map.tile_url)
    harden(public.server, security, public, framable=True, tile_url=settings.map.tile_url)
    set_up_before_serving(ops)
    set_up_before_serving(public)
    fast = PublicFastPath(DispatcherMiddleware(server, {PUBLIC_MOUNT: with_trailing_slash(public.server)}), layers)
    app = guard(fast, security)
    app.ops_server, app.public_server, app.public_dash = server, public.server, public  # for introspection
    app.fast_path = fast
    return app
