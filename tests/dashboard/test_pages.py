"""The console's pages over real HTTP (a real Redis): the map stays at / (no Referer: the map, as
before pages), each page is drawn at once for the page that asks (its Referer), the router draws
the others, every page needs a signed-in user, a viewer's crafted acknowledgement from the queue
is refused, and the audit filters and exports as CSV in the city's time."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime

import pytest
import requests
from city_seed import alert_record, write_city

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.incidents import Incident
from opscentre.core.roles import Role
from opscentre.dashboard import ids
from opscentre.dashboard.pages import alerts as alerts_page
from opscentre.dashboard.pages import audit as audit_page
from opscentre.dashboard.pages import feeds as feeds_page
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
    assert find("/incident/i-9") == (find("/incident/x")[0], "i-9")
    assert find("/incident/")[0] is None and find("/nowhere")[0] is None


def test_the_queue_is_ordered_by_severity_then_age():
    t = translator("en")
    now = 10_000.0
    alerts = [{"id": "w-new", "severity": "warning", "started_at": "1970-01-01T02:40:00Z", "rule": "r",
               "zone_id": None},
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
    incident = layout_for(session, live, "/incident/i-9").replace(" ", "")
    assert f'"id":"{ids.INCIDENT_MAP}"' in incident and '"data-alert":"a-crit"' in incident
    assert f'"id":"{ids.AUDIT_TABLE}"' in layout_for(session, live, "/audit").replace(" ", "")


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


def test_local_times_are_read_in_the_citys_zone(rio_settings):
    tz = rio_settings.tz
    at = audit_page.parse_local("2026-12-07 14:30", tz)
    assert datetime.fromtimestamp(at, tz).strftime("%H:%M") == "14:30" and audit_page.parse_local(" ", tz) is None
    with pytest.raises(ValueError):
        audit_page.parse_local("yesterday", tz)


def test_an_exported_cell_never_starts_like_a_formula(rio_settings):
    rows = list(csv.reader(io.StringIO(audit_page.csv_text(
        [{"at": 0, "actor": "=cmd|' /C calc'!A0", "action": "acknowledged", "subject": "@SUM(1)",
          "after": {"note": "=HYPERLINK(\"x\")"}}], rio_settings.tz))))
    assert rows[1][1].startswith("'=") and rows[1][2] == "acknowledged" and rows[1][3].startswith("'@")
    assert rows[1][5].startswith("{")  # (JSON: starts with a brace)


def test_the_audit_filters_by_who_what_and_when_and_exports_the_same_as_csv(live, city, rio_settings):
    alerts = AlertStore(city.redis)
    now = time.time()
    alerts.record("ana", "acknowledged", "a-1", {"note": "pumps on"}, now - 3 * 3600)
    alerts.record("ana", "acknowledged", "a-2", {"note": "checked"}, now - 60)
    alerts.record("bruno", "acknowledged", "a-3", {"note": ""}, now - 30)
    alerts.record("ana", "resolved-by-hand", "a-2", {"note": "dry"}, now - 20)
    since = datetime.fromtimestamp(now - 3600, rio_settings.tz).strftime("%Y-%m-%d %H:%M")
    session = sign_in(live, "viewer.user")
    body = {"output": f"..{ids.AUDIT_TABLE}.children...{ids.AUDIT_EXPORT}.href..",
            "outputs": [{"id": ids.AUDIT_TABLE, "property": "children"}, {"id": ids.AUDIT_EXPORT, "property": "href"}],
            "inputs": [{"id": ids.AUDIT_WHO, "property": "value", "value": "ana"},
                       {"id": ids.AUDIT_WHAT, "property": "value", "value": "acknowledged"},
                       {"id": ids.AUDIT_FROM, "property": "value", "value": since},
                       {"id": ids.AUDIT_TO, "property": "value", "value": None}],
            "changedPropIds": [f"{ids.AUDIT_WHO}.value"]}
    response = session.post(f"{live.url}/_dash-update-component", json=body, timeout=10)
    assert response.status_code == 200, response.text
    shown = response.json()["response"]
    assert '"a-2"' in response.text and '"a-1"' not in response.text and '"a-3"' not in response.text
    href = shown[ids.AUDIT_EXPORT]["href"]
    assert href.startswith("/audit.csv?") and "who=ana" in href
    exported = session.get(f"{live.url}{href}", timeout=10)
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["actor"], r["action"], r["subject"]) for r in rows] == [("ana", "acknowledged", "a-2")]
    assert rows[0]["at"].endswith("-03:00")  # Rio's local time, with its offset
    everything = session.get(f"{live.url}/audit.csv?from=2000-01-01", timeout=10)
    assert {r["subject"] for r in csv.DictReader(io.StringIO(everything.text))} >= {"a-1", "a-2", "a-3"}
    assert session.get(f"{live.url}/audit.csv?from=soon", timeout=10).status_code == 400
    assert requests.get(f"{live.url}/audit.csv", timeout=10, allow_redirects=False).status_code in (302, 401)


def test_the_feeds_table_puts_the_worst_first_and_says_why(rio_settings):
    t = translator("en")
    now = 100_000.0
    health = {"simulator": {"status": "ok", "last_success_ts": now - 30, "interval_s": 60, "items": 146,
                            "simulated": True},
              "waze": {"status": "ok", "last_success_ts": now - 3600, "interval_s": 120, "items": 20},
              "cemaden": {"status": "failing", "last_error": "HTTP 503", "last_error_kind": "unavailable",
                          "consecutive_failures": 4, "last_success_ts": None, "interval_s": 600}}
    metrics = {"simulator": {"polls": 12, "failures": 0, "observations_stored": 1752}}
    rows = feeds_page.feed_rows(health, metrics, now, rio_settings.tz, t)
    assert [(r["id"], r["status"]) for r in rows] == [("cemaden", "failing"), ("waze", "stale"), ("simulator", "ok")]
    assert rows[0]["last_error"] == "HTTP 503 (unavailable)" and rows[0]["failures"] == 4
    assert rows[0]["last_success"] == "never" and rows[2]["totals"] == "12 · 0 · 1752" and rows[2]["simulated"]


def test_the_feeds_page_shows_each_feed_and_its_last_error(live, city, rio_settings):
    write_city(city, rio_settings, rain_mm=1.0)
    city.record_failure("cemaden", {"status": "failing", "last_error": "HTTP 503", "interval_s": 600},
                        {"polls": 1, "failures": 1})
    page = layout_for(sign_in(live, "viewer.user"), live, "/feeds").replace(" ", "")
    # (Dash writes a component's data-* props in either order)
    assert '"data-status":"failing","data-feed":"cemaden"' in page or '"data-feed":"cemaden","data-status":"failing"' in page
    assert "HTTP503" in page
    assert page.index('"data-feed":"cemaden"') < page.index('"data-feed":"simulator"')


def test_the_feeds_page_charts_each_feeds_items_per_poll_from_the_poll_log(live, city, rio_settings):
    write_city(city, rio_settings, rain_mm=1.0)  # a simulator poll (its items)
    city.record_failure("cemaden", {"status": "failing", "last_error": "HTTP 503"}, {"polls": 1, "failures": 1})
    polls = city.feed_polls("simulator", time.time() - 60)
    assert polls and polls[-1][1] > 0 and polls[-1][2] == "ok"
    assert city.feed_polls("cemaden", time.time() - 60)[-1][1:] == (0, "failed")
    page = layout_for(sign_in(live, "viewer.user"), live, "/feeds").replace(" ", "")
    assert '"feeds-chart"' in page and '"name":"simulator"' in page and '"name":"cemaden"' in page


def test_the_chart_keeps_the_most_items_of_each_five_minutes():
    polls = [(0.0, 3, "ok"), (100.0, 9, "ok"), (299.0, 0, "failed"), (300.0, 4, "ok")]
    assert feeds_page.bucketed(polls) == [(0.0, 9), (300.0, 4)]
