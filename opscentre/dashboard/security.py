"""The web's defences, in one place, for every app the web processes serve: which Host names
are answered, how large a request may be, whose word to take for the client's address and
scheme, the security headers, what may be cached, and a 400 (not a 500 and a traceback) for a
malformed Dash callback body.

Settings come from the environment (docs in README, "Security"):
OPSCENTRE_ALLOWED_HOSTS, OPSCENTRE_TRUST_PROXY, OPSCENTRE_MAX_BODY_BYTES,
OPSCENTRE_PUBLIC_FRAME_ANCESTORS, OPSCENTRE_HEALTH_TOKEN.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from dash import Dash
from flask import Flask, Response, request
from flask_talisman import Talisman
from pydantic import BaseModel, ConfigDict, ValidationError
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wsgi import get_host

from opscentre.core.errors import ConfigError

log = logging.getLogger("opscentre.web")

MAX_BODY_BYTES = 1_000_000
LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1"]
CALLBACK_PATH = "/_dash-update-component"


@dataclass(frozen=True)
class WebSecurity:
    allowed_hosts: tuple[str, ...]  # empty: any host ("*")
    trust_proxy: int  # how many proxies in front whose X-Forwarded-* headers are believed
    max_body: int
    public_frame_ancestors: tuple[str, ...]  # who may frame the public view; the console: nobody
    health_token: str | None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WebSecurity:
        env = os.environ if env is None else env
        problems: list[str] = []

        def number(name: str, default: int, low: int) -> int:
            raw = (env.get(name) or "").strip()
            if not raw:
                return default
            if not raw.isdigit() or int(raw) < low:
                problems.append(f"{name}={raw!r}: expected a whole number >= {low}")
                return default
            return int(raw)

        hosts = _words(env.get("OPSCENTRE_ALLOWED_HOSTS"))
        if not hosts:
            hosts = [*LOOPBACK_HOSTS, *_default_hosts(env)]
        elif "*" in hosts:
            hosts = []
        frame = _words(env.get("OPSCENTRE_PUBLIC_FRAME_ANCESTORS")) or ["'self'"]
        for source in frame:
            if source not in ("'self'", "'none'", "*") and not urlsplit(source).scheme:
                problems.append(f"OPSCENTRE_PUBLIC_FRAME_ANCESTORS: {source!r} is not an origin "
                                "(e.g. https://news.example.org), 'self', 'none' or *")
        security = cls(
            allowed_hosts=tuple(hosts),
            trust_proxy=number("OPSCENTRE_TRUST_PROXY", 0, 0),
            max_body=number("OPSCENTRE_MAX_BODY_BYTES", MAX_BODY_BYTES, 1024),
            public_frame_ancestors=tuple(frame),
            health_token=(env.get("OPSCENTRE_HEALTH_TOKEN") or "").strip() or None,
        )
        if problems:
            raise ConfigError(problems)
        return security

    def may_see_details(self) -> bool:
        """Whether this request may see /healthz details and the full /metrics: a client on this
        machine (not a proxy forwarding someone else), or one presenting the health token."""
        if self.health_token:
            given = request.headers.get("Authorization", "")
            if given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(),
                                                                   self.health_token.encode()):
                return True
        forwarded = any(h in request.headers for h in ("X-Forwarded-For", "Forwarded", "X-Real-Ip"))
        if forwarded and not self.trust_proxy:
            return False  # a proxy on this machine speaks for a client elsewhere
        try:
            return ipaddress.ip_address(request.remote_addr or "").is_loopback
        except ValueError:
            return False


def _words(raw: str | None) -> list[str]:
    return [w.strip() for w in (raw or "").replace(",", " ").split() if w.strip()]


def _default_hosts(env) -> list[str]:
    """Besides loopback: the address the server binds (when it is one address) and the host of
    OPSCENTRE_PUBLIC_URL (how the SMS provider and the public reach it)."""
    hosts = []
    bind = (env.get("OPSCENTRE_HOST") or "").strip()
    if bind and bind not in ("0.0.0.0", "::", ""):
        hosts.append(bind)
    public_url = (env.get("OPSCENTRE_PUBLIC_URL") or "").strip()
    if public_url and urlsplit(public_url).hostname:
        hosts.append(urlsplit(public_url).hostname)
    return hosts


# ---- WSGI: before any app sees the request --------------------------------------------------

def _json_refusal(start_response, status: str, message: str, close: bool = False):
    body = orjson.dumps({"error": message})
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
               ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
    if close:
        headers.append(("Connection", "close"))
    start_response(status, headers)
    return [body]


def _never_cache_a_cookie(start_response):
    """A response that sets a cookie is private to its browser, whatever the view said (Flask
    adds the session cookie after every view and hook has run, so this is done here)."""

    def start(status, headers, exc_info=None):
        if any(name.lower() == "set-cookie" for name, _ in headers):
            headers = [(n, v) for n, v in headers if n.lower() != "cache-control"]
            headers.append(("Cache-Control", "private, no-store"))
        return start_response(status, headers, exc_info)

    return start


def guard(app, security: WebSecurity):
    """Refuse, before any app runs: a Host that is not allowed (400) and a declared body over
    the cap (413 at once, without reading it). Bodies without a length are capped by Flask's
    MAX_CONTENT_LENGTH as they are read. And never let a cookie be cached publicly."""
    trusted = list(security.allowed_hosts) or None

    def middleware(environ, start_response):
        try:
            get_host(environ, trusted)
        except SecurityError:
            return _json_refusal(start_response, "400 Bad Request",
                                 "this host name is not served here (see OPSCENTRE_ALLOWED_HOSTS)")
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > security.max_body:
            return _json_refusal(start_response, "413 Content Too Large",
                                 f"request body over {security.max_body} bytes", close=True)
        return app(environ, _never_cache_a_cookie(start_response))

    wrapped = ProxyFix(middleware, x_for=security.trust_proxy, x_proto=security.trust_proxy,
                       x_host=security.trust_proxy, x_port=security.trust_proxy) \
        if security.trust_proxy else middleware
    return wrapped


# ---- Flask: headers, caching, callback bodies ------------------------------------------------

def content_security_policy(script_hashes: list[str], frame_ancestors: list[str],
                            tile_url: str | None = None) -> dict[str, Any]:
    """What Dash and plotly's maps need and no more: scripts only from here (plus the hashes of
    Dash's own inline scripts), maplibre's blob: workers, inline styles (plotly and React set
    them), images from data:/blob: and the configured tile server."""
    extra = []
    if tile_url and urlsplit(tile_url).scheme in ("http", "https"):
        parts = urlsplit(tile_url)
        extra = [f"{parts.scheme}://{parts.netloc}"]
    return {
        "default-src": "'self'",
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *extra],
        "connect-src": ["'self'", *extra],
        "font-src": ["'self'", "data:"],
        "worker-src": ["'self'", "blob:"],
        "child-src": ["'self'", "blob:"],
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": frame_ancestors,
    }


def harden(server: Flask, security: WebSecurity, dash_app: Dash | None = None, framable: bool = False,
           tile_url: str | None = None) -> None:
    """Security headers on every answer of `server`; the body cap; and, for a Dash app, malformed
    callback bodies refused with a 400."""
    server.config["MAX_CONTENT_LENGTH"] = security.max_body
    frame_ancestors = list(security.public_frame_ancestors) if framable else ["'none'"]
    if not framable:
        frame_options = "DENY"
    else:  # X-Frame-Options cannot name other sites: older browsers then get none, newer the CSP's list
        frame_options = "SAMEORIGIN" if frame_ancestors == ["'self'"] else None
    Talisman(
        server,
        force_https=False,  # TLS is terminated in front (README, "Security")
        frame_options=frame_options,
        content_security_policy=content_security_policy(dash_app.csp_hashes() if dash_app else [],
                                                        frame_ancestors, tile_url),
        referrer_policy="strict-origin-when-cross-origin",
        session_cookie_secure=False,  # set per request when served over HTTPS (dashboard/auth.py)
        x_content_type_options=True,
    )

    @server.before_request
    def cap_a_body_without_length():
        # A chunked body is read through a stream limited to MAX_CONTENT_LENGTH that stops at the
        # limit without a word: reading one byte past it is what raises the 413.
        if request.content_length is None and request.environ.get("wsgi.input_terminated"):
            request.get_data(cache=True)
            request.stream.read(1)

    if dash_app is not None:
        callbacks = dash_app.callback_map

        @server.before_request
        def refuse_malformed_callback():
            if request.method != "POST" or not request.path.endswith(CALLBACK_PATH):
                return None
            problem = callback_body_problem(request.get_data(cache=True), callbacks)
            if problem is None:
                return None
            log.warning("refused a malformed callback from %s: %s", request.remote_addr, problem)
            return Response(orjson.dumps({"error": f"malformed callback request: {problem}"}), status=400,
                            mimetype="application/json", headers={"Cache-Control": "no-store"})


class _Prop(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | dict
    property: str


class _CallbackBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    output: str
    outputs: _Prop | list[_Prop]
    inputs: list[_Prop | list[_Prop]] = []
    state: list[_Prop | list[_Prop]] = []
    changedPropIds: list[str] = []


def callback_body_problem(raw: bytes, callbacks: dict[str, Any]) -> str | None:
    """None when `raw` is a callback request Dash can dispatch; otherwise what is wrong with it."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    try:
        body = _CallbackBody.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    spec = callbacks.get(body.output)
    if spec is None:
        return "no such callback"
    if len(body.inputs) != len(spec["inputs"]) or len(body.state) != len(spec["state"]):
        return "inputs or state do not match the callback"
    return None
