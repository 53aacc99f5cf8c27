"""The console's pages over real HTTP (a real Redis): the map stays at / (no Referer: the map, as
before pages), each page is drawn at once for the page that asks (its Referer), the router draws
the others, every page needs a signed-in user, a viewer's crafted acknowledgement from the queue
is refused, and the audit filters and exports as CSV in the city's time."""

from __future__ import annotations

import time

import pytest
import requests
from city_seed import alert_record

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.incidents import Incident
from opscentre.core.roles import Role
from opscentre.dashboard import ids
from opscentre.dashboard.pages import alerts as alerts_page
from opscentre.dashboard.pages import find
from opscentre.i18n import translator

PASSWORD = "a long test password"


def sign_in(live, username: str) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{live.url}/login", data={"username": username, "password": PASSWORD}, timeout=10,
                            allow_redirects=False)
    assert response.status_code == 302, response.text
    return session


def layout_for(session, live, path: str) -> str:
    response = session.get(f"{live.url}/_dash-layout", headers={"Referer": f"{live.url}{path}"}, timeout=30)
    assert response.status_code == 200
    return response.text


@pytest.fixture
def city(store, rio_settings):
    zones = rio_settings.zones.ids
    alerts = AlertStore(store.redis)
    alerts.put([alert_record("a-old", "firing", zone_id=zones[0], severity="warning"),
                alert_record("a-crit", "firing", zone_id=zones[1], severity="critical")])
    now = time.time()
    store.redis.hset(keys.INCIDENTS, "i-9", Incident(
        id="i-9", severity="critical", zone_ids=[zones[1]], fingerprints=["rain_15min|a-crit"], opened_at=now - 600,
        updated_at=now - 600, timeline=[{"at": now - 600, "change": "firing", "alert_id": "a-crit",
                                         "rule": "rain_15min", "severity": "critical", "where": "x"}]
    ).model_dump_json())
    for role in (Role.VIEWER, Role.OPERATOR):
        operators.add(store.redis, f"{role.value}.user", PASSWORD, role)
    return store


def test_paths_find_their_pages():
    assert find("/")[0].path == "/" and find("/alerts")[0].path == "/alerts" and find("/alerts/")[0].path == "/alerts"
    assert find("/nowhere")[0] is None


def test_the_queue_is_ordered_by_severity_then_age():
    t = translator("en")
    now = 10_000.0
    alerts = [{"id": "w-new", "severity": "warning", "started_at": "1970-01-01T02:40:00Z", "rule": "r", "zone_id": None},
              {"id": "w-old", "severity": "warning", "started_at": "1970-01-01T01:00:00Z", "rule": "r", "zone_id": "z1",
               "acknowledged_by": "ana"},
              {"id": "c", "severity": "critical", "started_at": "1970-01-01T02:00:00Z", "rule": "r", "zone_id": "z1",
               "silenced_by": ["s-1"]}]
    rows = alerts_page.queue_rows(alerts, {"z1": "Copacabana"}, now, t)
    assert [r["id"] for r in rows] == ["c", "w-old", "w-new"]
    assert rows[0]["where"] == "Copacabana" and rows[0]["state"] == "not acknowledged · silenced"
    assert rows[1]["state"] == "acknowledged by ana" and rows[1]["age"] == "for 1 h 46 min"
    assert rows[2]["where"] == "city-wide"


def test_every_page_is_drawn_for_the_page_that_asks_and_needs_a_sign_in(live, city):
    assert requests.get(f"{live.url}/alerts", timeout=10, allow_redirects=False).status_code == 302
    assert requests.get(f"{live.url}/_dash-layout", headers={"Referer": f"{live.url}/audit"},
                        timeout=10).status_code == 401
    session = sign_in(live, "operator.user")
    assert session.get(f"{live.url}/alerts", timeout=10).status_code == 200
    home = layout_for(session, live, "/")
    assert f'"id":"{ids.MAP}"' in home.replace(" ", "") and f'"id":"{ids.NAV}"' in home.replace(" ", "")
    queue = layout_for(session, live, "/alerts").replace(" ", "")
    assert f'"id":"{ids.MAP}"' not in queue and '"data-alert":"a-crit"' in queue
    assert queue.index('"data-alert":"a-crit"') < queue.index('"data-alert":"a-old"')  # critical first


def test_the_router_draws_a_page_followed_inside_the_console(live, city):
    session = sign_in(live, "viewer.user")
    body = {"output": f"..{ids.PAGE}.children...{ids.PAGE_SHOWN}.data..",
            "outputs": [{"id": ids.PAGE, "property": "children"}, {"id": ids.PAGE_SHOWN, "property": "data"}],
            "inputs": [{"id": ids.URL, "property": "pathname", "value": "/alerts"}],
            "state": [{"id": ids.PAGE_SHOWN, "property": "data", "value": "/"}],
            "changedPropIds": [f"{ids.URL}.pathname"]}
    response = session.post(f"{live.url}/_dash-update-component", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert '"data-alert":"a-crit"' in response.text.replace(" ", "")
    same = session.post(f"{live.url}/_dash-update-component",
                        json={**body, "state": [{**body["state"][0], "value": "/alerts"}]}, timeout=30)
    assert same.status_code == 204  # drawn already: nothing sent
    assert requests.post(f"{live.url}/_dash-update-component", json=body, timeout=10).status_code == 401


def test_a_viewer_sees_the_queue_but_a_crafted_acknowledgement_is_refused(live, city):
    redis = city.redis
    session = sign_in(live, "viewer.user")
    queue = layout_for(session, live, "/alerts").replace(" ", "")
    assert '"data-alert":"a-crit"' in queue
    at = queue.index(f'"id":"{ids.ACK_BUTTON}"')
    assert '"disabled":true' in queue[queue.rfind('"props":{', 0, at):queue.find("}", at)]
    body = {"output": f"..{ids.ACK_RESULT}.children...{ids.ACK_NOTE}.value...{ids.ACK_ALERT}.value..",
            "outputs": [{"id": ids.ACK_RESULT, "property": "children"}, {"id": ids.ACK_NOTE, "property": "value"},
                        {"id": ids.ACK_ALERT, "property": "value"}],
            "inputs": [{"id": ids.ACK_BUTTON, "property": "n_clicks", "value": 1}],
            "state": [{"id": ids.ACK_ALERT, "property": "value", "value": "a-crit"},
                      {"id": ids.ACK_NOTE, "property": "value", "value": ""}],
            "changedPropIds": [f"{ids.ACK_BUTTON}.n_clicks"]}
    refused = session.post(f"{live.url}/_dash-update-component", json=body, timeout=10)
    assert refused.status_code == 403 and refused.json()["action"] == "ack"
    assert AlertStore(redis).acks() == {}
    operator = sign_in(live, "operator.user")
    assert operator.post(f"{live.url}/_dash-update-component", json=body, timeout=10).status_code == 200
    assert AlertStore(redis).acks()["a-crit"]["by"] == "operator.user"
