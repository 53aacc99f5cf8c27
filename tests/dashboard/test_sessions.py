"""Console sessions that can be ended: sign-out, a new password and a disabled account end them;
the cookie is not re-issued by requests; an absolute lifetime; sign-out only by the console's
own form; Secure cookies over HTTPS."""

import time

import pytest
from city_seed import SECRET

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.dashboard import auth
from opscentre.dashboard.server import create_wsgi_app
from tests.cli_helpers import clean_env, opscentre

COOKIE = "opscentre_session"


def signed_in(app, operator, base_url="http://localhost"):
    client = app.ops_server.test_client()
    response = client.post("/login", data={"username": operator[0], "password": operator[1]}, base_url=base_url)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    return client


def is_signed_in(client) -> bool:
    layout = client.get("/_dash-layout")
    assert layout.status_code in (200, 401)
    return layout.status_code == 200


def copy_of(app, client):
    """Another browser holding the same cookie (captured before whatever comes next)."""
    thief = app.ops_server.test_client()
    thief.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return thief


def form_token(client) -> str:
    """The csrf_token the console's sign-out form posts, found in the layout the browser gets."""
    def walk(node):
        if isinstance(node, dict):
            if node.get("props", {}).get("name") == "csrf_token":
                yield node["props"]["value"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    (token,) = walk(client.get("/_dash-layout").json)
    return token


def test_the_console_form_signs_out_and_a_cookie_captured_before_is_refused(wsgi_app, operator):
    client = signed_in(wsgi_app, operator)
    thief = copy_of(wsgi_app, client)
    assert is_signed_in(thief)
    response = client.post("/logout", data={"csrf_token": form_token(client)})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert not is_signed_in(client) and not is_signed_in(thief)
    page = thief.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")


def test_a_password_change_ends_the_operators_sessions(wsgi_app, operator, redis_server, redis_client):
    client = signed_in(wsgi_app, operator)
    other = signed_in(wsgi_app, operator)
    result = opscentre("set-password", "--user", operator[0], env=clean_env(REDIS_URL=redis_server.url),
                       input="a brand new password\n")
    assert result.returncode == 0, result.stderr
    assert "2 signed-in session(s) ended" in result.stdout
    assert not is_signed_in(client) and not is_signed_in(other)
    assert signed_in(wsgi_app, (operator[0], "a brand new password"))
    (entry,) = [e for e in AlertStore(redis_client).audit() if e["action"] == "password-set"]
    assert entry["subject"] == operator[0] and entry["after"] == {"sessions_ended": 2}


def test_disabling_an_operator_ends_their_session(wsgi_app, operator, redis_client):
    client = signed_in(wsgi_app, operator)
    operators.disable(redis_client, operator[0])
    assert not is_signed_in(client)
    refused = client.post("/login", data={"username": operator[0], "password": operator[1]})
    assert refused.status_code == 401


def test_a_signed_in_request_does_not_reissue_the_cookie(wsgi_app, operator):
    client = signed_in(wsgi_app, operator)
    for path in ("/", "/_dash-layout", "/_dash-dependencies"):
        response = client.get(path)
        assert response.status_code == 200 and "Set-Cookie" not in response.headers, path


def test_requests_keep_the_session_from_going_idle(wsgi_app, operator, redis_client):
    client = signed_in(wsgi_app, operator)
    (key,) = redis_client.keys(keys.session("*"))
    assert 3500 < redis_client.ttl(key) <= 3600
    redis_client.expire(key, 30)
    assert is_signed_in(client)
    assert redis_client.ttl(key) > 3500


def test_a_session_older_than_the_absolute_lifetime_is_refused_even_while_active(wsgi_app, operator, redis_client):
    client = signed_in(wsgi_app, operator)
    assert is_signed_in(client)
    (key,) = redis_client.keys(keys.session("*"))
    redis_client.hset(key, "created_at", time.time() - 12 * 3600 - 1)
    assert not is_signed_in(client)
    assert not redis_client.exists(key)


def test_get_logout_is_not_allowed_and_signs_nobody_out(wsgi_app, operator):
    client = signed_in(wsgi_app, operator)
    refused = client.get("/logout")
    assert refused.status_code == 405 and refused.headers["Allow"] == "POST"
    assert is_signed_in(client)


@pytest.mark.parametrize("token", [None, "", "forged-token", "ünïcode"])
def test_sign_out_without_the_forms_token_is_refused_and_the_session_stands(wsgi_app, operator, token):
    client = signed_in(wsgi_app, operator)
    response = client.post("/logout", data={} if token is None else {"csrf_token": token})
    assert response.status_code == 403
    assert is_signed_in(client)


def test_a_cross_site_sign_out_is_refused(wsgi_app, operator):
    client = signed_in(wsgi_app, operator)
    response = client.post("/logout", data={"csrf_token": form_token(client)},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert is_signed_in(client)


def test_sign_out_is_audited(wsgi_app, operator, redis_client):
    client = signed_in(wsgi_app, operator)
    client.post("/logout", data={"csrf_token": form_token(client)})
    actions = [(e["actor"], e["action"]) for e in AlertStore(redis_client).audit()]
    assert actions == [(operator[0], "signed-in"), (operator[0], "signed-out")]


def test_the_cookie_is_secure_over_https_only_and_always_http_only_and_lax(wsgi_app, operator):
    for scheme, secure in (("https", True), ("http", False)):
        client = wsgi_app.ops_server.test_client()
        response = client.post("/login", data={"username": operator[0], "password": operator[1]},
                               base_url=f"{scheme}://localhost")
        attributes = [a.strip().lower() for a in response.headers["Set-Cookie"].split(";")]
        assert ("secure" in attributes) is secure, scheme
        assert "httponly" in attributes and "samesite=lax" in attributes


def test_with_redis_down_a_session_stands_only_within_its_absolute_lifetime(rio_settings, own_redis, operator):
    import redis

    operators.set_password(redis.Redis.from_url(own_redis.url), *operator)
    app = create_wsgi_app(rio_settings, own_redis.url, SECRET)
    fresh, old = signed_in(app, operator), signed_in(app, operator)
    with old.session_transaction() as cookie:
        cookie[auth.CREATED] -= 12 * 3600 + 1
    own_redis.stop()
    assert fresh.get("/").status_code == 200
    assert old.get("/").status_code == 302
