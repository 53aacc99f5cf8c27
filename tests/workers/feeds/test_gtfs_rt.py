"""The GTFS-realtime feed: vehicle positions, service alerts and trip delays.

Fixtures: `tests/fixtures/gtfs_rt/caltrain_vehicle_positions.pb` (a real Caltrain VehiclePositions
FeedMessage, 14 vehicles, header timestamp 1699405559 = 2023-11-08 01:05:59 UTC) and its
proto3-JSON rendering `.pb.json`, both copied byte for byte from interline-io/transitland-lib
`testdata/rt/ct-vehicle-positions.pb[.json]` @ 473c18c0 (via /work/shared/fixtures/gtfs_rt).
No real ServiceAlerts or TripUpdates payload was found, so those messages are **built in the
tests with gtfs-realtime-bindings** (`alerts_message`, `trip_updates_message` below).
The city is a grid over the Caltrain corridor (San Francisco - San José).
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime, timezone

import orjson
import pytest
from google.transit import gtfs_realtime_pb2 as rt

from opscentre.core.errors import FetchError, ParseError
from opscentre.core.store import Store
from opscentre.core.validate import validate
from opscentre.dashboard.city_reading import read_city_data
from opscentre.layers import LAYERS
from opscentre.workers import jobs
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.gtfs_rt import BUNDLE_KEY, GtfsRtOptions, fetch, parse

from tests.cli_helpers import clean_env, opscentre
from tests.conftest import FIXTURES
from tests.workers.feeds.city_config import grid_city
from tests.workers.feeds.local_http import send, serving

FIXTURE = FIXTURES / "gtfs_rt" / "caltrain_vehicle_positions.pb"
FIXTURE_JSON = FIXTURES / "gtfs_rt" / "caltrain_vehicle_positions.pb.json"
HEADER_TS = 1699405559
VEHICLE_TS = 1699405549
CALTRAIN_BBOX = (-122.5, 37.2, -121.7, 37.85)
JUST_AFTER = datetime.fromtimestamp(HEADER_TS + 60, timezone.utc)


@pytest.fixture
def city(tmp_path):
    return grid_city(tmp_path / "city", bbox=CALTRAIN_BBOX, tz="America/Los_Angeles",
                     feeds={"gtfs_rt": {"options": {"vehicle_positions_url": "http://127.0.0.1:1/vp"}}})


@pytest.fixture
def ctx(city):
    return FeedContext("gtfs_rt", GtfsRtOptions(), city, JUST_AFTER)


def message(timestamp: int = HEADER_TS) -> rt.FeedMessage:
    feed = rt.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.incrementality = rt.FeedHeader.FULL_DATASET
    feed.header.timestamp = timestamp
    return feed


def add_vehicle(feed, entity_id, lat=37.6, lon=-122.3, vehicle_id=None, route="L1", **extra):
    entity = feed.entity.add(id=entity_id)
    vp = entity.vehicle
    if vehicle_id is not None:
        vp.vehicle.id = vehicle_id
    vp.trip.route_id = route
    vp.trip.trip_id = f"trip-{entity_id}"
    if lat is not None:
        vp.position.latitude, vp.position.longitude = lat, lon
    vp.timestamp = extra.pop("timestamp", VEHICLE_TS)
    for name, value in extra.items():
        setattr(vp, name, value)
    return entity


def alerts_message() -> rt.FeedMessage:
    """Two service alerts built with the bindings (no real ServiceAlerts fixture was found)."""
    feed = message()
    detour = feed.entity.add(id="a1").alert
    detour.cause = rt.Alert.CONSTRUCTION
    detour.effect = rt.Alert.DETOUR
    detour.severity_level = rt.Alert.WARNING
    detour.header_text.translation.add(text="Desvio na linha L1", language="pt")
    detour.header_text.translation.add(text="L1 detour", language="en")
    detour.description_text.translation.add(text="Buses replace trains between Millbrae and SFO.", language="en")
    detour.url.translation.add(text="https://example.org/alerts/a1")
    detour.informed_entity.add(route_id="L1")
    detour.informed_entity.add(stop_id="70011")
    detour.informed_entity.add(agency_id="CT", route_id="L3")
    detour.active_period.add(start=HEADER_TS - 3600, end=HEADER_TS + 7200)
    detour.active_period.add(start=HEADER_TS + 86400, end=HEADER_TS + 90000)
    strike = feed.entity.add(id="a2").alert
    strike.effect = rt.Alert.NO_SERVICE
    strike.active_period.add(start=HEADER_TS - 60)  # open ended
    return feed


def trip_updates_message() -> rt.FeedMessage:
    """Trip updates built with the bindings: delays on L1 and B7, and every kind of bad trip."""
    feed = message()

    def trip(entity_id, route, delay=None, stop_delay=None, **trip_fields):
        update = feed.entity.add(id=entity_id).trip_update
        update.trip.trip_id = entity_id
        if route:
            update.trip.route_id = route
        for name, value in trip_fields.items():
            setattr(update.trip, name, value)
        if delay is not None:
            update.delay = delay
        if stop_delay is not None:
            stop = update.stop_time_update.add(stop_sequence=3)
            stop.arrival.delay = stop_delay
            update.stop_time_update.add(stop_sequence=4).arrival.delay = stop_delay + 999  # a later stop: not current
        update.timestamp = HEADER_TS - 5
        return update

    trip("t1", "L1", delay=120)
    trip("t2", "L1", stop_delay=240)
    trip("t3", "B7", delay=-30)
    trip("t4", None, delay=60)  # no route
    trip("t5", "L1").stop_time_update.add(stop_sequence=1).arrival.time = HEADER_TS + 300  # times only
    trip("t6", "L1", delay=900, schedule_relationship=rt.TripDescriptor.CANCELED)
    trip("t1", "L1", delay=5000)  # the same trip again
    return feed


def by_id(events):
    return {e.event_id: e for e in events}


# ---- vehicle positions on the real fixture ---------------------------------------------------


def test_the_caltrain_fixture_gives_14_vehicles_with_positions_and_routes(ctx):
    result = parse(FIXTURE.read_bytes(), ctx)
    assert result.rejected == [] and result.batches == []
    vehicles = by_id(result.events)
    assert len(vehicles) == 14
    assert all(e.category == "vehicle" and e.event_type == "vehicle" and e.source == "gtfs_rt" for e in result.events)
    v124 = vehicles["gtfs:vehicle:124"]
    assert v124.geometry == {"type": "Point", "coordinates": [-121.99604, 37.37046]}
    assert v124.properties["route_id"] == "L1" and v124.properties["trip_id"] == "124"
    assert v124.properties["direction_id"] == 1 and v124.properties["label"] is None
    assert v124.observed_at == VEHICLE_TS and v124.ends_at is None  # ended by the next snapshot
    assert v124.title == "Route L1 · vehicle 124"
    routes = {e.properties["route_id"] for e in result.events}
    assert routes == {"L1", "L3", "L4", "B7"}


def test_the_json_rendering_parses_to_the_same_vehicles(ctx):
    binary = parse(FIXTURE.read_bytes(), ctx).events
    rendered = parse(FIXTURE_JSON.read_bytes(), ctx).events
    assert [e.model_dump() for e in rendered] == [e.model_dump() for e in binary]


def test_vehicle_details_are_kept(ctx):
    feed = message()
    entity = add_vehicle(feed, "e1", vehicle_id="v1", current_status=rt.VehiclePosition.STOPPED_AT, stop_id="70021",
                         occupancy_status=rt.VehiclePosition.FEW_SEATS_AVAILABLE)
    entity.vehicle.vehicle.label = "Bullet 1"
    entity.vehicle.position.bearing = 135.5
    entity.vehicle.position.speed = 22.25
    (event,) = parse(feed.SerializeToString(), ctx).events
    assert event.event_id == "gtfs:vehicle:v1"
    assert event.properties | {} == {
        "route_id": "L1", "trip_id": "trip-e1", "direction_id": None, "vehicle_id": "v1", "label": "Bullet 1",
        "bearing": 135.5, "speed_ms": 22.25, "current_status": "STOPPED_AT", "stop_id": "70021",
        "occupancy": "FEW_SEATS_AVAILABLE"}
    assert event.title == "Route L1 · vehicle Bullet 1"


def test_a_vehicle_without_vehicle_id_takes_its_entity_id_and_one_without_either_is_rejected(ctx):
    feed = message()
    add_vehicle(feed, "entity-7")
    add_vehicle(feed, "")
    result = parse(feed.SerializeToString(), ctx)
    assert [e.event_id for e in result.events] == ["gtfs:vehicle:entity-7"]
    assert [r.reason for r in result.rejected] == ["vehicle has no vehicle id and no entity id"]


def test_vehicles_without_position_outside_the_city_or_swapped_are_rejected_with_reasons(ctx):
    feed = message()
    add_vehicle(feed, "ok")
    add_vehicle(feed, "nopos", lat=None)
    add_vehicle(feed, "nyc", lat=40.75, lon=-73.99)
    add_vehicle(feed, "swapped", lat=-122.3, lon=37.6)
    add_vehicle(feed, "zero", lat=0.0, lon=0.0)
    result = parse(feed.SerializeToString(), ctx)
    assert [e.event_id for e in result.events] == ["gtfs:vehicle:ok"]
    reasons = {r.entity_id: r.reason for r in result.rejected}
    assert reasons["gtfs:vehicle:nopos"] == "vehicle has no position"
    assert "outside the city" in reasons["gtfs:vehicle:nyc"]
    assert "swapped" in reasons["gtfs:vehicle:swapped"]
    assert "outside the city" in reasons["gtfs:vehicle:zero"]
    assert all(r.kind == "event:vehicle" for r in result.rejected)


def test_a_vehicle_that_stopped_reporting_is_rejected_with_its_age(ctx):
    feed = message()
    add_vehicle(feed, "old", timestamp=int(JUST_AFTER.timestamp()) - 1200)
    add_vehicle(feed, "new")
    result = parse(feed.SerializeToString(), ctx)
    assert [e.event_id for e in result.events] == ["gtfs:vehicle:new"]
    assert result.rejected[0].reason == ("position is 20 min old (vehicle_max_age_s 900): "
                                         "the vehicle has stopped reporting")


def test_a_vehicle_listed_twice_is_kept_once_newest_first(ctx):
    feed = message()
    add_vehicle(feed, "a", vehicle_id="v1", lat=37.5, timestamp=VEHICLE_TS - 30)
    add_vehicle(feed, "b", vehicle_id="v1", lat=37.6, timestamp=VEHICLE_TS)
    clean = validate(parse(feed.SerializeToString(), ctx), now=JUST_AFTER.timestamp())
    (event,) = clean.events
    assert event.geometry["coordinates"][1] == 37.6
    assert [r.reason for r in clean.rejected] == ["duplicate event id in the same payload (older copy dropped)"]


def test_without_timestamps_a_vehicle_takes_the_header_time_then_the_poll_time(ctx):
    feed = message(timestamp=0)
    add_vehicle(feed, "x", timestamp=0)
    (event,) = parse(feed.SerializeToString(), ctx).events
    assert event.observed_at == JUST_AFTER.timestamp()
    feed = message()
    add_vehicle(feed, "x", timestamp=0)
    (event,) = parse(feed.SerializeToString(), ctx).events
    assert event.observed_at == HEADER_TS


# ---- service alerts and trip updates (built with the bindings) -------------------------------


def test_service_alerts_become_transit_events(ctx):
    result = parse(alerts_message().SerializeToString(), replace(ctx, options=GtfsRtOptions(language="en")))
    alerts = by_id(result.events)
    detour = alerts["gtfs:alert:a1"]
    assert detour.category == "transit" and detour.event_type == "DETOUR"
    assert detour.title == "L1 detour" and detour.severity == "moderate"
    assert detour.geometry is None
    assert detour.starts_at == HEADER_TS - 3600 and detour.ends_at == HEADER_TS + 90000
    assert detour.observed_at == HEADER_TS
    props = detour.properties
    assert props["cause"] == "CONSTRUCTION" and props["effect"] == "DETOUR" and props["severity_level"] == "WARNING"
    assert props["routes"] == ["L1", "L3"] and props["stops"] == ["70011"] and props["agencies"] == ["CT"]
    assert props["description"] == "Buses replace trains between Millbrae and SFO."
    assert props["url"] == "https://example.org/alerts/a1"
    strike = alerts["gtfs:alert:a2"]
    assert strike.event_type == "NO_SERVICE" and strike.title == "No service"  # no header text: the effect
    assert strike.ends_at is None and strike.properties["cause"] == "UNKNOWN_CAUSE"


def test_alert_title_falls_back_to_the_first_translation(ctx):
    result = parse(alerts_message().SerializeToString(), replace(ctx, options=GtfsRtOptions(language="de")))
    assert by_id(result.events)["gtfs:alert:a1"].title == "Desvio na linha L1"


def test_an_unknown_enum_value_reads_as_unknown(ctx):
    feed = message()
    alert = feed.entity.add(id="odd").alert
    alert.header_text.translation.add(text="Something new")
    # effect = 99, a value this version of the spec does not define (field 7, varint).
    raw = alert.SerializeToString() + bytes([7 << 3, 99])
    alert.Clear()
    alert.MergeFromString(raw)
    (event,) = parse(feed.SerializeToString(), ctx).events
    assert event.event_type == "UNKNOWN_EFFECT" and event.title == "Something new"


def test_trip_updates_give_the_mean_delay_per_route_and_reject_what_they_cannot_use(ctx):
    result = parse(trip_updates_message().SerializeToString(), ctx)
    (batch,) = result.batches
    assert batch.kind == "transit_delay_s"
    delays = dict(zip(batch.entity_ids, batch.values))
    assert delays == {"gtfs:route:B7": -30.0, "gtfs:route:L1": 180.0}  # mean of 120 and the next stop's 240
    assert set(batch.observed_at) == {HEADER_TS - 5}
    routes = {e.entity_id: e for e in result.entities}
    assert routes["gtfs:route:L1"].entity_type == "transit_route" and routes["gtfs:route:L1"].geometry is None
    reasons = sorted(r.reason for r in result.rejected)
    assert len(reasons) == 4
    assert any("no route_id" in r for r in reasons)
    assert any("t5 has no delay" in r for r in reasons)
    assert any("t6 is cancelled" in r for r in reasons)
    assert any("t1 appears twice" in r for r in reasons)


def test_trip_delays_can_be_aggregated_by_max(ctx):
    by_max = replace(ctx, options=GtfsRtOptions(delay_aggregate="max"))
    result = parse(trip_updates_message().SerializeToString(), by_max)
    assert dict(zip(result.batches[0].entity_ids, result.batches[0].values))["gtfs:route:L1"] == 240.0


def test_a_bundle_of_three_feeds_is_read_whole(ctx):
    parts = {"vehicle_positions": FIXTURE.read_bytes(), "service_alerts": alerts_message().SerializeToString(),
             "trip_updates": trip_updates_message().SerializeToString()}
    bundle = orjson.dumps({BUNDLE_KEY: 1, "parts": {k: base64.b64encode(v).decode() for k, v in parts.items()}})
    result = parse(bundle, ctx)
    categories = [e.category for e in result.events]
    assert categories.count("vehicle") == 14 and categories.count("transit") == 2
    assert result.observation_count == 2


def test_an_entity_with_nothing_readable_is_rejected(ctx):
    feed = message()
    feed.entity.add(id="shape-1")
    add_vehicle(feed, "ok")
    result = parse(feed.SerializeToString(), ctx)
    assert len(result.events) == 1
    (rejection,) = result.rejected
    assert rejection.entity_id == "gtfs:entity:shape-1" and "no vehicle, alert or trip update" in rejection.reason


# ---- payloads that cannot be read -------------------------------------------------------------


def _without_header() -> bytes:
    feed = rt.FeedMessage()
    feed.entity.add(id="x").vehicle.position.latitude = 1
    return feed.SerializePartialToString()


def _differential() -> bytes:
    feed = message()
    feed.header.incrementality = rt.FeedHeader.DIFFERENTIAL
    return feed.SerializeToString()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b" \n ", "empty"),
        (b"<!DOCTYPE html><html><body>Service unavailable</body></html>", "HTML"),
        (b"\n<html><body>502</body></html>", "HTML"),
        (FIXTURE.read_bytes()[:400], "not a protobuf FeedMessage"),
        (b"hello, world", "not a protobuf FeedMessage"),
        (b'{"vehicles": []}', "neither a FeedMessage rendering nor a bundle"),
        (b'{"header": {"gtfsRealtimeVersion": "2.0"}, "entity": [{"id": ', "truncated"),
        (b'{"header": {"gtfsRealtimeVersion": "2.0"}, "entity": "lots"}', "does not match FeedMessage"),
        (orjson.dumps({BUNDLE_KEY: 1, "parts": {"vehicle_positions": "!!not base64!!"}}), "not base64"),
        (orjson.dumps({BUNDLE_KEY: 1, "parts": {}}), "no 'parts'"),
        (orjson.dumps({BUNDLE_KEY: 1, "parts": {"vehicle_positions": ""}}), "is empty"),
        (_without_header(), "no header"),
        (_differential(), "DIFFERENTIAL"),
    ],
)
def test_a_payload_that_is_not_gtfs_realtime_is_a_parse_error(ctx, payload, reason):
    with pytest.raises(ParseError, match=reason):
        parse(payload, ctx)


def test_one_bad_part_refuses_the_whole_bundle(ctx):
    bundle = orjson.dumps({BUNDLE_KEY: 1, "parts": {
        "vehicle_positions": base64.b64encode(FIXTURE.read_bytes()).decode(),
        "service_alerts": base64.b64encode(b"<html>oops</html>").decode()}})
    with pytest.raises(ParseError, match="part 'service_alerts'"):
        parse(bundle, ctx)


# ---- options and fetch ------------------------------------------------------------------------


def test_the_options_are_validated_and_checked(city):
    assert GtfsRtOptions().urls() == {}
    with pytest.raises(ValueError):
        GtfsRtOptions(vehicle_positions_url="ftp://example.org/vp")
    with pytest.raises(ValueError):
        GtfsRtOptions(surprise=1)
    assert "set at least one" in GtfsRtOptions().check(city)[0]
    assert GtfsRtOptions(trip_updates_url="https://example.org/tu").check(city) == []
    url = "https://x.org/tu"
    assert "neither api_key_header" in GtfsRtOptions(trip_updates_url=url, api_key_env="K").check(city)[0]
    assert "api_key_env must name" in GtfsRtOptions(trip_updates_url=url, api_key_header="x-api-key").check(city)[0]


def test_a_config_without_any_url_is_refused(tmp_path):
    from opscentre.core.errors import ConfigError

    with pytest.raises(ConfigError, match="set at least one of vehicle_positions_url"):
        grid_city(tmp_path, bbox=CALTRAIN_BBOX, tz="America/Los_Angeles", feeds={"gtfs_rt": {"options": {}}})


def test_fetch_bundles_every_url_and_sends_the_key_in_its_header(city, monkeypatch):
    bodies = {"/vp": FIXTURE.read_bytes(), "/alerts": alerts_message().SerializeToString()}
    monkeypatch.setenv("TEST_GTFS_KEY", "s3cret")
    with serving(lambda n, h: send(h, 200, bodies[h.path.split("?")[0]])) as server:
        options = GtfsRtOptions(vehicle_positions_url=server.url + "/vp", service_alerts_url=server.url + "/alerts",
                                api_key_env="TEST_GTFS_KEY", api_key_header="x-api-key")
        payload = fetch(FeedContext("gtfs_rt", options, city, JUST_AFTER))
    assert sorted(server.paths) == ["/alerts", "/vp"]
    assert all(h.get("x-api-key") == "s3cret" for h in server.headers)
    document = orjson.loads(payload)
    assert base64.b64decode(document["parts"]["vehicle_positions"]) == FIXTURE.read_bytes()
    result = parse(payload, FeedContext("gtfs_rt", options, city, JUST_AFTER))
    assert len(result.events) == 16


def test_a_single_url_is_fetched_as_is_and_a_key_may_go_in_the_query(city, monkeypatch):
    monkeypatch.setenv("TEST_GTFS_KEY", "k1")
    with serving(lambda n, h: send(h, 200, FIXTURE.read_bytes())) as server:
        options = GtfsRtOptions(vehicle_positions_url=server.url + "/vp", api_key_env="TEST_GTFS_KEY",
                                api_key_query_param="api_key")
        assert fetch(FeedContext("gtfs_rt", options, city, JUST_AFTER)) == FIXTURE.read_bytes()
    assert server.paths == ["/vp?api_key=k1"]


def test_a_missing_key_or_url_fails_the_fetch_as_a_config_problem(city, monkeypatch):
    monkeypatch.delenv("TEST_GTFS_KEY", raising=False)
    options = GtfsRtOptions(vehicle_positions_url="http://127.0.0.1:1/vp", api_key_env="TEST_GTFS_KEY",
                            api_key_header="x-api-key")
    with pytest.raises(FetchError, match=r"no API key: set \$TEST_GTFS_KEY") as error:
        fetch(FeedContext("gtfs_rt", options, city, JUST_AFTER))
    assert error.value.kind == "config"
    with pytest.raises(FetchError, match="no URL configured"):
        fetch(FeedContext("gtfs_rt", GtfsRtOptions(), city, JUST_AFTER))


def test_a_failing_part_fails_the_whole_fetch(city):
    def respond(n, handler):
        if handler.path == "/alerts":
            send(handler, 404, b"not found")
        else:
            send(handler, 200, FIXTURE.read_bytes())

    with serving(respond) as server:
        options = GtfsRtOptions(vehicle_positions_url=server.url + "/vp", service_alerts_url=server.url + "/alerts")
        with pytest.raises(FetchError, match="HTTP 404"):
            fetch(FeedContext("gtfs_rt", options, city, JUST_AFTER))


# ---- end to end -------------------------------------------------------------------------------


def _fresh_fixture(now: float, drop: int = 0) -> bytes:
    """The fixture with its timestamps moved to just before `now` (and its last `drop` vehicles removed)."""
    feed = rt.FeedMessage()
    feed.ParseFromString(FIXTURE.read_bytes())
    feed.header.timestamp = int(now) - 5
    for entity in feed.entity:
        entity.vehicle.timestamp = int(now) - 15
    for _ in range(drop):
        del feed.entity[-1]
    return feed.SerializeToString()


def test_a_poll_stores_the_vehicles_with_zones_and_the_next_snapshot_ends_the_missing(tmp_path, redis_client):
    import time

    bodies = [_fresh_fixture(time.time()), _fresh_fixture(time.time(), drop=4)]
    with serving(lambda n, h: send(h, 200, bodies[min(n, 2) - 1])) as server:
        settings = grid_city(tmp_path, bbox=CALTRAIN_BBOX, tz="America/Los_Angeles",
                             feeds={"gtfs_rt": {"options": {"vehicle_positions_url": server.url + "/vp"}}})
        store = Store(redis_client)
        assert jobs.poll_feed("gtfs_rt", settings, store) == {"feed": "gtfs_rt", "stored": 14, "rejected": 0}
        vehicles = store.events("vehicle", now=time.time())
        assert len(vehicles) == 14 and all(v["zone_ids"] for v in vehicles)
        assert store.feed_health("gtfs_rt")["status"] == "ok"
        on_map = LAYERS["transit"].features(read_city_data(store, settings))
        assert sorted(f["properties"]["route_id"] for f in on_map).count("L1") == 4 and len(on_map) == 14
        assert jobs.poll_feed("gtfs_rt", settings, store)["stored"] == 10
    assert len(store.events("vehicle", now=time.time())) == 10
    assert "gtfs_rt" in FEEDS and FEEDS["gtfs_rt"].events_snapshot


def test_a_poll_of_a_maintenance_page_keeps_the_last_vehicles(tmp_path, redis_client):
    import time

    bodies = [_fresh_fixture(time.time()), b"<html><body>Down for maintenance</body></html>"]
    with serving(lambda n, h: send(h, 200, bodies[min(n, 2) - 1])) as server:
        settings = grid_city(tmp_path, bbox=CALTRAIN_BBOX, tz="America/Los_Angeles",
                             feeds={"gtfs_rt": {"options": {"vehicle_positions_url": server.url + "/vp"}}})
        store = Store(redis_client)
        jobs.poll_feed("gtfs_rt", settings, store)
        assert jobs.poll_feed("gtfs_rt", settings, store)["failed"]
    health = store.feed_health("gtfs_rt")
    assert health["status"] == "failing" and "HTML" in health["last_error"]
    assert len(store.events("vehicle", now=time.time())) == 14


def test_the_cli_ingests_the_recorded_protobuf(tmp_path, redis_client, redis_server):
    settings = grid_city(tmp_path, bbox=CALTRAIN_BBOX, tz="America/Los_Angeles",
                         feeds={"gtfs_rt": {"options": {"vehicle_positions_url": "http://127.0.0.1:1/vp"}}})
    env = clean_env(REDIS_URL=redis_server.url, OPSCENTRE_CONFIG=str(settings.source_path))
    result = opscentre("ingest", "gtfs_rt", str(FIXTURE), "--as-of", "2023-11-08T01:07:00Z", env=env)
    assert result.returncode == 0, result.stderr
    assert "gtfs_rt: 14 items stored, 0 rejected" in result.stdout
    assert len(LAYERS["transit"].features(read_city_data(Store(redis_client), settings))) == 14  # on the map
    bad = tmp_path / "page.pb"
    bad.write_bytes(b"<html>502 Bad Gateway</html>")
    result = opscentre("ingest", "gtfs_rt", str(bad), env=env)
    assert result.returncode == 1 and "HTML" in result.stderr
