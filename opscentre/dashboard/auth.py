"""Operator sign-in (flask-login), sessions that can be ended, and the guard that keeps the
console's Dash endpoints private.

Dash answers anyone who POSTs to /_dash-update-component; the guard below runs before every
request to the operator app and refuses anonymous requests server-side: 401 JSON for Dash's
endpoints and any non-GET, a redirect to /login for pages. Cross-origin POSTs are refused
(with a SameSite=Lax session cookie, that is the CSRF defence; sign-out also wants its form's
token).

The signed cookie names a session kept in Redis (core/sessions.py); every console request
checks it, so a sign-out, a new password or a disabled account ends it everywhere. What a
signed-in user may change depends on their role, checked by each write (dashboard/roles.py). Failed
sign-ins are counted in Redis per address and per username (Flask-Limiter), and at most
CONCURRENT_CHECKS password checks (~150 ms of scrypt each) run at once per process; a sign-in
waits for one at most CHECK_WAIT_S (then 503, Retry-After), so a burst of sign-ins holds at most
a few of the worker's threads (processes/web.py) and the consoles' ticks go on.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import time
from datetime import timedelta
from threading import BoundedSemaphore
from urllib.parse import urlsplit

import redis
from flask import Flask, jsonify, redirect, render_template_string, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from limits import parse
from werkzeug.exceptions import MethodNotAllowed

from opscentre.core import keys, operators, sessions
from opscentre.core.alert_store import AlertStore
from opscentre.core.sessions import Lifetimes
from opscentre.dashboard.console_language import SESSION_KEY as LANGUAGE_KEY
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import N_

log = logging.getLogger("opscentre.web")

MAX_USERNAME = 64
MAX_PASSWORD = 256
OPEN_PATHS = ("/login", "/logout", "/healthz", "/metrics", "/_favicon.ico")
OPEN_PREFIXES = ("/assets/", "/api/public/", "/webhooks/")  # /webhooks/: signed by the SMS provider
# Failed sign-ins allowed per address and per username: each tier's wait is longer than the last.
# Only failures count (401), so typing the password right never uses up the allowance; others'
# failures from the same address (a shared NAT) or on the same username can still make one wait:
# the price of limiting by both.
ADDRESS_LIMITS = USER_LIMITS = "5/minute;20/hour;100/day"
CONCURRENT_CHECKS = 2
CHECK_WAIT_S = "OPSCENTRE_LOGIN_CHECK_WAIT_S"  # Flask config: how long a sign-in waits for a check
REFUSALS_AUDITED = parse("1/minute")  # per address: a flood of 429s must not flood the audit stream
USER, CREATED, CSRF = "oc_user", "oc_created", "oc_csrf"  # in the signed cookie

# The page's texts come from the catalogue, in the console's language (dashboard/console_language.py).
LOGIN_PAGE = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><link rel="stylesheet" href="/assets/opscentre.css"></head>
<body class="login-body"><main class="login-card">
<h1>{{ city }}</h1><p class="login-sub">{{ sub }}</p>
{% if error %}<p class="login-error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="/login{% if next %}?next={{ next|urlencode }}{% endif %}">
<label for="username">{{ username_label }}</label>
<input id="username" name="username" autocomplete="username" maxlength="64" required autofocus value="{{ username }}">
<label for="password">{{ password_label }}</label>
<input id="password" name="password" type="password" autocomplete="current-password" maxlength="256" required>
<button type="submit">{{ sign_in }}</button></form>
<p class="login-public"><a href="/public/?lang={{ lang }}">{{ public_view }}</a></p></main></body></html>"""
ENTER = N_("Enter a username and password.")
BUSY = N_("Busy — try again in a moment.")
UNREACHABLE = N_("Redis unreachable — try again shortly.")
WRONG = N_("Wrong username or password.")


class Operator(UserMixin):
    """`id` is the username; flask-login keeps the session id (`get_id`) in the cookie."""

    def __init__(self, username: str, session_id: str):
        self.id = username
        self.session_id = session_id

    def get_id(self) -> str:
        return self.session_id


class CookieSessions(SecureCookieSessionInterface):
    """`Secure` exactly when the request came over HTTPS (behind a proxy, only when ProxyFix
    believes its X-Forwarded-Proto: OPSCENTRE_TRUST_PROXY)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def csrf_token() -> str:
    """The signed-in session's token for the console's sign-out form."""
    return session.get(CSRF, "")


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme) may be a post-login destination."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _same_origin() -> bool:
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


def _attempted_username() -> str:
    return (request.form.get("username") or "").strip()[:MAX_USERNAME] or "-"


def _failed(response) -> bool:
    return response.status_code == 401


def _login_limiter(server: Flask, client: redis.Redis) -> Limiter:
    """Windows in the app's own Redis (its pool: password, TLS and Sentinel come along), shared by
    every web process. Moving windows: Retry-After is when the oldest counted failure leaves."""
    return Limiter(get_remote_address, app=server, strategy="moving-window", storage_uri="redis://",
                   storage_options={"connection_pool": client.connection_pool, "key_prefix": keys.LOGIN_LIMITS},
                   fail_on_first_breach=False,  # test every tier, so Retry-After is the longest wait
                   swallow_errors=True)  # Redis down: no counting, and sign-in answers 503 anyway


def install_auth(server: Flask, client: redis.Redis, city_name: str, lifetimes: Lifetimes | None = None) -> None:
    lifetimes = lifetimes or Lifetimes.from_env()
    server.session_interface = CookieSessions()
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="opscentre_session",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=lifetimes.absolute_s),
        SESSION_REFRESH_EACH_REQUEST=False,  # a request must not re-issue (and so extend) the cookie
    )
    server.config.setdefault(CHECK_WAIT_S, 0.5)
    manager = LoginManager(server)
    limiter = _login_limiter(server, client)
    checks = BoundedSemaphore(CONCURRENT_CHECKS)
    audit = _Audit(client)
    operators.dummy_hash()
    try:
        migrated = operators.migrate_roles(client)  # accounts from before roles: admins (core/roles.py)
    except REDIS_DOWN:
        migrated = []  # (role_of reads a missing role the same way meanwhile)
    if migrated:
        log.info("accounts from before roles are admins now: %s", ", ".join(migrated))

    @manager.user_loader
    def load_operator(session_id: str) -> Operator | None:
        now = time.time()
        try:
            username = sessions.touch(client, session_id, now, lifetimes)
        except REDIS_DOWN:
            # Nothing can be changed without Redis either: the cookie stands within its absolute lifetime.
            within = now - float(session.get(CREATED, 0)) < lifetimes.absolute_s
            username = session.get(USER) if within else None
        return Operator(username, session_id) if username else None

    @server.before_request
    def require_operator():
        if request.method not in ("GET", "HEAD", "OPTIONS") and not _same_origin():
            return jsonify(error="cross-origin request refused"), 403
        path = request.path
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or current_user.is_authenticated:
            return None
        if path.startswith(("/_dash-", "/_reload-hash")) or request.method != "GET":
            return jsonify(error="login required"), 401
        return redirect(url_for("login", next=request.full_path.rstrip("?")))

    @server.route("/login", methods=["GET", "POST"])
    @limiter.limit(ADDRESS_LIMITS, key_func=get_remote_address, scope="address", methods=["POST"],
                   deduct_when=_failed)
    @limiter.limit(USER_LIMITS, key_func=_attempted_username, scope="user", methods=["POST"], deduct_when=_failed)
    def login():
        next_path = _safe_next(request.args.get("next"))
        if request.method == "GET":
            if current_user.is_authenticated:
                return redirect(next_path)
            return _login_page(city_name, next_path, "", "")
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        if not username or len(username) > MAX_USERNAME or not password or len(password) > MAX_PASSWORD:
            return _login_page(city_name, next_path, username[:MAX_USERNAME], ENTER), 400
        if not checks.acquire(timeout=server.config[CHECK_WAIT_S]):
            return (_login_page(city_name, next_path, username, BUSY), 503,
                    {"Retry-After": "2"})
        try:
            # Sign-ins that were checked while this one waited may have filled a window since.
            full = [lim for lim in limiter.current_limits if not limiter.limiter.test(lim.limit, *lim.request_args)]
            if full:
                return refuse(full)
            now = time.time()
            session_id = operators.sign_in(client, username, password, request.remote_addr, now, lifetimes)
        except REDIS_DOWN:
            return _login_page(city_name, next_path, username, UNREACHABLE), 503
        finally:
            checks.release()
        if session_id is None:
            audit.record(username, "sign-in-failed")
            return _login_page(city_name, next_path, username, WRONG), 401
        language = session.get(LANGUAGE_KEY)  # a language picked before signing in stays
        session.clear()
        session.permanent = True
        session.update({USER: username, CREATED: now, CSRF: secrets.token_urlsafe(32)})
        if language:
            session[LANGUAGE_KEY] = language
        login_user(Operator(username, session_id))
        audit.record(username, "signed-in")
        return redirect(next_path)

    def refuse(full_windows) -> tuple:
        try:
            wait = max(1, math.ceil(max(lim.reset_at for lim in full_windows) - time.time()))
            noted = limiter.limiter.hit(REFUSALS_AUDITED, "refusals", get_remote_address())
        except (ValueError, *REDIS_DOWN):
            wait, noted = 60, False
        if noted:
            audit.record(_attempted_username(), "sign-in-refused", retry_after_s=wait)
        username = (request.form.get("username") or "").strip()[:MAX_USERNAME]
        t = console_translator()
        page = _login_page(city_name, _safe_next(request.args.get("next")), username,
                           t.gettext("Too many failed sign-ins. Try again in {wait}.").format(wait=_duration(wait)))
        return page, 429, {"Retry-After": str(wait)}

    @server.errorhandler(RateLimitExceeded)
    def too_many_failures(_exc: RateLimitExceeded):
        return refuse([lim for lim in limiter.current_limits if lim.breached])

    @server.route("/logout", methods=["GET", "POST"])  # GET named here, or Dash's page route would answer it
    def logout():
        if request.method != "POST":
            raise MethodNotAllowed(valid_methods=["POST"])
        if current_user.is_authenticated:
            given = (request.form.get("csrf_token") or "").encode()
            if not hmac.compare_digest(given, csrf_token().encode()):
                return jsonify(error="sign out from the console's own form"), 403
            try:
                sessions.end(client, current_user.session_id)
            except REDIS_DOWN:
                log.warning("signed %s out of this browser only: Redis unreachable", current_user.id)
            audit.record(current_user.id, "signed-out")
        logout_user()
        session.clear()
        return redirect(url_for("login"), 303)


class _Audit:
    """Sign-in events in the audit stream (who, from which address; never a password)."""

    def __init__(self, client: redis.Redis):
        self.store = AlertStore(client)

    def record(self, username: str, action: str, **details) -> None:
        try:
            self.store.record(username, action, "session", {"address": request.remote_addr, **details}, time.time())
        except REDIS_DOWN:
            log.warning("audit: %s %s from %s not recorded (Redis unreachable)", username, action,
                        request.remote_addr)


def _duration(seconds: int) -> str:
    t = console_translator()
    if seconds < 90:
        return t.gettext("{n} seconds").format(n=seconds)
    if seconds < 90 * 60:
        return t.gettext("{n} minutes").format(n=round(seconds / 60))
    return t.gettext("{n} hours").format(n=round(seconds / 3600))


def _login_page(city: str, next_path: str, username: str, error: str) -> str:
    """The sign-in page in the console's language; `error`: a marked text (or one translated already)."""
    t = console_translator()
    return render_template_string(
        LOGIN_PAGE, city=city, next=next_path if next_path != "/" else "", username=username,
        error=t.gettext(error) if error else "", lang=t.lang,
        title=t.gettext("Sign in — {city} operations centre").format(city=city),
        sub=t.gettext("Operations centre — operator sign-in"), username_label=t.gettext("Username"),
        password_label=t.gettext("Password"), sign_in=t.gettext("Sign in"), public_view=t.gettext("Public view"))
