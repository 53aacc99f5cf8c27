"""The Waze for Cities (CCP) feed: parse on a real feed, bad inputs, fetch, a poll end to end.

Fixture: `tests/fixtures/waze/nyc_waze_ccp_feed_2019-03-22_truncated.json`, copied from the
shared fixtures (`waze/`), itself from timkeane/nyc-lib `examples/data/waze.json` (commit
5dc865bf): a real CCP partner feed for the New York area, 2019-03-22 21:38-21:39 UTC, with its
top-level lists cut to the first 150 alerts, 120 jams and 15 irregularities (original bytes).
The city in these tests is a 4x4 grid of zones over New York (tests/workers/feeds/city_config.py).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from shapely.geometry import LineString, shape

from opscentre.core import keys
from opscentre.core.errors import FetchError, ParseError
from opscentre.core.store import Store
from opscentre.workers import jobs
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.waze import JAM_SEVERITY, WazeOptions, fetch, parse

from tests.cli_helpers import clean_env, opscentre
from tests.conftest import FIXTURES
from tests.workers.feeds.city_config import grid_city
from tests.workers.feeds.local_http import send, serving

FIXTURE = FIXTURES / "waze" / "nyc_waze_ccp_feed_2019-03-22_truncated.json"
NYC = (-74.3, 40.5, -73.7, 40.95)
FIXTURE_END = datetime(2019, 3, 22, 21, 39, tzinfo=timezone.utc)  # its endTimeMillis
JUST_AFTER = FIXTURE_END + timedelta(minutes=5)  # its jams were published up to ~2 min after endTime


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return grid_city(tmp_path_factory.mktemp("nyc"), bbox=NYC, tz="America/New_York",
                     feeds={"waze": {"options": {"url": "http://127.0.0.1:9/feed"}}})


@pytest.fixture
def ctx(settings):
    return FeedContext("waze", WazeOptions(), settings, JUST_AFTER)


@pytest.fixture(scope="module")
def document():
    return orjson.loads(FIXTURE.read_bytes())


def feed(jams=(), alerts=(), **extra) -> bytes:
    return orjson.dumps({"startTimeMillis": 1553290680000, "endTimeMillis": 1553290740000,
                         "startTime": "2019-03-22 21:38:00:000", "endTime": "2019-03-22 21:39:00:000",
                         "jams": list(jams), "alerts": list(alerts), **extra})


def jam(uuid=1, line=((-73.95, 40.65), (-73.94, 40.66)), level=3, **fields):
    return {"uuid": uuid, "id": uuid, "level": level, "line": [{"x": x, "y": y} for x, y in line], "speed": 5.0,
            "speedKMH": 18.0, "delay": 60, "length": 1200, "street": "Flatbush Ave", "city": "Brooklyn, NY",
            "roadType": 2, "turnType": "NONE", "type": "NONE", "pubMillis": 1553290700000, **fields}


def alert(uuid="a-1", x=-73.95, y=40.65, type_="ACCIDENT", **fields):
    return {"uuid": uuid, "type": type_, "subtype": "", "location": {"x": x, "y": y}, "reliability": 7,
            "confidence": 1, "nThumbsUp": 2, "reportRating": 3, "street": "Atlantic Ave",
            "pubMillis": 1553290600000, **fields}


def by_id(result):
    return {e.event_id: e for e in result.events}


def jam_km(result):
    (batch,) = result.batches
    assert batch.kind == "jam_km"
    return dict(zip(batch.entity_ids, batch.values))


def reasons(result):
    return {r.entity_id: r.reason for r in result.rejected}


# ---- the fixture ------------------------------------------------------------------------


def test_the_fixture_gives_every_jam_and_alert_as_a_traffic_event(ctx, document):
    result = parse(FIXTURE.read_bytes(), ctx)
    assert result.rejected == []
    events = by_id(result)
    assert len(events) == 120 + 150
    assert all(e.category == "traffic" and e.source == "waze" for e in events.values())
    jams = [e for e in events.values() if e.event_id.startswith("waze:jam:")]
    alerts = [e for e in events.values() if e.event_id.startswith("waze:alert:")]
    assert len(jams) == 120 and len(alerts) == 150
    assert {e.event_type for e in jams} == {"JAM"}
    assert {e.geometry["type"] for e in jams} == {"LineString"}
    assert {e.geometry["type"] for e in alerts} == {"Point"}
    types = {}
    for e in alerts:
        types[e.event_type] = types.get(e.event_type, 0) + 1
    assert types == {"ROAD_CLOSED": 56, "WEATHERHAZARD": 54, "JAM": 39, "ACCIDENT": 1}
    assert len(document["irregularities"]) == 15  # present in the feed, not supported: ignored
    assert not any("irregular" in e.event_id for e in events.values())


def test_a_jam_keeps_its_line_level_speed_delay_and_street(ctx, document):
    events = by_id(parse(FIXTURE.read_bytes(), ctx))
    source = document["jams"][0]
    fayette = events["waze:jam:411005085"]
    assert fayette.geometry["coordinates"] == [[p["x"], p["y"]] for p in source["line"]]
    assert len(fayette.geometry["coordinates"]) == 9
    props = fayette.properties
    assert (props["level"], props["speedKMH"], props["delay"], props["length"]) == (3, 12.65, 128, 755)
    assert props["speed"] == pytest.approx(3.5139, abs=1e-4)  # m/s; 12.65 km/h
    assert (props["street"], props["city"], props["roadType"], props["turnType"]) == (
        "Fayette St", "Perth Amboy, NJ", 2, "NONE")
    assert props["blocked"] is False and props["level_label"] == "heavy"
    assert fayette.severity == "moderate"
    assert fayette.observed_at == 1553290846.053
    assert "Fayette St" in fayette.title


def test_a_delay_of_minus_one_is_a_blocked_road_and_level_5_is_severe(ctx):
    events = by_id(parse(FIXTURE.read_bytes(), ctx))
    goethals = events["waze:jam:380778814"]
    assert goethals.properties["delay"] == -1 and goethals.properties["blocked"] is True
    assert goethals.properties["level"] == 5 and goethals.severity == "severe"
    assert goethals.properties["blockingAlertUuid"] == "8ba3e31b-3928-3e0a-b6f5-a371bab8a479"


def test_jam_severity_follows_the_level():
    assert [JAM_SEVERITY[level] for level in range(6)] == [
        "minor", "minor", "minor", "moderate", "moderate", "severe"]


def test_an_alert_keeps_its_point_type_subtype_and_reliability(ctx):
    events = by_id(parse(FIXTURE.read_bytes(), ctx))
    hazard = events["waze:alert:03769afc-d16d-376a-b5ed-628ade6beedf"]
    assert hazard.geometry == {"type": "Point", "coordinates": [-74.183931, 40.605333]}
    assert hazard.event_type == "WEATHERHAZARD"
    props = hazard.properties
    assert props["subtype"] == "HAZARD_ON_SHOULDER_CAR_STOPPED"
    assert (props["reliability"], props["confidence"], props["nThumbsUp"], props["reportRating"]) == (6, 0, 0, 3)
    assert props["type_known"] is True
    assert hazard.observed_at == 1553289137.19
    assert hazard.severity == "minor"
    accident = next(e for e in events.values() if e.event_type == "ACCIDENT")
    assert accident.severity == "moderate"
    standstill = next(e for e in events.values() if e.properties.get("subtype") == "JAM_STAND_STILL_TRAFFIC")
    assert standstill.severity == "moderate"


def test_old_road_closures_are_kept_with_their_own_publication_time(ctx):
    # Long-running closures and construction were published months or years before the snapshot.
    events = parse(FIXTURE.read_bytes(), ctx).events
    oldest = min(events, key=lambda e: e.observed_at)
    assert datetime.fromtimestamp(oldest.observed_at, timezone.utc).year == 2009


def test_jam_km_per_zone_counts_each_jam_in_the_zone_of_its_midpoint(ctx, settings, document):
    result = parse(FIXTURE.read_bytes(), ctx)
    values = jam_km(result)
    assert len(values) == 16 + 1  # every zone, each poll, and the city
    expected = dict.fromkeys(settings.zones.ids, 0.0)
    for item in document["jams"]:
        middle = LineString([(p["x"], p["y"]) for p in item["line"]]).interpolate(0.5, normalized=True)
        zone = next(z for z, g in zip(settings.zones.ids, settings.zones.geometries) if g.covers(middle))
        expected[zone] += item["length"] / 1000
    for zone_id, km in expected.items():
        assert values[f"waze:zone:{zone_id}"] == pytest.approx(km, abs=1e-3)
    assert values["waze:city"] == pytest.approx(sum(j["length"] for j in document["jams"]) / 1000)
    assert values["waze:city"] == pytest.approx(56.577)
    assert sum(v for k, v in values.items() if k != "waze:city") == pytest.approx(values["waze:city"])
    assert sum(1 for k, v in values.items() if k != "waze:city" and v == 0) >= 10  # the empty zones say 0
    (batch,) = result.batches
    assert set(batch.observed_at) == {FIXTURE_END.timestamp()}


def test_zone_and_city_entities(ctx, settings):
    entities = {e.entity_id: e for e in parse(FIXTURE.read_bytes(), ctx).entities}
    zone = entities["waze:zone:z1-2"]
    assert zone.entity_type == "zone" and zone.zone_id == "z1-2" and zone.geometry["type"] == "Point"
    assert settings.zones.geometries[settings.zones.ids.index("z1-2")].contains(shape(zone.geometry))
    city = entities["waze:city"]
    assert city.entity_type == "city" and city.geometry is None and city.zone_id is None


def test_a_cleared_jam_brings_its_zone_back_to_zero(ctx, settings):
    zone_id = settings.zones.assign([(-73.945, 40.655)])[0]
    assert jam_km(parse(feed([jam()]), ctx))[f"waze:zone:{zone_id}"] == 1.2
    empty = jam_km(parse(feed(), ctx))
    assert set(empty.values()) == {0.0} and len(empty) == 17


# ---- format variants and bad inputs -----------------------------------------------------


def test_lists_left_out_mean_none_and_a_missing_end_time_millis_falls_back_on_end_time(ctx):
    result = parse(orjson.dumps({"endTime": "2019-03-22 21:39:00:000", "alerts": [alert()]}), ctx)
    assert len(result.events) == 1 and result.rejected == []
    assert set(result.batches[0].observed_at) == {FIXTURE_END.timestamp()}


def test_a_missing_pub_millis_takes_the_snapshot_time(ctx):
    item = alert()
    del item["pubMillis"]
    (event,) = parse(feed(alerts=[item]), ctx).events
    assert event.observed_at == FIXTURE_END.timestamp()


def test_a_missing_length_is_measured_along_the_line(ctx):
    item = jam(line=((-73.95, 40.65), (-73.95, 40.66)))
    del item["length"]
    (event,) = parse(feed([item]), ctx).events
    assert event.properties["length_estimated"] is True
    assert event.properties["length"] == pytest.approx(1112, abs=2)  # 0.01° of latitude


def test_an_unknown_alert_type_is_kept_under_its_own_name_and_said_so(ctx):
    result = parse(feed(alerts=[alert("u1", type_="FLYING_SAUCER"), alert("u2", type_="accident")]), ctx)
    events = by_id(result)
    odd = events["waze:alert:u1"]
    assert odd.event_type == "FLYING_SAUCER" and odd.properties["type_known"] is False
    assert odd.severity == "unknown"
    assert events["waze:alert:u2"].event_type == "ACCIDENT"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"<html><body>502 Bad Gateway</body></html>", "HTML"),
        (b'{"endTimeMillis": 1553290740000, "jams": [{"uuid": 1, "li', "not JSON"),
        (b"[]", "JSON object"),
        (b"{}", "no snapshot time"),
        (b'{"error": "invalid token"}', "no snapshot time"),
        (b'{"endTimeMillis": 1553290740000, "jams": {"uuid": 1}}', "'jams' must be a list"),
        (b'{"endTimeMillis": "soon", "alerts": []}', "no snapshot time"),
    ],
)
def test_a_payload_that_is_not_a_waze_feed_is_a_parse_error(ctx, payload, reason):
    with pytest.raises(ParseError, match=reason):
        parse(payload, ctx)


def test_a_truncated_fixture_is_a_parse_error(ctx):
    body = FIXTURE.read_bytes()
    with pytest.raises(ParseError, match="not JSON"):
        parse(body[: len(body) // 2], ctx)


def test_bad_jams_are_rejected_with_reasons_and_the_rest_kept(ctx):
    jams = [
        jam(1),
        "junk",
        {**jam(2), "uuid": None, "id": None},
        {**jam(3), "line": None},
        jam(4, line=((-73.95, 40.65),)),
        jam(5, line=(("-73.95", 40.65), (-73.94, 40.66))),
        jam(6, level=7),
        jam(7, level="heavy"),
        jam(8, line=((40.65, -73.95), (40.66, -73.94))),  # x/y swapped
        jam(9, line=((2.35, 48.85), (2.36, 48.86))),  # Paris
        jam(1, street="again"),
        jam(10, line=((-74.9, 40.6), (-74.29, 40.6))),  # starts outside, ends in the city: kept
        jam(11, speed="fast", street=["not", "text"]),  # wrong types in optional fields: dropped
    ]
    result = parse(feed(jams), ctx)
    assert set(by_id(result)) == {"waze:jam:1", "waze:jam:10", "waze:jam:11"}
    assert by_id(result)["waze:jam:1"].properties["street"] == "Flatbush Ave"  # the first copy wins
    assert "street" not in by_id(result)["waze:jam:11"].properties
    why = reasons(result)
    assert len(result.rejected) == 10
    assert why["jams[1]"] == "jam is not an object"
    assert why["jams[2]"] == "jam has no uuid or id"
    assert "at least two {x, y} points" in why["waze:jam:3"]
    assert "at least two {x, y} points" in why["waze:jam:4"] and "at least two" in why["waze:jam:5"]
    assert "level 7 is not a Waze jam level 0-5" in why["waze:jam:6"]
    assert "'heavy'" in why["waze:jam:7"]
    assert "swapped" in why["waze:jam:8"]
    assert "outside the city" in why["waze:jam:9"]
    assert "listed twice" in why["waze:jam:1"]
    assert all(r.kind == "event:traffic" for r in result.rejected)
    # Jams 1 and 11 count once each (not the duplicate); jam 10's midpoint is in no zone: drawn, not counted.
    assert jam_km(result)["waze:city"] == pytest.approx(1.2 * 2)


def test_bad_alerts_are_rejected_with_reasons_and_the_rest_kept(ctx):
    alerts = [
        alert("ok"),
        alert("noloc", location=None),
        alert("swapped", x=40.65, y=-73.95),
        alert("far", x=-43.2, y=-22.9),
        {**alert("x"), "uuid": ""},
        alert("notype", type_=None),
        alert("ok", street="again"),
        7,
    ]
    result = parse(feed(alerts=alerts), ctx)
    assert set(by_id(result)) == {"waze:alert:ok"}
    why = reasons(result)
    assert "{x, y}" in why["waze:alert:noloc"]
    assert "swapped" in why["waze:alert:swapped"]
    assert "outside the city" in why["waze:alert:far"]
    assert why["alerts[4]"] == "alert has no uuid"
    assert why["waze:alert:notype"] == "alert has no type"
    assert "listed twice" in why["waze:alert:ok"]
    assert why["alerts[7]"] == "alert is not an object"


def test_the_options_are_validated():
    assert WazeOptions().url is None and WazeOptions().url_env == "WAZE_FEED_URL"
    assert WazeOptions().max_bytes == 20_000_000
    with pytest.raises(ValueError):
        WazeOptions(url="ftp://example.org/feed")
    with pytest.raises(ValueError):
        WazeOptions(url_env="not a name")
    with pytest.raises(ValueError):
        WazeOptions(token="abc")  # secrets never in the YAML


# ---- fetch ------------------------------------------------------------------------------


def test_without_a_url_the_poll_fails_naming_the_variable_to_set(ctx, monkeypatch):
    monkeypatch.delenv("WAZE_FEED_URL", raising=False)
    with pytest.raises(FetchError, match=r"set \$WAZE_FEED_URL") as info:
        fetch(ctx)
    assert info.value.kind == "config"


def test_the_url_from_the_environment_is_fetched_and_never_shown(settings, monkeypatch):
    with serving(lambda n, h: send(h, 404, b"no such partner")) as server:
        secret_url = f"{server.url}/partners/11111/waze-feeds/c5c19146-SECRET-feed?format=1"
        monkeypatch.setenv("WAZE_FEED_URL", secret_url)
        ctx = FeedContext("waze", WazeOptions(), settings, JUST_AFTER)
        with pytest.raises(FetchError) as info:
            fetch(ctx)
        assert server.paths == ["/partners/11111/waze-feeds/c5c19146-SECRET-feed?format=1"]
    message = str(info.value)
    assert "404" in message and "$WAZE_FEED_URL" in message
    assert "SECRET" not in message and "11111" not in message


def test_a_token_placeholder_is_filled_from_the_environment_and_hidden(settings, monkeypatch):
    monkeypatch.setenv("MY_WAZE_TOKEN", "tok-SECRET-42")
    with serving(lambda n, h: send(h, 403, b"forbidden")) as server:
        options = WazeOptions(url=server.url + "/feeds/{token}/json", token_env="MY_WAZE_TOKEN")
        with pytest.raises(FetchError) as info:
            fetch(FeedContext("waze", options, settings, JUST_AFTER))
        assert server.paths == ["/feeds/tok-SECRET-42/json"]
    assert "403" in str(info.value) and "SECRET" not in str(info.value) and "/feeds/***/json" in str(info.value)
    monkeypatch.delenv("MY_WAZE_TOKEN")
    with pytest.raises(FetchError, match=r"set \$MY_WAZE_TOKEN"):
        fetch(FeedContext("waze", options, settings, JUST_AFTER))


# ---- end to end -------------------------------------------------------------------------


def moved_to(document: dict, end: datetime) -> dict:
    """The fixture as if it had been published at `end`: every time moved by the same amount."""
    shift = round(end.timestamp() * 1000) - document["endTimeMillis"]
    moved = orjson.loads(orjson.dumps(document))
    for key in ("startTimeMillis", "endTimeMillis"):
        moved[key] += shift
    for key in ("startTime", "endTime"):
        at = datetime.fromtimestamp(moved[key + "Millis"] / 1000, timezone.utc)
        moved[key] = at.strftime("%Y-%m-%d %H:%M:%S:000")
    for item in (*moved["jams"], *moved["alerts"]):
        item["pubMillis"] += shift
    return moved


def test_a_poll_stores_events_with_zones_and_jam_km_and_the_next_snapshot_replaces_them(tmp_path, redis_client,
                                                                                         document):
    from opscentre.dashboard.city_reading import read_city_data
    from opscentre.layers import LAYERS

    assert "waze" in FEEDS and FEEDS["waze"].events_snapshot
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=3)
    first = orjson.dumps(moved_to(document, now))
    second = orjson.dumps({**moved_to(document, now), "jams": []})
    bodies = [first, second]
    with serving(lambda n, h: send(h, 200, bodies[min(n, 2) - 1])) as server:
        settings = grid_city(tmp_path, bbox=NYC, tz="America/New_York",
                             feeds={"waze": {"options": {"url": server.url + "/feed"}}})
        store = Store(redis_client)
        assert jobs.poll_feed("waze", settings, store) == {"feed": "waze", "stored": 270 + 17, "rejected": 0}
        events = store.events("traffic")
        assert len(events) == 270 and {e["source"] for e in events} == {"waze"}
        jams = [e for e in events if e["event_id"].startswith("waze:jam:")]
        assert sum(1 for e in jams if e["zone_ids"]) == 120  # every jam touches a zone of the grid
        latest = store.latest("jam_km")
        assert latest["waze:city"][0] == pytest.approx(56.577)
        assert latest["waze:city"][1] == pytest.approx(now.timestamp())
        assert store.entities()["waze:zone:z0-0"]["zone_id"] == "z0-0"
        assert store.feed_health("waze")["status"] == "ok"

        data = read_city_data(store, settings)
        kinds = [f["properties"].get("kind") for f in LAYERS["traffic"].features(data)]
        assert kinds.count("jam") == 120 and kinds.count("report") == 150

        assert jobs.poll_feed("waze", settings, store)["stored"] == 150 + 17  # the jams have cleared
        assert {e["event_id"].split(":")[1] for e in store.events("traffic")} == {"alert"}
        assert set(v for v, _, _ in store.latest("jam_km").values()) == {0.0}


def test_ingest_of_the_fixture_through_the_cli(tmp_path, redis_client, redis_server):
    grid_city(tmp_path, bbox=NYC, tz="America/New_York", feeds={"waze": {}})
    env = clean_env(REDIS_URL=redis_server.url, OPSCENTRE_CONFIG=str(tmp_path / "city.yaml"))
    result = opscentre("ingest", "waze", str(FIXTURE), "--as-of", "2019-03-22T21:44:00Z", env=env)
    assert result.returncode == 0, result.stderr
    assert "waze: 287 items stored, 0 rejected" in result.stdout
    state = orjson.loads(opscentre("state", "--json", env=env).stdout)
    city = next(o for o in state["observations"] if o["entity_id"] == "waze:city")
    assert (city["kind"], city["unit"], city["source"]) == ("jam_km", "km", "waze")
    assert math.isclose(city["value"], 56.577)
    assert state["feeds"]["waze"]["status"] == "ok"
    assert redis_client.hlen(keys.events("waze")) == 270

