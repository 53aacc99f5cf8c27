"""/api/public/alerts/{id}.cap and /api/public/alerts.atom through a real server on loopback,
reading a real Redis written as the engine writes it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
import requests
import xmlschema
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lxml import etree

from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.engine import Evaluation
from opscentre.core.alerting.lifecycle import Alert, AlertState, Transition
from opscentre.core.alerting.lifecycle import Change as Changed
from opscentre.core.alerting.rules import AlertSeverity
from opscentre.core.settings import load_settings
from opscentre.core.store import Store
from opscentre.dashboard.open_data_api import KnownChanges, read_public_alert_documents
from opscentre.dashboard.server import create_public_wsgi_app, create_wsgi_app
from tests.dashboard.city_seed import LiveServer as Served
from opscentre.open_data.cap import cap_time, messages_of

ROOT = Path(__file__).resolve().parents[2]
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2", "a": "http://www.w3.org/2005/Atom"}


@pytest.fixture(scope="module")
def rio():
    return load_settings(ROOT / "opscentre" / "cities" / "rio" / "demo.yaml")


@pytest.fixture(scope="module")
def cap_schema():
    return xmlschema.XMLSchema(str(ROOT / "tests" / "fixtures" / "schemas" / "CAP-v1.2.xsd"))


@pytest.fixture(scope="module")
def console_app(rio, redis_server):
    return create_wsgi_app(rio, redis_server.url, "test-secret-key-not-for-production")


@pytest.fixture
def live(console_app, redis_client):
    with Served(console_app) as served:
        yield served


@pytest.fixture
def store(redis_client):
    return Store(redis_client)


def fire(store, settings, alert_id="a-00c0ffee00", zone="Tijuca", severity="warning", rule="rain_15min",
         public=True, at=None):
    """An alert firing as the engine stores it: the record and its transition in the audit stream."""
    at = at or time.time() - 600
    zone_id = settings.zones.ids[settings.zones.names.index(zone)]
    alert = Alert(id=alert_id, fingerprint=f"{rule}|{alert_id}", rule=rule, key=alert_id, state="firing",
                  severity=severity, value=8.0, zone_id=zone_id, labels={"public": public}, started_at=at, since=at,
                  fired_at=at, updated_at=at, summary=f"{severity} rain at {zone}: 8.0 mm in 15 min", where=zone)
    _apply(store, alert, None, Changed.FIRING, at)
    return alert


def _apply(store, after: Alert, before: Alert | None, change: Changed, at: float) -> None:
    transition = Transition(alert_id=after.id, fingerprint=after.fingerprint, rule=after.rule, change=change, at=at,
                            state_before=before.state if before else None, state_after=after.state,
                            severity_before=before.severity if before else None, severity_after=after.severity,
                            value=after.value, zone_id=after.zone_id)
    evaluation = Evaluation(alerts={after.fingerprint: after}, transitions=[transition], changed={after.fingerprint})
    AlertStore(store.redis).apply(evaluation, {}, None, at, wall_now=at)


def get(url, **headers):
    return requests.get(url, headers=headers, timeout=10)


def test_a_firing_alert_is_a_valid_cap_alert(live, store, rio, cap_schema):
    alert = fire(store, rio)
    response = get(f"{live.url}/api/public/alerts/{alert.id}.cap")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/cap+xml; charset=utf-8"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "public" in response.headers["Cache-Control"] and "max-age=5" in response.headers["Cache-Control"]
    assert response.headers["Last-Modified"]
    cap_schema.validate(response.text)
    root = etree.fromstring(response.content)
    assert root.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert root.findtext("cap:status", namespaces=NS) == "Exercise"  # the demo city is simulated
    assert root.findtext("cap:info/cap:area/cap:areaDesc", namespaces=NS) == "Tijuca"


def test_the_cap_document_answers_304_to_its_etag(live, store, rio):
    alert = fire(store, rio)
    first = get(f"{live.url}/api/public/alerts/{alert.id}.cap")
    again = get(f"{live.url}/api/public/alerts/{alert.id}.cap", **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""


def test_an_escalation_is_an_update_and_a_resolution_a_cancel(live, store, rio, cap_schema):
    alert = fire(store, rio)
    worse = alert.model_copy(update={"severity": AlertSeverity.CRITICAL, "updated_at": alert.since + 300})
    _apply(store, worse, alert, Changed.ESCALATED, alert.since + 300)
    update = etree.fromstring(get(f"{live.url}/api/public/alerts/{alert.id}.cap").content)
    assert update.findtext("cap:msgType", namespaces=NS) == "Update"
    assert update.findtext("cap:info/cap:severity", namespaces=NS) == "Severe"
    resolved = worse.model_copy(update={"state": AlertState.RESOLVED, "since": alert.since + 900,
                                        "resolved_at": alert.since + 900, "updated_at": alert.since + 900})
    _apply(store, resolved, worse, Changed.RESOLVED, alert.since + 900)
    response = get(f"{live.url}/api/public/alerts/{alert.id}.cap")
    assert response.status_code == 200
    cap_schema.validate(response.text)
    cancel = etree.fromstring(response.content)
    assert cancel.findtext("cap:msgType", namespaces=NS) == "Cancel"
    assert cancel.findtext("cap:references", namespaces=NS).split() == [
        f"{update.findtext('cap:sender', namespaces=NS)},{alert.id}.1,{cap_time(alert.since, rio.tz)}",
        f"{update.findtext('cap:sender', namespaces=NS)},{alert.id}.2,{update.findtext('cap:sent', namespaces=NS)}"]


def test_unknown_and_malformed_ids_and_internal_alerts_are_json_404s(live, store, rio):
    internal = fire(store, rio, alert_id="a-0000000bad", public=False)
    for alert_id in ("a-ffffffffff", "nonsense", "i-0123456789", "a-0123456789%20OR%201", internal.id, "%00"):
        response = get(f"{live.url}/api/public/alerts/{alert_id}.cap")
        assert response.status_code == 404, alert_id
        assert response.headers["Content-Type"].startswith("application/json")
        assert "alerts.atom" in response.json()["index"]


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(alert_id=st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/?#"),
                        min_size=1, max_size=60))
def test_no_alert_id_gets_a_traceback(live, alert_id):
    response = requests.get(f"{live.url}/api/public/alerts/{requests.utils.quote(alert_id, safe='')}.cap",
                            timeout=10)
    assert response.status_code in (400, 404)
    assert "Traceback" not in response.text


def test_the_atom_index_lists_each_public_alert_and_links_resolve(live, store, rio, cap_schema):
    fire(store, rio, alert_id="a-000000000a", zone="Tijuca")
    fire(store, rio, alert_id="a-000000000b", zone="Copacabana", severity="critical")
    fire(store, rio, alert_id="a-000000000c", zone="Bangu", public=False)
    pending = fire(store, rio, alert_id="a-000000000d", zone="Centro")
    AlertStore(store.redis).put([pending.model_copy(update={"state": AlertState.PENDING, "fired_at": None})])
    response = get(f"{live.url}/api/public/alerts.atom")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    entries = etree.fromstring(response.content).findall("a:entry", NS)
    links = [e.find("a:link", NS).get("href") for e in entries]
    assert links == [f"{live.url}/api/public/alerts/a-000000000b.cap", f"{live.url}/api/public/alerts/a-000000000a.cap"]
    for link in links:
        linked = get(link)
        assert linked.status_code == 200
        cap_schema.validate(linked.text)
    again = get(f"{live.url}/api/public/alerts.atom", **{"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_catch_all_404_does_not_hide_the_alert_routes(live, store, rio):
    alert = fire(store, rio)
    assert get(f"{live.url}/api/public/alerts/{alert.id}.cap").status_code == 200
    assert get(f"{live.url}/api/public/alerts.atom").status_code == 200
    assert get(f"{live.url}/api/public/alerts/{alert.id}.json").status_code == 404


def test_the_public_process_serves_cap_and_atom(rio, redis_server, store):
    alert = fire(store, rio)
    with Served(create_public_wsgi_app(rio, redis_server.url)) as public:
        assert get(f"{public.url}/api/public/alerts/{alert.id}.cap").status_code == 200
        assert get(f"{public.url}/api/public/alerts.atom").status_code == 200


def test_redis_down_is_a_503_not_a_traceback(rio, own_redis):
    app = create_public_wsgi_app(rio, own_redis.url)
    own_redis.stop()
    with Served(app) as public:
        for path in ("alerts.atom", "alerts/a-0123456789.cap"):
            response = get(f"{public.url}/api/public/{path}")
            assert response.status_code == 503, path
            assert response.json()["error"].startswith("Redis unreachable")


def test_an_unchanged_alert_keeps_its_history_without_reading_the_audit_again(store, rio):
    alert = fire(store, rio)
    worse = alert.model_copy(update={"severity": AlertSeverity.CRITICAL, "updated_at": alert.since + 300})
    _apply(store, worse, alert, Changed.ESCALATED, alert.since + 300)
    known = KnownChanges()
    first = read_public_alert_documents(store, rio, True, known)
    assert [m.msg_type for m in messages_of(first.items[0])] == ["Alert", "Update"]
    store.redis.delete(keys.AUDIT)  # had it been read again, the history would be gone
    assert read_public_alert_documents(store, rio, True, known).items == first.items
    assert [m.msg_type for m in messages_of(read_public_alert_documents(store, rio, True).items[0])] == ["Alert"]
    resolved = worse.model_copy(update={"state": AlertState.RESOLVED, "since": alert.since + 900,
                                        "resolved_at": alert.since + 900, "updated_at": alert.since + 900})
    _apply(store, resolved, worse, Changed.RESOLVED, alert.since + 900)  # the record changed: read again
    [item] = read_public_alert_documents(store, rio, True, known).items
    assert [m.msg_type for m in messages_of(item)] == ["Alert", "Cancel"]


def test_while_redis_is_down_the_documents_last_made_are_still_served(rio, own_redis):
    store = Store(redis.Redis.from_url(own_redis.url))
    alert = fire(store, rio)
    with Served(create_public_wsgi_app(rio, own_redis.url)) as public:
        urls = [f"{public.url}/api/public/alerts.atom", f"{public.url}/api/public/alerts/{alert.id}.cap"]
        before = [get(url).content for url in urls]
        own_redis.stop()
        assert [get(url).content for url in urls] == before
        assert get(f"{public.url}/api/public/alerts/a-0123456789.cap").status_code == 503  # never made: not known
