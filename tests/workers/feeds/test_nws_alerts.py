"""The NWS alerts feed (api.weather.gov /alerts/active): parse, bad inputs, conditional polls.

Fixture `tests/fixtures/nws_alerts/alerts_active_zone.json`: a real api.weather.gov response
(Flood Watch, NWS Portland OR, 2019-12-20, `geometry: null`), copied byte for byte from
MatthewFlamm/pynws `tests/fixtures/alerts_active_zone.json` @7d74a8c (MIT) — see
shared/fixtures/SOURCES.md. The city for these tests is a grid over north-west Oregon.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from flask import Flask

from opscentre.core.errors import ParseError
from opscentre.core.models import Severity
from opscentre.core.store import Store
from opscentre.core.validate import validate
from opscentre.dashboard.api import public_api_blueprint
from opscentre.workers import jobs
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.nws_alerts import NwsAlertsOptions, parse
from opscentre.workers.pipeline import store_payload
from tests.cli_helpers import clean_env, opscentre
from tests.conftest import FIXTURES
from tests.workers.feeds.city_config import grid_city
from tests.workers.feeds.local_http import send, serving

FIXTURE = FIXTURES / "nws_alerts" / "alerts_active_zone.json"
OREGON = (-124.0, 45.0, -122.0, 46.5)  # min lon, min lat, max lon, max lat
AFTER_FIXTURE = datetime(2019, 12, 20, 21, 40, tzinfo=timezone.utc)
ALERT_ID = "NWS-IDP-PROD-3965873-3369046"
INSIDE = [[-123.2, 45.4], [-122.8, 45.4], [-122.8, 45.7], [-123.2, 45.7], [-123.2, 45.4]]


@pytest.fixture
def settings(tmp_path):
    return grid_city(tmp_path, bbox=OREGON, tz="America/Los_Angeles", feeds={"nws_alerts": {}})


@pytest.fixture
def ctx(settings):
    return FeedContext("nws_alerts", NwsAlertsOptions(), settings, AFTER_FIXTURE)


def document() -> dict:
    return orjson.loads(FIXTURE.read_bytes())


def with_alerts(*alerts: dict) -> bytes:
    body = document()
    body["features"] = list(alerts)
    return orjson.dumps(body)


def alert(alert_id="A1", geometry=None, **props) -> dict:
    """The fixture's alert with another id and the given property changes."""
    feature = copy.deepcopy(document()["features"][0])
    feature["id"] = f"https://api.weather.gov/alerts/{alert_id}"
    feature["properties"].update({"id": alert_id, "@id": feature["id"], **props})
    feature["geometry"] = geometry
    return feature


def fresh(now: datetime) -> bytes:
    """The fixture with its times moved to just before `now` (and its end a day later)."""
    body = document()
    props = body["features"][0]["properties"]
    for name in ("sent", "effective", "onset"):
        props[name] = (now - timedelta(minutes=10)).isoformat()
    props["expires"] = (now + timedelta(hours=8)).isoformat()
    props["ends"] = (now + timedelta(days=1)).isoformat()
    return orjson.dumps(body)


def reasons(result) -> dict[str, str]:
    return {r.entity_id: r.reason for r in result.rejected}


# ---- the fixture ------------------------------------------------------------------------


def test_the_fixture_gives_one_flood_watch_with_cap_fields(ctx):
    result = parse(FIXTURE.read_bytes(), ctx)
    assert result.rejected == [] and len(result.events) == 1
    event = result.events[0]
    assert (event.event_id, event.source, event.category, event.event_type) == (
        ALERT_ID, "nws_alerts", "warning", "Flood Watch")
    assert event.title.startswith("Flood Watch issued December 20 at 1:34PM PST")
    assert event.severity is Severity.SEVERE
    assert event.observed_at == datetime(2019, 12, 20, 21, 34, tzinfo=timezone.utc).timestamp()
    assert event.starts_at == event.observed_at  # onset
    assert event.ends_at == datetime(2019, 12, 22, 18, 0, tzinfo=timezone.utc).timestamp()  # ends, not expires
    assert event.geometry is None and event.zone_ids == []
    props = event.properties
    assert (props["urgency"], props["certainty"], props["message_type"], props["status"]) == (
        "Future", "Possible", "Update", "Actual")
    assert props["geocodes"]["UGC"][:2] == ["ORZ001", "ORZ006"] and len(props["geocodes"]["SAME"]) == 16
    assert props["area_desc"].startswith("North Oregon Coast; Greater Portland Metro Area")
    assert props["sender_name"] == "NWS Portland OR"
    assert props["web"] == f"https://api.weather.gov/alerts/{ALERT_ID}"
    assert props["instruction"].startswith("A Flood Watch means")
    assert props["expires"] == "2019-12-21T13:30:00Z" and props["ends"] == "2019-12-22T18:00:00Z"


def test_an_update_lists_the_ids_it_references_and_is_not_a_cancel(ctx):
    event = parse(FIXTURE.read_bytes(), ctx).events[0]
    assert event.references == ["NWS-IDP-PROD-3964821-3368352", "NWS-IDP-PROD-3965324-3368680",
                                "NWS-IDP-PROD-3965155-3368578", "NWS-IDP-PROD-3963421-3367361"]
    assert event.cancelled is False


def test_a_cancel_is_cancelled_and_without_onset_or_ends_falls_back_to_effective_and_expires(ctx):
    cancel = alert("C1", messageType="Cancel", onset=None, ends=None,
                   references=[{"identifier": "A0", "sender": "x", "sent": "2019-12-20T10:00:00-08:00"}])
    event = parse(with_alerts(cancel), ctx).events[0]
    assert event.cancelled is True and event.references == ["A0"]
    props = cancel["properties"]
    assert event.starts_at == datetime.fromisoformat(props["effective"]).timestamp()
    assert event.ends_at == datetime.fromisoformat(props["expires"]).timestamp()


def test_parse_works_without_a_context():
    result = parse(FIXTURE.read_bytes())
    assert [e.event_id for e in result.events] == [ALERT_ID]


def test_long_descriptions_are_cut(ctx):
    event = parse(with_alerts(alert(description="word " * 5000)), ctx).events[0]
    assert len(event.properties["description"]) == 4000 and event.properties["description"].endswith("…")


# ---- polygons ---------------------------------------------------------------------------


def test_a_polygon_in_the_city_is_kept_as_geojson(ctx):
    polygon = {"type": "Polygon", "coordinates": [INSIDE]}
    event = parse(with_alerts(alert("P1", geometry=polygon)), ctx).events[0]
    assert event.geometry == polygon


def test_a_polygon_outside_the_city_or_swapped_is_rejected_with_the_reason(ctx):
    far = {"type": "Polygon", "coordinates": [[[-97.0, 35.0], [-96.5, 35.0], [-96.5, 35.4], [-97.0, 35.0]]]}
    swapped = {"type": "Polygon", "coordinates": [[[lat, lon] for lon, lat in INSIDE]]}
    point = {"type": "Point", "coordinates": [-123.0, 45.5]}
    broken = {"type": "Polygon", "coordinates": "nope"}
    result = parse(with_alerts(alert("far", geometry=far), alert("swapped", geometry=swapped),
                               alert("point", geometry=point), alert("broken", geometry=broken),
                               alert("ok")), ctx)
    assert [e.event_id for e in result.events] == ["ok"]
    why = reasons(result)
    assert why["far"] == "area is outside the city"
    assert "swapped" in why["swapped"]
    assert "not a Polygon" in why["point"]
    assert "not valid GeoJSON" in why["broken"]


# ---- bad inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", "HTML"),
        (b'{"type": "FeatureCollection", "features": [{"id": "x", "prop', "not JSON"),
        (b"[]", "JSON object"),
        (b'{"type": "FeatureCollection"}', "no 'features' list"),
        (b'{"type": "FeatureCollection", "features": {"a": 1}}', "no 'features' list"),
        (b'{"title": "Not Found", "status": 404, "detail": "Invalid zone ORZ999"}', "Invalid zone ORZ999"),
    ],
)
def test_a_payload_that_cannot_be_read_is_a_parse_error(ctx, payload, reason):
    with pytest.raises(ParseError, match=reason):
        parse(payload, ctx)


def test_a_truncated_fixture_is_a_parse_error(ctx):
    with pytest.raises(ParseError, match="not JSON"):
        parse(FIXTURE.read_bytes()[:3000], ctx)


def test_test_exercise_and_draft_alerts_are_skipped_with_the_reason(ctx):
    result = parse(with_alerts(alert("t", status="Test"), alert("e", status="Exercise"), alert("d", status="Draft"),
                               alert("s", status="System"), alert("q", status="Rumour"), alert("ok")), ctx)
    assert [e.event_id for e in result.events] == ["ok"]
    why = reasons(result)
    assert all("not a real alert" in why[k] for k in "teds")
    assert "unknown status 'Rumour'" in why["q"]


def test_wrong_types_missing_fields_and_unknown_values_reject_only_that_alert(ctx):
    features = [
        "junk",
        {"type": "Feature", "properties": None},
        alert("noid", id=None),
        alert("noevent", event=""),
        alert("ack", messageType="Ack"),
        alert("weird", messageType="Shout"),
        alert("badtime", onset="next Tuesday"),
        alert("notime", sent=None, effective=None),
        alert("wrongtype", expires=12345),
        alert("catastrophic", severity="Catastrophic", urgency=7, geocode="ORZ001", references="A0"),
        alert("ok"),
    ]
    result = parse(with_alerts(*features), ctx)
    assert sorted(e.event_id for e in result.events) == ["catastrophic", "ok"]
    why = reasons(result)
    assert why["features[0]"] == why["features[1]"] == "feature is not an object with properties"
    assert why["features[2]"] == "alert has no id"
    assert why["noevent"] == "alert has no event"
    assert "not a warning" in why["ack"] and "unknown msgType 'Shout'" in why["weird"]
    assert "not an ISO 8601 time" in why["badtime"]
    assert why["notime"] == "alert has neither sent nor effective time"
    assert "is not a time" in why["wrongtype"]
    odd = next(e for e in result.events if e.event_id == "catastrophic")
    assert odd.severity is Severity.UNKNOWN and odd.properties["severity_source"] == "Catastrophic"
    assert "urgency" not in odd.properties and "geocodes" not in odd.properties and odd.references == []


def test_a_repeated_alert_is_kept_once_by_core_validation(ctx):
    older = alert("dup", sent="2019-12-20T12:00:00-08:00", headline="older")
    result = validate(parse(with_alerts(older, alert("dup", headline="newer")), ctx), now=AFTER_FIXTURE.timestamp())
    assert [e.title for e in result.events] == ["newer"]
    assert "duplicate event id" in result.rejected[0].reason


# ---- options and fetch ------------------------------------------------------------------


def test_the_options_are_validated():
    assert NwsAlertsOptions().params() == {}
    assert NwsAlertsOptions(area="or").params() == {"area": "OR"}
    assert NwsAlertsOptions(zone=["orz004", "WAZ039"]).params() == {"zone": "ORZ004,WAZ039"}
    assert NwsAlertsOptions(point=" 45.5, -122.68 ").params() == {"point": "45.5000,-122.6800"}
    for bad in ({"area": "Oregon"}, {"zone": ["Portland"]}, {"zone": []}, {"point": "-122.6,145.5"},
                {"area": "OR", "point": "45.5,-122.6"}, {"url": "ftp://x"}, {"user_agent": "a\r\nX-Evil: 1"},
                {"surprise": True}):
        with pytest.raises(ValueError):
            NwsAlertsOptions(**bad)


def test_fetch_sends_the_user_agent_accept_header_and_the_query(settings):
    with serving(lambda n, h: send(h, 200, FIXTURE.read_bytes())) as server:
        options = NwsAlertsOptions(url=server.url + "/alerts/active", zone=["ORZ004"],
                                   user_agent="opscentre-test (ops@example.org)")
        body = FEEDS["nws_alerts"].fetch(FeedContext("nws_alerts", options, settings, AFTER_FIXTURE))
    assert body == FIXTURE.read_bytes()
    assert server.paths == ["/alerts/active?zone=ORZ004"]
    assert server.headers[0]["User-Agent"] == "opscentre-test (ops@example.org)"
    assert server.headers[0]["Accept"] == "application/geo+json"


# ---- end to end -------------------------------------------------------------------------


def test_polls_are_conditional_and_a_304_keeps_the_stored_warnings(tmp_path, redis_client):
    body = fresh(datetime.now(timezone.utc))
    validators = {"ETag": '"alerts-v1"', "Last-Modified": "Fri, 20 Dec 2019 21:35:17 GMT"}

    def respond(n, handler):
        if n == 1:
            send(handler, 200, body, validators)
        elif n == 2:
            send(handler, 304, b"", validators)
        else:
            send(handler, 200, with_alerts(), {"ETag": '"alerts-v2"'})

    store = Store(redis_client)
    with serving(respond) as server:
        settings = grid_city(tmp_path, bbox=OREGON, tz="America/Los_Angeles",
                             feeds={"nws_alerts": {"options": {"url": server.url + "/alerts/active"}}})
        first = jobs.poll_feed("nws_alerts", settings, store)
        assert first == {"feed": "nws_alerts", "stored": 1, "rejected": 0}
        assert [e["event_id"] for e in store.events("warning")] == [ALERT_ID]
        assert store.feed_health("nws_alerts")["status"] == "ok"

        second = jobs.poll_feed("nws_alerts", settings, store)
        assert second == {"feed": "nws_alerts", "stored": 0, "rejected": 0}
        assert "If-None-Match" not in server.headers[0] and "If-Modified-Since" not in server.headers[0]
        assert server.headers[1]["If-None-Match"] == '"alerts-v1"'
        assert server.headers[1]["If-Modified-Since"] == "Fri, 20 Dec 2019 21:35:17 GMT"
        health = store.feed_health("nws_alerts")
        assert health["status"] == "ok" and health["http_status"] == 304
        assert health["items"] == 1  # what the stored payload held
        assert [e["event_id"] for e in store.events("warning")] == [ALERT_ID]  # kept

        third = jobs.poll_feed("nws_alerts", settings, store)
        assert third == {"feed": "nws_alerts", "stored": 0, "rejected": 0}
        assert store.events("warning") == []  # a snapshot: the alert is no longer listed, so it ended
        assert store.feed_health("nws_alerts")["etag"] == '"alerts-v2"'


def test_a_stored_polygon_alert_gets_the_zones_it_touches_and_shows_in_the_public_geojson(settings, redis_client):
    now = datetime.now(timezone.utc)
    stamp = (now - timedelta(minutes=5)).isoformat()
    until = (now + timedelta(hours=3)).isoformat()
    polygon = {"type": "Polygon", "coordinates": [INSIDE]}
    payload = with_alerts(alert("P1", geometry=polygon, sent=stamp, effective=stamp, onset=stamp, ends=until),
                          alert("Z1", sent=stamp, effective=stamp, onset=stamp, ends=until))
    store = Store(redis_client)
    ctx = FeedContext("nws_alerts", NwsAlertsOptions(), settings, now)
    summary = store_payload(FEEDS["nws_alerts"], payload, ctx, store)
    assert (summary.stored, summary.rejected) == (2, 0)
    stored = {e["event_id"]: e for e in store.events("warning")}
    assert stored["P1"]["zone_ids"] and set(stored["P1"]["zone_ids"]) <= set(settings.zones.ids)
    assert stored["Z1"]["zone_ids"] == []

    app = Flask("test")
    app.register_blueprint(public_api_blueprint(settings, store, False))
    response = app.test_client().get("/api/public/layers/warnings.geojson")
    assert response.status_code == 200
    features = {f["id"]: f for f in response.get_json()["features"]}
    assert features["nws_alerts:P1"]["geometry"]["type"] == "Polygon"
    zone_alert = features["nws_alerts:Z1"]
    assert zone_alert["geometry"] is None and zone_alert["properties"]["zone_ids"] == []
    assert zone_alert["properties"]["area_desc"].startswith("North Oregon Coast")
    assert zone_alert["properties"]["geocodes"]["UGC"][0] == "ORZ001"


def test_ingest_replays_the_fixture_as_of_its_time(tmp_path, redis_client, redis_server):
    grid_city(tmp_path, bbox=OREGON, tz="America/Los_Angeles", feeds={"nws_alerts": {}})
    env = clean_env(REDIS_URL=redis_server.url, OPSCENTRE_CONFIG=str(tmp_path / "city.yaml"))
    result = opscentre("ingest", "nws_alerts", str(FIXTURE), "--as-of", "2019-12-20T21:40:00Z", env=env)
    assert result.returncode == 0, result.stderr
    assert "nws_alerts: 1 items stored, 0 rejected" in result.stdout
    assert [e["event_id"] for e in Store(redis_client).events("warning")] == [ALERT_ID]
    late = opscentre("ingest", "nws_alerts", str(FIXTURE), "--as-of", "2019-12-23T00:00:00Z", env=env)
    assert late.returncode == 0 and "already over" in late.stdout
