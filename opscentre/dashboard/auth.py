"""Operator login (flask-login) and the guard that keeps the console's Dash endpoints private.

Dash answers anyone who POSTs to /_dash-update-component; the guard below runs before every
request to the operator app and refuses anonymous requests server-side: 401 JSON for Dash's
endpoints and any non-GET, a redirect to /login for pages. Cross-origin POSTs are refused
(with a SameSite=Lax session cookie, that is the CSRF defence).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import redis
from flask import Flask, jsonify, redirect, render_template_string, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from opscentre.core import operators
from opscentre.dashboard.redis_clients import REDIS_DOWN

MAX_USERNAME = 64
MAX_PASSWORD = 256
OPEN_PATHS = ("/login", "/logout", "/healthz", "/metrics", "/_favicon.ico")
OPEN_PREFIXES = ("/assets/", "/api/public/")

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in — {{ city }} operations centre</title><link rel="stylesheet" href="/assets/opscentre.css"></head>
<body class="login-body"><main class="login-card">
<h1>{{ city }}</h1><p class="login-sub">Operations centre — operator sign-in</p>
{% if error %}<p class="login-error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="/login{% if next %}?next={{ next|urlencode }}{% endif %}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" maxlength="64" required autofocus value="{{ username }}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" maxlength="256" required>
<button type="submit">Sign in</button></form>
<p class="login-public"><a href="/public/">Public view</a></p></main></body></html>"""


class Operator(UserMixin):
    def __init__(self, username: str):
        self.id = username


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


def install_auth(server: Flask, client: redis.Redis, city_name: str) -> None:
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="opscentre_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    manager = LoginManager(server)

    @manager.user_loader
    def load_operator(username: str) -> Operator | None:
        try:
            return Operator(username) if operators.exists(client, username) else None
        except REDIS_DOWN:
            return Operator(username)  # the signed session stands while Redis is away

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
    def login():
        next_path = _safe_next(request.args.get("next"))
        if request.method == "GET":
            if current_user.is_authenticated:
                return redirect(next_path)
            return _login_page(city_name, next_path, "", "")
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        if not username or len(username) > MAX_USERNAME or not password or len(password) > MAX_PASSWORD:
            return _login_page(city_name, next_path, username[:MAX_USERNAME], "Enter a username and password."), 400
        try:
            valid = operators.verify(client, username, password)
        except REDIS_DOWN:
            return _login_page(city_name, next_path, username, "Redis unreachable — try again shortly."), 503
        if not valid:
            return _login_page(city_name, next_path, username, "Wrong username or password."), 401
        session.permanent = True
        login_user(Operator(username))
        return redirect(next_path)

    @server.route("/logout", methods=["GET", "POST"])
    def logout():
        logout_user()
        return redirect(url_for("login"))


def _login_page(city: str, next_path: str, username: str, error: str) -> str:
    return render_template_string(LOGIN_PAGE, city=city, next=next_path if next_path != "/" else "",
                                  username=username, error=error)
