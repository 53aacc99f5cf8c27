"""Parser crashes `opscentre drill fuzz` found, one test each: the payload is refused or read
with a reason, never an exception the worker would log as a bug."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from opscentre.core.store import Store
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.gtfs_rt import GtfsRtOptions
from opscentre.workers.feeds.gtfs_rt import parse as parse_gtfs_rt
from opscentre.workers.feeds.openaq import OpenAQOptions
from opscentre.workers.feeds.openaq import parse as parse_openaq
from opscentre.workers.pipeline import store_payload

from tests.conftest import FIXTURES
from tests.workers.feeds.city_config import grid_city

CALTRAIN_BBOX = (-122.5, 37.2, -121.7, 37.85)
CALTRAIN_AT = datetime.fromtimestamp(1699405559 + 60, timezone.utc)
ALBUQUERQUE = (-106.8, 34.9, -106.4, 35.25)
OPENAQ_AT = datetime(2024, 8, 26, 21, 30, tzinfo=timezone.utc)


def test_a_gtfs_rt_string_that_is_not_utf8_is_read_with_a_replacement_character_and_stored(tmp_path, redis_client):
    # A corrupt byte inside route_id "L1": protobuf (upb) hands back a proto2 string that is not
    # UTF-8 as bytes; the event's JSON could not be written (PydanticSerializationError).
    body = (FIXTURES / "gtfs_rt" / "caltrain_vehicle_positions.pb").read_bytes()
    corrupt = body.replace(b"*\x02L1", b"*\x02\xff1", 1)  # field 5 (route_id)
    assert corrupt != body
    city = grid_city(tmp_path, bbox=CALTRAIN_BBOX, tz="America/Los_Angeles",
                     feeds={"gtfs_rt": {"options": {"vehicle_positions_url": "http://127.0.0.1:9/vp"}}})
    ctx = FeedContext("gtfs_rt", GtfsRtOptions(vehicle_positions_url="http://127.0.0.1:9/vp"), city, CALTRAIN_AT)
    routes = {e.properties["route_id"] for e in parse_gtfs_rt(corrupt, ctx).events}
    assert "\ufffd1" in routes and all(isinstance(r, str) for r in routes if r is not None)
    summary = store_payload(FEEDS["gtfs_rt"], corrupt, ctx, Store(redis_client))
    assert summary.stored == len(parse_gtfs_rt(body, ctx).events) > 0


def test_an_openaq_sensor_whose_latest_is_not_an_object_is_rejected_alone(tmp_path):
    # A raw sensors response places its station by the first sensor's latest coordinates; a
    # `latest` that is a string raised AttributeError ('str' object has no attribute 'get').
    document = orjson.loads((FIXTURES / "openaq" / "v3_location_2178_sensors_with_latest.json").read_bytes())
    document["results"][0]["latest"] = "yesterday"
    city = grid_city(tmp_path, bbox=ALBUQUERQUE, tz="America/Denver", feeds={"openaq": {"options": {"locations": [2178]}}})
    result = parse_openaq(orjson.dumps(document), FeedContext("openaq", OpenAQOptions(locations=[2178]), city, OPENAQ_AT))
    assert [e.entity_id for e in result.entities] == ["openaq:2178"]  # placed by another sensor
    assert any("has no latest reading" in r.reason for r in result.rejected)
    assert result.batches  # the other sensors' readings are kept


def test_an_outage_start_time_too_large_to_be_a_time_rejects_that_outage_only(tmp_path):
    # StartTime 1e300 (ms) gave round(1e297) seconds, an integer orjson cannot write, while the
    # outage's id was hashed (TypeError: Integer exceeds 64-bit range).
    from opscentre.workers.feeds.outages_geojson import OutagesOptions
    from opscentre.workers.feeds.outages_geojson import parse as parse_outages

    document = orjson.loads((FIXTURES / "outages_geojson" / "union_power_coop_outages_30day.geojson").read_bytes())
    document["features"] = document["features"][:3]
    document["features"][0]["properties"]["StartTime"] = 1e300
    options = {"url": "http://127.0.0.1:9/outages.geojson"}
    city = grid_city(tmp_path, bbox=(-80.82, 34.82, -80.19, 35.59), tz="America/New_York",
                     feeds={"outages_geojson": {"options": options}})
    result = parse_outages(orjson.dumps(document), FeedContext("outages_geojson", OutagesOptions(**options), city,
                                                               datetime(2018, 10, 15, 17, tzinfo=timezone.utc)))
    assert len(result.events) == 2
    assert [r.reason for r in result.rejected if "is not a time" in r.reason] == ["StartTime 1e+300 is not a time"]


def test_a_cap_message_declaring_an_unknown_encoding_is_a_parse_error():
    # A flipped byte in the XML declaration (encoding="UTQ-8") raised LookupError.
    from opscentre.core.errors import ParseError
    from opscentre.workers.feeds.cap import parse as parse_cap

    body = (FIXTURES / "cap" / "cap12_spec_example_A2_severe_thunderstorm.xml").read_bytes()
    assert body.count(b'"UTF-8"') == 1
    with pytest.raises(ParseError, match="unknown encoding"):
        parse_cap(body.replace(b'"UTF-8"', b'"UTQ-8"'))


def test_an_open_meteo_location_with_nested_values_for_its_coordinates_is_stored_without_them(tmp_path, redis_client):
    # latitude / elevation replaced by a list nested 600 deep went into the zone's properties,
    # and the entity could not be written (PydanticSerializationError: maximum depth).
    from opscentre.workers.feeds.open_meteo import OpenMeteoOptions

    document = orjson.loads((FIXTURES / "open_meteo" / "forecast_current_weather_hourly_daily.json").read_bytes())
    document["elevation"] = "nested"
    payload = orjson.dumps(document).replace(b'"nested"', b"[" * 600 + b"1" + b"]" * 600)
    city = grid_city(tmp_path, bbox=(6.7, 52.2, 7.0, 52.35), tz="Europe/Amsterdam", feeds={"open_meteo": {}})
    ctx = FeedContext("open_meteo", OpenMeteoOptions(), city, datetime(2026, 10, 3, 9, 20, tzinfo=timezone.utc))
    summary = store_payload(FEEDS["open_meteo"], payload, ctx, Store(redis_client))
    assert summary.new_entities == 1
    (stored,) = Store(redis_client).entities().values()
    assert stored["properties"]["elevation_m"] is None and stored["properties"]["grid_latitude"] == document["latitude"]


@pytest.mark.parametrize("geometry", [
    {"type": "Point", "coordinates": [-80.5, 35.1, -80.5, 35.1]},  # a position of 4 numbers
    {"type": "Polygon", "coordinates": [[[-80.5, 35.1], [-80.4, 35.2]]]},  # a ring of 2 positions
])
def test_an_outage_whose_geometry_is_no_shape_is_rejected_alone(tmp_path, redis_client, geometry):
    # shapely refused it in the zone join (ValueError: The ordinate (last) dimension should be 2 or 3).
    from opscentre.workers.feeds.outages_geojson import OutagesOptions

    document = orjson.loads((FIXTURES / "outages_geojson" / "union_power_coop_outages_30day.geojson").read_bytes())
    document["features"] = document["features"][:3]
    document["features"][0]["geometry"] = geometry
    options = {"url": "http://127.0.0.1:9/outages.geojson"}
    city = grid_city(tmp_path, bbox=(-80.82, 34.82, -80.19, 35.59), tz="America/New_York",
                     feeds={"outages_geojson": {"options": options}})
    ctx = FeedContext("outages_geojson", OutagesOptions(**options), city, datetime(2018, 10, 15, 17, tzinfo=timezone.utc))
    summary = store_payload(FEEDS["outages_geojson"], orjson.dumps(document), ctx, Store(redis_client))
    assert summary.rejected >= 1 and "is not a valid shape" in " ".join(summary.reasons)
    assert len(Store(redis_client).events("outage")) == 2
