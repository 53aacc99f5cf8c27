"""The web's defences (dashboard/security.py) through real HTTP on loopback: allowed hosts, body
cap, security headers, cache rules, unknown public paths, malformed callback bodies, who sees
/healthz and /metrics details, and the public map tick served from what was already built."""

from __future__ import annotations

import logging

import pytest
import requests
from city_seed import SECRET, LiveServer, write_city
from werkzeug.test import Client

from opscentre.core.errors import ConfigError
from opscentre.dashboard import ids
from opscentre.dashboard.public_pages import map as public_map
from opscentre.dashboard.security import WebSecurity
from opscentre.dashboard.server import create_public_wsgi_app, create_wsgi_app

TOKEN = "health-token-for-tests-0123456789"


def security(**env) -> WebSecurity:
    return WebSecurity.from_env({"OPSCENTRE_HEALTH_TOKEN": TOKEN, **env})


@pytest.fixture
def guarded(rio_settings, redis_server, redis_client):
    with LiveServer(create_wsgi_app(rio_settings, redis_server.url, SECRET, security())) as server:
        yield server


def csp(response) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
            for part in (p.strip() for p in response.headers["Content-Security-Policy"].split(";")) if part}


def tick_body(base: str, held: dict) -> dict:
    """A tick of the public map as the browser sends it, built from the app's dependency list."""
    dependencies = requests.get(f"{base}/public/_dash-dependencies", timeout=10).json()
    tick = next(d for d in dependencies if d["inputs"][0]["id"] == ids.TICK)
    outputs = [dict(zip(("id", "property"), part.split(".", 1)))
               for part in tick["output"].strip(".").split("...")]
    values = {ids.MAP_STATE: held}  # (any other state, e.g. the page's panel: empty, as a fresh page holds)
    return {"output": tick["output"], "outputs": outputs,
            "inputs": [{"id": ids.TICK, "property": "n_intervals", "value": 7}],
            "state": [{**s, "value": values.get(s["id"], {})} for s in tick["state"]],
            "changedPropIds": [f"{ids.TICK}.n_intervals"]}


def test_a_foreign_host_header_is_refused(guarded):
    response = requests.get(f"{guarded.url}/api/public/status.json", headers={"Host": "evil.example"}, timeout=10)
    assert response.status_code == 400 and "OPSCENTRE_ALLOWED_HOSTS" in response.json()["error"]
    assert requests.get(f"{guarded.url}/api/public/status.json", timeout=10).status_code == 200
    localhost = guarded.url.replace("127.0.0.1", "localhost")
    assert requests.get(f"{localhost}/api/public/status.json", timeout=10).status_code == 200


def test_allowed_hosts_come_from_the_environment(rio_settings, redis_server, redis_client):
    app = create_wsgi_app(rio_settings, redis_server.url, SECRET,
                          security(OPSCENTRE_ALLOWED_HOSTS="ops.rio.example, .cor.example"))
    with LiveServer(app) as server:
        for host, expected in (("ops.rio.example", 200), ("wall.cor.example", 200), ("127.0.0.1", 400),
                               ("rio.example", 400)):
            response = requests.get(f"{server.url}/api/public/status.json", headers={"Host": host}, timeout=10)
            assert response.status_code == expected, host
    assert WebSecurity.from_env({"OPSCENTRE_ALLOWED_HOSTS": "*"}).allowed_hosts == ()


def test_bad_security_settings_are_refused_with_the_reason():
    with pytest.raises(ConfigError) as refused:
        WebSecurity.from_env({"OPSCENTRE_TRUST_PROXY": "yes", "OPSCENTRE_MAX_BODY_BYTES": "12",
                              "OPSCENTRE_PUBLIC_FRAME_ANCESTORS": "news.example"})
    problems = " ".join(refused.value.problems)
    assert "OPSCENTRE_TRUST_PROXY" in problems and "OPSCENTRE_MAX_BODY_BYTES" in problems
    assert "OPSCENTRE_PUBLIC_FRAME_ANCESTORS" in problems


@pytest.mark.parametrize("size", [10_000_000, 100_000_000])
def test_a_declared_oversized_body_is_refused_before_it_is_read(guarded, size):
    response = requests.post(f"{guarded.url}/public/_dash-update-component", data=b"{" * 2_000_000,
                             headers={"Content-Type": "application/json", "Content-Length": str(size)}, timeout=10)
    assert response.status_code == 413 and "over 1000000 bytes" in response.json()["error"]


def test_an_oversized_body_without_a_length_is_refused_as_it_is_read(guarded):
    def chunks():
        for _ in range(40):
            yield b" " * 100_000

    response = requests.post(f"{guarded.url}/public/_dash-update-component", data=chunks(),
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413


def test_every_answer_carries_the_security_headers(guarded):
    for path in ("/login", "/public/", "/api/public/status.json", "/healthz"):
        response = requests.get(f"{guarded.url}{path}", timeout=10)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", path
        policy = csp(response)
        assert "'unsafe-eval'" not in policy["script-src"] and "'unsafe-inline'" not in policy["script-src"]
        assert policy["object-src"] == "'none'"
    console = requests.get(f"{guarded.url}/login", timeout=10)
    assert csp(console)["frame-ancestors"] == "'none'" and console.headers["X-Frame-Options"] == "DENY"
    public = requests.get(f"{guarded.url}/public/", timeout=10)
    assert csp(public)["frame-ancestors"] == "'self'" and public.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_the_public_view_may_be_framed_by_the_sites_configured(rio_settings, redis_server, redis_client):
    app = create_public_wsgi_app(rio_settings, redis_server.url,
                                 security(OPSCENTRE_PUBLIC_FRAME_ANCESTORS="https://news.example.org 'self'"))
    with LiveServer(app) as server:
        public = requests.get(f"{server.url}/public/", timeout=10)
    assert csp(public)["frame-ancestors"] == "https://news.example.org 'self'"
    assert "X-Frame-Options" not in public.headers


def test_a_response_that_sets_a_cookie_is_never_publicly_cacheable(guarded, operator):
    signed_in = requests.post(f"{guarded.url}/login", data={"username": operator[0], "password": operator[1]},
                              timeout=10, allow_redirects=False)
    assert "Set-Cookie" in signed_in.headers
    assert signed_in.headers["Cache-Control"] == "private, no-store"
    api = requests.get(f"{guarded.url}/api/public/status.json", cookies=signed_in.cookies, timeout=10)
    assert "Set-Cookie" not in api.headers
    assert "public" in api.headers["Cache-Control"]


@pytest.mark.parametrize("path", ["/api/public/", "/api/public/nothing", "/api/public/layers/zones.json",
                                  "/api/public/alerts/x.cap/extra"])
def test_unknown_public_api_paths_answer_404_json(guarded, path):
    response = requests.get(f"{guarded.url}{path}", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json") and "error" in response.json()


@pytest.mark.parametrize("body", [b"null", b"[]", b"[1, 2]", b'"text"', b"{", b"{}", b'{"output": 3}',
                                  b'{"output": "no.such", "outputs": {"id": "x", "property": "y"}}',
                                  b'{"output": "..x..", "outputs": "x"}'])
def test_malformed_callback_bodies_get_400_and_one_log_line(guarded, body, caplog):
    caplog.set_level(logging.WARNING, logger="opscentre.web")
    response = requests.post(f"{guarded.url}/public/_dash-update-component", data=body,
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400, response.text
    assert "malformed callback request" in response.json()["error"]
    refusals = [r for r in caplog.records if "malformed callback" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].exc_info is None


def test_malformed_callback_bodies_from_a_signed_in_operator_get_400(guarded, operator):
    session = requests.Session()
    signed_in = session.post(f"{guarded.url}/login", data={"username": operator[0], "password": operator[1]},
                             timeout=10, allow_redirects=False)
    assert signed_in.status_code == 302
    for body in (b"null", b"[]", b"{", b'{"output": "x", "outputs": []}'):
        response = session.post(f"{guarded.url}/_dash-update-component", data=body,
                                headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 400, (body, response.text)
    anonymous = requests.post(f"{guarded.url}/_dash-update-component", data=b"null",
                              headers={"Content-Type": "application/json"}, timeout=10)
    assert anonymous.status_code == 401  # who asks is settled before what is asked


def test_a_tick_with_the_wrong_inputs_is_refused(guarded, store, rio_settings):
    write_city(store, rio_settings)
    body = tick_body(guarded.url, {})
    body["state"] = []
    response = requests.post(f"{guarded.url}/public/_dash-update-component", json=body, timeout=10)
    assert response.status_code == 400


def test_health_details_only_for_this_machine_or_the_token(rio_settings, redis_server, redis_client, store):
    app = create_wsgi_app(rio_settings, redis_server.url, SECRET, security())
    remote = Client(app)
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    anonymous = remote.get("/healthz", environ_base=outside)
    assert set(anonymous.json) == {"status"}
    with_token = remote.get("/healthz", environ_base=outside, headers={"Authorization": f"Bearer {TOKEN}"})
    assert "components" in with_token.json
    wrong_token = remote.get("/healthz", environ_base=outside, headers={"Authorization": "Bearer nope"})
    assert set(wrong_token.json) == {"status"}
    assert "components" in remote.get("/healthz", environ_base={"REMOTE_ADDR": "127.0.0.1"}).json
    # a proxy on this machine forwarding someone else's request is not "this machine"
    proxied = remote.get("/healthz", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                         headers={"X-Forwarded-For": "203.0.113.7"})
    assert set(proxied.json) == {"status"}

    write_city(store, rio_settings)
    metrics = remote.get("/metrics", environ_base=outside).get_data(as_text=True)
    assert "opscentre_redis_up 1.0" in metrics and "opscentre_feed" not in metrics
    full = remote.get("/metrics", environ_base=outside, headers={"Authorization": f"Bearer {TOKEN}"})
    assert 'opscentre_feed_polls_total{feed="simulator"}' in full.get_data(as_text=True)


def test_a_trusted_proxy_gives_the_client_address_and_scheme(rio_settings, redis_server, redis_client):
    app = create_wsgi_app(rio_settings, redis_server.url, SECRET, security(OPSCENTRE_TRUST_PROXY="1"))
    remote = Client(app)
    via_proxy = remote.get("/healthz", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                           headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert set(via_proxy.json) == {"status"}  # the client is elsewhere
    assert "max-age" in via_proxy.headers["Strict-Transport-Security"]  # and came over HTTPS
    local = remote.get("/healthz", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                       headers={"X-Forwarded-For": "127.0.0.1"})
    assert "components" in local.json


def test_anonymous_ticks_with_an_empty_state_do_not_rebuild_the_city(guarded, store, rio_settings, monkeypatch):
    write_city(store, rio_settings, rain_mm=3.0)
    reads = []
    real_read = public_map.read_city_data  # (the public map reads the city once per version for every language)
    monkeypatch.setattr(public_map, "read_city_data", lambda *a, **k: reads.append(1) or real_read(*a, **k))
    answers = [requests.post(f"{guarded.url}/public/_dash-update-component", json=tick_body(guarded.url, {}),
                             timeout=10) for _ in range(5)]
    assert all(a.status_code == 200 for a in answers)
    assert len({a.content for a in answers}) == 1 and "__dash_patch_update" in answers[0].text
    assert len(reads) == 1  # built once for this data version, then served from memory
    write_city(store, rio_settings, rain_mm=20.0)
    moved = requests.post(f"{guarded.url}/public/_dash-update-component", json=tick_body(guarded.url, {}),
                          timeout=10)
    assert moved.status_code == 200 and moved.content != answers[0].content
    assert len(reads) == 2
