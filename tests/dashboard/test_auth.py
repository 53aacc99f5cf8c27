import requests
from city_seed import write_city

from opscentre.core.alert_store import AlertStore
from opscentre.dashboard import ids


def logged_in(live, username, password) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{live.url}/login", data={"username": username, "password": password}, timeout=10,
                            allow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    return session


def toggle_callback_body(session, live) -> dict:
    """A valid body for the layer-toggle callback, built from the app's own dependency list."""
    dependencies = session.get(f"{live.url}/_dash-dependencies", timeout=10).json()
    toggle = next(d for d in dependencies if d["inputs"][0]["id"] == ids.LAYER_TOGGLE)
    return {
        "output": toggle["output"],
        "outputs": {"id": ids.MAP, "property": toggle["output"].split(".", 1)[1]},
        "inputs": [{"id": ids.LAYER_TOGGLE, "property": "value", "value": ["zones"]}],
        "changedPropIds": [f"{ids.LAYER_TOGGLE}.value"],
    }


def test_good_password_logs_in_and_bad_password_is_refused(live, operator):
    username, password = operator
    wrong = requests.post(f"{live.url}/login", data={"username": username, "password": "nope"}, timeout=10,
                          allow_redirects=False)
    assert wrong.status_code == 401 and "Usuário ou senha incorretos" in wrong.text  # Rio: pt-BR
    assert "opscentre_session" not in wrong.cookies
    hostile = requests.post(f"{live.url}/login", data={"username": "x" * 10_000, "password": "y"}, timeout=10)
    assert hostile.status_code == 400
    session = logged_in(live, username, password)
    cookie = next(c for c in session.cookies if c.name == "opscentre_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    page = session.get(f"{live.url}/", timeout=10)
    assert page.status_code == 200 and "_dash-config" in page.text


def test_anonymous_console_redirects_to_login(live):
    response = requests.get(f"{live.url}/", timeout=10, allow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    for path in ("/_dash-layout", "/_dash-dependencies"):
        assert requests.get(f"{live.url}{path}", timeout=10).status_code == 401


def test_dash_callback_endpoint_refuses_anonymous_and_serves_operators(live, operator, store, rio_settings):
    write_city(store, rio_settings)
    session = logged_in(live, *operator)
    body = toggle_callback_body(session, live)
    anonymous = requests.post(f"{live.url}/_dash-update-component", json=body, timeout=10)
    assert anonymous.status_code in (401, 403)
    assert "__dash_patch_update" not in anonymous.text
    allowed = session.post(f"{live.url}/_dash-update-component", json=body, timeout=10)
    assert allowed.status_code == 200, allowed.text
    assert "__dash_patch_update" in allowed.text


def test_cross_origin_post_is_refused_even_with_a_session(live, operator):
    session = logged_in(live, *operator)
    response = session.post(f"{live.url}/_dash-update-component", json={}, timeout=10,
                            headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def sign_out_token(node):
    """The value of the console's hidden csrf_token input, found in a Dash layout."""
    if isinstance(node, dict):
        if node.get("props", {}).get("name") == "csrf_token":
            return node["props"]["value"]
        node = list(node.values())
    if isinstance(node, list):
        return next((t for t in map(sign_out_token, node) if t), None)
    return None


def test_the_consoles_sign_out_form_ends_the_session(live, operator):
    session = logged_in(live, *operator)
    layout = session.get(f"{live.url}/_dash-layout", timeout=10)
    assert layout.status_code == 200
    token = sign_out_token(layout.json())
    response = session.post(f"{live.url}/logout", data={"csrf_token": token}, timeout=10, allow_redirects=False)
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert session.get(f"{live.url}/_dash-layout", timeout=10).status_code == 401


def test_login_refuses_offsite_redirects(live, operator):
    username, password = operator
    response = requests.post(f"{live.url}/login?next=//evil.example/x", timeout=10, allow_redirects=False,
                             data={"username": username, "password": password})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def ack_callback_body(session, live, alert_id: str, note: str) -> dict:
    """A valid body for the acknowledge callback, built from the app's own dependency list."""
    dependencies = session.get(f"{live.url}/_dash-dependencies", timeout=10).json()
    ack = next(d for d in dependencies if d["inputs"][0]["id"] == ids.ACK_BUTTON)
    return {
        "output": ack["output"],
        "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in ack["output"].strip(".").split("...")],
        "inputs": [{"id": ids.ACK_BUTTON, "property": "n_clicks", "value": 1}],
        "state": [{"id": ids.ACK_ALERT, "property": "value", "value": alert_id},
                  {"id": ids.ACK_NOTE, "property": "value", "value": note}],
        "changedPropIds": [f"{ids.ACK_BUTTON}.n_clicks"],
    }


def test_a_crafted_anonymous_acknowledge_changes_nothing_and_an_operators_is_recorded_as_theirs(
        live, operator, store, rio_settings):
    from city_seed import alert_record

    from opscentre.core import keys

    alert = alert_record("a-42", "firing", zone_id=rio_settings.zones.ids[0], severity="critical")
    AlertStore(store.redis).put([alert])
    session = logged_in(live, *operator)
    note = '<img src=x onerror="alert(1)"> pumped the underpass'
    body = ack_callback_body(session, live, "a-42", note)
    anonymous = requests.post(f"{live.url}/_dash-update-component", json=body, timeout=10)
    assert anonymous.status_code == 401
    assert store.redis.hlen(keys.ALERT_ACKS) == 0
    assert [e["action"] for e in AlertStore(store.redis).audit()] == ["signed-in"]
    allowed = session.post(f"{live.url}/_dash-update-component", json=body, timeout=10)
    assert allowed.status_code == 200, allowed.text
    assert f"Reconhecido por {operator[0]}" in allowed.text  # Rio's console: pt-BR
    ack = AlertStore(store.redis).acks()["a-42"]
    assert ack["by"] == operator[0] and ack["note"] == note  # stored as the text it was
    _signed_in, entry = AlertStore(store.redis).audit()
    assert entry["actor"] == operator[0] and entry["action"] == "acknowledged"
    unknown = session.post(f"{live.url}/_dash-update-component", json=ack_callback_body(session, live, "a-0", "x"),
                           timeout=10)
    assert "não está mais aberto" in unknown.text and store.redis.hlen(keys.ALERT_ACKS) == 1
