"""The utility outage GeoJSON feed: parse on a real export, field mapping, bad inputs, a poll end to end.

Fixture: `tests/fixtures/outages_geojson/union_power_coop_outages_30day.geojson`, copied from the
shared fixtures (`power_outage/`), itself rtharrington/outages `data/outages30Day.js` (commit
dcae0547): 339 Point features {Cause, CustomersAffected, Feeder, StartTime, Substation} of
Union Power Cooperative (North Carolina), September-October 2018. It is a **30-day history
export**, not a live outage map: ingested, all 339 outages are taken as current (a live feed
lists only the outages still on). `StartTime` is naive ISO 8601 ("2018-09-27T23:34:33"), the
utility's local time: the city's time zone (America/New_York here) applies.
The city in these tests is a 4x4 grid of zones over the export's extent (city_config.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson
import pytest
from shapely.geometry import Point

from opscentre.core import keys
from opscentre.core.errors import ParseError
from opscentre.core.store import Store
from opscentre.workers import jobs
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.outages_geojson import OutagesOptions, parse

from tests.cli_helpers import clean_env, opscentre
from tests.conftest import FIXTURES
from tests.workers.feeds.city_config import grid_city
from tests.workers.feeds.local_http import send, serving

FIXTURE = FIXTURES / "outages_geojson" / "union_power_coop_outages_30day.geojson"
UNION_COUNTY = (-80.82, 34.82, -80.19, 35.59)
NEW_YORK = ZoneInfo("America/New_York")
JUST_AFTER = datetime(2018, 10, 15, 17, 0, tzinfo=timezone.utc)  # the last StartTime is 12:48 local
OPTIONS = {"url": "http://127.0.0.1:9/outages.geojson"}
INSIDE = [-80.5, 35.1]


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return grid_city(tmp_path_factory.mktemp("union"), bbox=UNION_COUNTY, tz="America/New_York",
                     feeds={"outages_geojson": {"options": OPTIONS}})


def context(settings, **options):
    return FeedContext("outages_geojson", OutagesOptions(**{**OPTIONS, **options}), settings, JUST_AFTER)


@pytest.fixture
def ctx(settings):
    return context(settings)


@pytest.fixture(scope="module")
def document():
    return orjson.loads(FIXTURE.read_bytes())


def collection(*features) -> bytes:
    return orjson.dumps({"type": "FeatureCollection", "features": list(features)})


def outage(coordinates=INSIDE, customers=12, start="2018-10-15T08:00:00", geometry_type="Point", **properties):
    return {"type": "Feature", "geometry": {"type": geometry_type, "coordinates": coordinates},
            "properties": {"CustomersAffected": customers, "Cause": "Small animal/bird", "StartTime": start,
                           "Feeder": "CKT1-01", "Substation": "ROWAN(1)", **properties}}


def per_zone(result):
    (batch,) = result.batches
    assert batch.kind == "outage_customers"
    return dict(zip(batch.entity_ids, batch.values))


def reasons(result):
    return {r.entity_id: r.reason for r in result.rejected}


# ---- the fixture ------------------------------------------------------------------------


def test_the_history_export_gives_339_current_outages(ctx, document):
    result = parse(FIXTURE.read_bytes(), ctx)
    assert result.rejected == []
    assert len(result.events) == len(document["features"]) == 339
    assert len({e.event_id for e in result.events}) == 339
    assert all(e.category == "outage" and e.event_type == "outage" and e.source == "outages_geojson"
               for e in result.events)
    assert all(e.ends_at is None for e in result.events)  # a history export says nothing of restoration


def test_an_outage_keeps_customers_cause_feeder_substation_and_local_start(ctx, document):
    first = parse(FIXTURE.read_bytes(), ctx).events[0]
    source = document["features"][0]
    assert first.geometry == source["geometry"]
    props = first.properties
    assert (props["customers"], props["feeder"], props["substation"]) == (75, "CKT10-02", "INDIANTRAIL(10)")
    assert props["cause"] == "Tree failure from overhang or dead tree without ice/snow"
    # "2018-09-27T23:34:33" is Eastern Daylight Time (UTC-4)
    assert first.starts_at == datetime(2018, 9, 28, 3, 34, 33, tzinfo=timezone.utc).timestamp()
    assert first.observed_at == first.starts_at
    assert first.severity == "minor" and "75 customers" in first.title
    third = parse(FIXTURE.read_bytes(), ctx).events[2]
    assert document["features"][2]["properties"]["Feeder"] == ""
    assert "feeder" not in third.properties and third.properties["substation"] == "BAKERS(14)"


def test_severity_grows_with_customers_affected(ctx):
    events = parse(FIXTURE.read_bytes(), ctx).events
    biggest = max(events, key=lambda e: e.properties["customers"])
    assert biggest.properties["customers"] == 5372 and biggest.severity == "severe"
    assert next(e for e in events if e.properties["customers"] == 378).severity == "minor"
    assert next(e for e in events if e.properties["customers"] == 2468).severity == "moderate"


def test_customers_per_zone_sum_the_outages_whose_point_is_in_the_zone(ctx, settings, document):
    values = per_zone(parse(FIXTURE.read_bytes(), ctx))
    assert len(values) == 16  # every zone, each poll
    expected = dict.fromkeys(settings.zones.ids, 0)
    for feature in document["features"]:
        point = Point(feature["geometry"]["coordinates"])
        zone = next(z for z, g in zip(settings.zones.ids, settings.zones.geometries) if g.covers(point))
        expected[zone] += feature["properties"]["CustomersAffected"]
    assert values == {f"outages:zone:{z}": float(v) for z, v in expected.items()}
    assert sum(values.values()) == 43727
    assert 0.0 in values.values()  # zones without an outage say so


def test_zone_entities_are_zones_with_a_point_inside(ctx, settings):
    entities = {e.entity_id: e for e in parse(FIXTURE.read_bytes(), ctx).entities}
    assert len(entities) == 16
    zone = entities["outages:zone:z2-1"]
    assert zone.entity_type == "zone" and zone.zone_id == "z2-1"
    assert settings.zones.geometries[settings.zones.ids.index("z2-1")].contains(Point(zone.geometry["coordinates"]))


def test_a_restored_outage_brings_its_zone_back_to_zero(ctx, settings):
    zone = settings.zones.assign([tuple(INSIDE)])[0]
    assert per_zone(parse(collection(outage(customers=40)), ctx))[f"outages:zone:{zone}"] == 40
    assert set(per_zone(parse(collection(), ctx)).values()) == {0.0}


def test_ids_are_stable_hashes_of_place_and_start_unless_the_utility_gives_one(settings, ctx):
    a = parse(collection(outage(), outage(start="2018-10-15T09:00:00")), ctx).events
    b = parse(collection(outage(customers=99)), ctx).events  # same outage, more customers
    assert a[0].event_id == b[0].event_id and a[0].event_id != a[1].event_id
    assert a[0].event_id.startswith("outages:")
    with_id = parse(collection(outage(OutageID=8812)), context(settings, id_field="OutageID")).events
    assert with_id[0].event_id == "outages:8812"


def test_field_names_are_options(settings):
    ctx = context(settings, customers_field="nbrOut", cause_field="reason", start_field="since",
                  utility="Duke Energy")
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": INSIDE},
               "properties": {"nbrOut": "1,204", "reason": "Storm", "since": 1539604800000}}
    (event,) = parse(collection(feature), ctx).events
    props = event.properties
    assert (props["customers"], props["cause"], props["utility"]) == (1204, "Storm", "Duke Energy")
    assert event.starts_at == 1539604800.0  # epoch milliseconds, as ArcGIS exports them
    offset = {**feature, "properties": {"nbrOut": 3, "since": "2018-10-15T08:00:00-05:00"}}
    (event,) = parse(collection(offset), ctx).events
    assert event.starts_at == datetime(2018, 10, 15, 13, tzinfo=timezone.utc).timestamp()


def test_a_polygon_outage_counts_in_the_zone_of_a_point_inside_it(ctx, settings):
    x0, y0 = settings.zones.representative_points[settings.zones.ids.index("z1-1")]
    ring = [[x0 - 0.01, y0 - 0.01], [x0 + 0.01, y0 - 0.01], [x0 + 0.01, y0 + 0.01], [x0 - 0.01, y0 + 0.01],
            [x0 - 0.01, y0 - 0.01]]
    result = parse(collection(outage([ring], customers=500, geometry_type="Polygon"),
                              outage([[ring]], customers=7, geometry_type="MultiPolygon", start=None)), ctx)
    assert result.rejected == []
    assert per_zone(result)["outages:zone:z1-1"] == 507
    assert [e.geometry["type"] for e in result.events] == ["Polygon", "MultiPolygon"]


def test_a_missing_start_is_kept_observed_now(ctx):
    (event,) = parse(collection(outage(start=None)), ctx).events
    assert event.starts_at is None and event.observed_at == JUST_AFTER.timestamp()
    assert event.properties["start_known"] is False


# ---- bad inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><title>Outage map under maintenance</title></html>", "HTML"),
        (b'{"type": "FeatureCollection", "features": [{"type": "Feat', "not JSON"),
        (b"[]", "JSON object"),
        (b'{"type": "Feature", "geometry": null, "properties": {}}', "not a FeatureCollection"),
        (b'{"type": "FeatureCollection", "features": {}}', "not a FeatureCollection"),
    ],
)
def test_a_payload_that_is_not_a_feature_collection_is_a_parse_error(ctx, payload, reason):
    with pytest.raises(ParseError, match=reason):
        parse(payload, ctx)


def test_a_truncated_fixture_is_a_parse_error(ctx):
    body = FIXTURE.read_bytes()
    with pytest.raises(ParseError, match="not JSON"):
        parse(body[: len(body) // 3], ctx)


def test_bad_features_are_rejected_with_reasons_and_the_rest_kept(ctx):
    features = [
        outage(customers=5),
        "junk",
        {**outage(), "geometry": None},
        outage([[-80.5, 35.1], [-80.4, 35.2]], geometry_type="LineString"),
        outage(["-80.5", 35.1]),
        outage([35.1, -80.5]),  # [lat, lon]
        outage([-43.2, -22.9]),  # Rio
        outage(customers=None, start="2018-10-15T01:00:00"),
        outage(customers="many", start="2018-10-15T02:00:00"),
        outage(customers=-3, start="2018-10-15T03:00:00"),
        outage(start="yesterday"),
        outage(start=["2018"]),
        outage(customers=6),  # the first one again: same place, same start
    ]
    result = parse(collection(*features), ctx)
    assert len(result.events) == 1 and result.events[0].properties["customers"] == 5
    assert len(result.rejected) == 12
    texts = [r.reason for r in result.rejected]
    assert "feature is not an object" in texts
    assert "feature has no geometry" in texts
    assert any("'LineString' is not a Point, Polygon or MultiPolygon" in t for t in texts)
    assert any("are not [lon, lat] numbers" in t for t in texts)
    assert any("look swapped" in t for t in texts)
    assert any("outside the city" in t for t in texts)
    assert any("None is not a customer count" in t for t in texts)
    assert any("'many' is not a customer count" in t for t in texts)
    assert any("-3 is not a customer count" in t for t in texts)
    assert any("'yesterday' is not an ISO 8601 time" in t for t in texts)
    assert any("['2018'] is not a time" in t for t in texts)
    assert any("listed twice" in t for t in texts)
    assert all(r.kind == "event:outage" for r in result.rejected)
    assert sum(per_zone(result).values()) == 5


def test_the_options_are_validated():
    assert OutagesOptions(url="https://outages.example.org/x.geojson").customers_field == "CustomersAffected"
    for bad in ({}, {"url": "file:///etc/passwd"}, {"url": "https://x.org/", "surprise": 1}):
        with pytest.raises(ValueError):
            OutagesOptions(**bad)


# ---- end to end -------------------------------------------------------------------------


def test_a_poll_stores_the_outages_and_zone_totals_and_the_next_snapshot_restores_them(tmp_path, redis_client,
                                                                                      document):
    # No timestamp rewriting is needed: outage events are kept whatever their start time, and the
    # per-zone readings are stamped with the poll's time.
    from opscentre.dashboard.city_reading import read_city_data
    from opscentre.layers import LAYERS

    assert FEEDS["outages_geojson"].events_snapshot
    later = collection(document["features"][0])
    with serving(lambda n, h: send(h, 200, FIXTURE.read_bytes() if n == 1 else later,
                                   {"ETag": f'"v{n}"'})) as server:
        settings = grid_city(tmp_path, bbox=UNION_COUNTY, tz="America/New_York",
                             feeds={"outages_geojson": {"options": {"url": server.url + "/outages.geojson"}}})
        store = Store(redis_client)
        assert jobs.poll_feed("outages_geojson", settings, store) == {
            "feed": "outages_geojson", "stored": 339 + 16, "rejected": 0}
        events = store.events("outage")
        assert len(events) == 339 and all(len(e["zone_ids"]) == 1 for e in events)
        latest = store.latest("outage_customers")
        assert len(latest) == 16 and sum(v for v, _, _ in latest.values()) == 43727
        assert store.feed_health("outages_geojson")["status"] == "ok"

        data = read_city_data(store, settings)
        features = LAYERS["outages"].features(data)
        assert sum(1 for f in features if f["properties"]["kind"] == "outage") == 339
        assert sum(f["properties"]["customers"] for f in features if f["properties"]["kind"] == "zone_total") == 43727

        assert jobs.poll_feed("outages_geojson", settings, store)["stored"] == 1 + 16
        assert server.headers[1].get("If-None-Match") == '"v1"'  # conditional GET
        assert [e["properties"]["customers"] for e in store.events("outage")] == [75]
        assert sum(v for v, _, _ in store.latest("outage_customers").values()) == 75


def test_ingest_of_the_fixture_through_the_cli(tmp_path, redis_client, redis_server):
    grid_city(tmp_path, bbox=UNION_COUNTY, tz="America/New_York", feeds={"outages_geojson": {"options": OPTIONS}})
    env = clean_env(REDIS_URL=redis_server.url, OPSCENTRE_CONFIG=str(tmp_path / "city.yaml"))
    result = opscentre("ingest", "outages_geojson", str(FIXTURE), env=env)
    assert result.returncode == 0, result.stderr
    assert "outages_geojson: 355 items stored, 0 rejected" in result.stdout
    state = orjson.loads(opscentre("state", "--json", env=env).stdout)
    zones = [o for o in state["observations"] if o["kind"] == "outage_customers"]
    assert len(zones) == 16 and sum(o["value"] for o in zones) == 43727
    assert {o["unit"] for o in zones} == {"customers"} and all(o["zone_id"] for o in zones)
    assert state["feeds"]["outages_geojson"]["status"] == "ok"
    assert redis_client.hlen(keys.events("outages_geojson")) == 339


def test_naive_start_times_follow_the_city_time_zone(settings):
    winter = parse(collection(outage(start="2018-12-01T08:00:00")), context(settings)).events[0]
    assert winter.starts_at == datetime(2018, 12, 1, 8, tzinfo=NEW_YORK).timestamp()
    assert winter.starts_at - datetime(2018, 12, 1, 8, tzinfo=timezone.utc).timestamp() == timedelta(hours=5).seconds
