"""The OpenAQ v3 feed: parse on the recorded responses, bad inputs, fetch, a poll end to end, ingest.

Fixtures (copied from shared/fixtures/openaq, which took them byte-exact from openaq/openaq-python
`tests/unit/responses/`, Apache-2.0): `v3_location_2178_sensors_with_latest.json` (the sensors of
location 2178, Del Norte, Albuquerque, AirNow, with their latest values of 26 Aug 2024: no2, so2,
o3, co, nox, no in ppm; pm25, pm10 in µg/m³) and `v3_locations_2178.json` (that location). The
city for these tests is a grid of zones over Albuquerque.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest
from pydantic import ValidationError

from opscentre.core.errors import FetchError, ParseError
from opscentre.core.store import Store
from opscentre.core.validate import validate
from opscentre.workers import jobs
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.openaq import OpenAQOptions, fetch, parse

from tests.cli_helpers import clean_env, opscentre
from tests.conftest import FIXTURES
from tests.workers.feeds.city_config import grid_city
from tests.workers.feeds.local_http import send, serving

SENSORS = FIXTURES / "openaq" / "v3_location_2178_sensors_with_latest.json"
LOCATIONS = FIXTURES / "openaq" / "v3_locations_2178.json"
ALBUQUERQUE = (-106.8, 34.9, -106.4, 35.25)
AFTER_FIXTURE = datetime(2024, 8, 26, 21, 30, tzinfo=timezone.utc)
KEY_ENV = "OPENAQ_TEST_KEY"
KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return grid_city(tmp_path_factory.mktemp("abq"), bbox=ALBUQUERQUE, tz="America/Denver",
                     feeds={"openaq": {"options": {"locations": [2178]}}})


def ctx_for(settings, **options):
    return FeedContext("openaq", OpenAQOptions(**options), settings, AFTER_FIXTURE)


def sensors_doc():
    return orjson.loads(SENSORS.read_bytes())


def location_doc():
    return orjson.loads(LOCATIONS.read_bytes())["results"][0]


def envelope(locations=None, sensors=None, errors=None) -> bytes:
    return orjson.dumps({"bundle": "openaq-v3",
                         "locations": [location_doc()] if locations is None else locations,
                         "sensors": {"2178": sensors_doc()} if sensors is None else sensors,
                         "errors": errors or {}})


def by_kind(result):
    return {b.kind: dict(zip(b.entity_ids, b.values)) for b in result.batches}


def sensor(name, value, units="µg/m³", utc="2024-08-26T21:00:00Z", sensor_id=1):
    return {"id": sensor_id, "name": f"{name} {units}", "parameter": {"id": 0, "name": name, "units": units},
            "latest": {"datetime": {"utc": utc, "local": None}, "value": value,
                       "coordinates": {"latitude": 35.1353, "longitude": -106.584702}}}


def with_sensors(*items) -> bytes:
    return envelope(sensors={"2178": {"meta": {}, "results": list(items)}})


# ---- the fixture ------------------------------------------------------------------------


def test_the_fixture_gives_one_station_four_pollutants_and_the_index(settings):
    result = parse(envelope(), ctx_for(settings))
    assert [e.entity_id for e in result.entities] == ["openaq:2178"]
    station = result.entities[0]
    assert station.entity_type == "air_quality_station" and station.source == "openaq"
    assert station.name == "Del Norte"
    assert station.geometry == {"type": "Point", "coordinates": [-106.584702, 35.1353]}
    assert station.properties["provider"] == "AirNow" and station.properties["locality"] == "Albuquerque"
    assert station.properties["aqi_scale"] == "rio" and station.properties["source_units"]["o3"] == "ppm"
    kinds = by_kind(result)
    assert kinds["pm25_ugm3"] == {"openaq:2178": 4.1}
    assert kinds["pm10_ugm3"] == {"openaq:2178": 15.0}
    assert kinds["o3_ugm3"]["openaq:2178"] == pytest.approx(0.059 * 1000 * 47.997 / 24.45, abs=1e-3)  # 115.821
    assert kinds["no2_ugm3"]["openaq:2178"] == pytest.approx(0.0007 * 1000 * 46.0055 / 24.45, abs=1e-3)  # 1.317
    # IQA Rio: O3 115.8 µg/m³ is "Regular" (81-160 -> 51-100): 51 + 49 × 34.82 / 79 = 72.6 -> 73
    assert kinds["aqi"] == {"openaq:2178": 73.0}
    times = {b.kind: b.observed_at[0] for b in result.batches}
    assert times["pm25_ugm3"] == datetime(2024, 8, 26, 20, tzinfo=timezone.utc).timestamp()
    assert times["o3_ugm3"] == times["aqi"] == datetime(2024, 8, 26, 21, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(("scale", "aqi"), [("rio", 73.0), ("us_epa", 64.0), ("eu", 3.0), ("eu_old", 3.0)])
def test_the_index_scale_is_chosen_in_the_options(settings, scale, aqi):
    result = parse(envelope(), ctx_for(settings, scale=scale))
    assert by_kind(result)["aqi"] == {"openaq:2178": aqi}
    assert result.entities[0].properties["aqi_scale"] == scale


def test_parameters_outside_the_vocabulary_are_skipped_with_a_reason(settings):
    result = parse(envelope(), ctx_for(settings))
    skipped = {r.kind: r.reason for r in result.rejected}
    assert set(skipped) == {"so2", "co", "nox", "no"}
    assert "'co' (ppm) is not in our vocabulary" in skipped["co"]
    assert all(r.entity_id == "openaq:2178" for r in result.rejected)
    assert result.observation_count == 5


def test_a_raw_sensors_response_is_the_one_configured_location(settings):
    result = parse(SENSORS.read_bytes(), ctx_for(settings, locations=[2178]))
    assert [e.entity_id for e in result.entities] == ["openaq:2178"]
    assert result.entities[0].name == "OpenAQ location 2178"
    assert result.entities[0].geometry["coordinates"] == [-106.584702, 35.1353]  # from the readings
    assert by_kind(result)["aqi"] == {"openaq:2178": 73.0}
    for locations in ([], [2178, 2179]):
        with pytest.raises(ParseError, match="exactly one id"):
            parse(SENSORS.read_bytes(), ctx_for(settings, locations=locations))


def test_a_raw_locations_response_gives_stations_without_readings(settings):
    result = parse(LOCATIONS.read_bytes(), ctx_for(settings))
    assert [e.name for e in result.entities] == ["Del Norte"]
    assert result.batches == [] and result.rejected == []


def test_the_index_counts_only_recent_plausible_readings(settings):
    result = parse(with_sensors(
        sensor("pm10", 15.0, sensor_id=1),
        sensor("no2", 2000.0, utc="2024-08-26T10:00:00Z", sensor_id=2),  # 11 h older: not in the index
        sensor("o3", -3.0, sensor_id=3),  # negative: rejected by core validation, not in the index
    ), ctx_for(settings))
    kinds = by_kind(result)
    assert kinds["aqi"] == {"openaq:2178": 15.0}
    assert kinds["no2_ugm3"] == {"openaq:2178": 2000.0} and kinds["o3_ugm3"] == {"openaq:2178": -3.0}
    clean = validate(result, now=AFTER_FIXTURE.timestamp())
    assert [r.reason for r in clean.rejected if r.kind == "o3_ugm3"][0].startswith("value outside the plausible range")


def test_no_index_when_the_scale_has_no_table_for_what_is_measured(settings):
    result = parse(with_sensors(sensor("pm25", 40.0)), ctx_for(settings, scale="rio"))
    assert set(by_kind(result)) == {"pm25_ugm3"}  # Rio's IQA table has no PM2.5
    result = parse(with_sensors(sensor("pm25", 40.0)), ctx_for(settings, scale="us_epa"))
    assert by_kind(result)["aqi"] == {"openaq:2178": 112.0}  # 101 + 49 × 4.5 / 19.9 = 112.1


# ---- bad inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"<html><body>502 Bad Gateway</body></html>", "HTML"),
        (b'{"meta": {}, "results": [{"id": 3916, "parameter"', "not JSON"),
        (b"[]", "JSON object"),
        (b'{"detail": "Invalid credentials"}', "Invalid credentials"),
        (b'{"results": {"id": 1}}', "no 'results' list"),
        (b'{"bundle": "openaq-v3", "locations": {}, "sensors": {}, "errors": {}}', "'locations' list"),
        (b'{"bundle": "openaq-v3", "locations": [], "sensors": {}, "errors": {"search": "HTTP 500"}}',
         "no request of the poll succeeded"),
    ],
)
def test_a_payload_that_cannot_be_read_is_a_parse_error(settings, payload, reason):
    with pytest.raises(ParseError, match=reason):
        parse(payload, ctx_for(settings))


def test_a_truncated_fixture_is_a_parse_error(settings):
    body = SENSORS.read_bytes()
    with pytest.raises(ParseError, match="not JSON"):
        parse(body[: len(body) // 2], ctx_for(settings, locations=[2178]))


def test_wrong_types_and_missing_fields_reject_only_that_reading(settings):
    result = parse(with_sensors(
        sensor("pm10", 15.0),
        sensor("pm25", "abc"),
        sensor("o3", True, units="ppm"),
        {"id": 4, "parameter": {"units": "ppm"}, "latest": None},
        {**sensor("no2", 10.0), "latest": None},
        {**sensor("no2", 10.0), "latest": {"value": 10.0, "datetime": {"utc": "yesterday"}}},
        sensor("pm25", 12.0, units="furlongs"),
        sensor("pm25", 12.0, units="ppm"),
        sensor("pm1", 3.0),  # a parameter we do not carry
        "junk",
    ), ctx_for(settings))
    assert by_kind(result) == {"pm10_ugm3": {"openaq:2178": 15.0}, "aqi": {"openaq:2178": 15.0}}
    reasons = [r.reason for r in result.rejected]
    assert any("'abc' is not a number" in r for r in reasons)
    assert any("'True' is not a number" in r for r in reasons)
    assert any("no parameter name" in r for r in reasons)
    assert any("no latest reading" in r for r in reasons)
    assert any("no datetime" in r for r in reasons)
    assert any("unknown unit 'furlongs'" in r for r in reasons)
    assert any("unit ppm cannot be converted to µg/m³ for pm25" in r for r in reasons)
    assert any("'pm1'" in r and "not in our vocabulary" in r for r in reasons)
    assert len(reasons) == 8  # "junk" is not a sensor object: ignored


def test_a_sensors_response_of_the_wrong_shape_rejects_that_station(settings):
    result = parse(envelope(sensors={"2178": {"results": "none"}}), ctx_for(settings))
    assert [e.entity_id for e in result.entities] == ["openaq:2178"]
    assert [r.reason for r in result.rejected] == ["sensors response has no 'results' list"]


def test_stations_outside_the_city_swapped_or_without_coordinates_are_rejected(settings):
    def at(location_id, coordinates):
        return {**location_doc(), "id": location_id, "coordinates": coordinates}

    locations = [at(1, {"latitude": 35.1, "longitude": -106.6}),
                 at(2, {"latitude": -106.6, "longitude": 35.1}),
                 at(3, {"latitude": -22.9, "longitude": -43.2}),
                 at(4, None), at(5, {"latitude": "35.1", "longitude": -106.6}),
                 {"name": "no id"}, at(True, {"latitude": 35.1, "longitude": -106.6})]
    result = parse(envelope(locations=locations, sensors={}), ctx_for(settings))
    assert [e.entity_id for e in result.entities] == ["openaq:1"]
    reasons = {r.entity_id: r.reason for r in result.rejected}
    assert "look swapped" in reasons["openaq:2"]
    assert "outside the city" in reasons["openaq:3"]
    assert "no coordinates" in reasons["openaq:4"] and "no coordinates" in reasons["openaq:5"]
    assert sum(1 for r in result.rejected if "no integer 'id'" in r.reason) == 2


def test_duplicates_in_one_payload(settings):
    locations = [location_doc(), location_doc()]
    result = parse(envelope(locations=locations), ctx_for(settings))
    assert len(result.entities) == 1
    assert any("appears twice" in r.reason for r in result.rejected)
    # two PM2.5 sensors at one station: the newer reading is kept, the other rejected as a duplicate
    result = parse(with_sensors(sensor("pm25", 10.0, utc="2024-08-26T20:00:00Z", sensor_id=1),
                                sensor("pm25", 12.0, utc="2024-08-26T21:00:00Z", sensor_id=2)),
                   ctx_for(settings, scale="us_epa"))
    clean = validate(result, now=AFTER_FIXTURE.timestamp())
    assert by_kind(clean)["pm25_ugm3"] == {"openaq:2178": 12.0}
    assert [r.reason for r in clean.rejected] == ["duplicate reading for this entity in the same payload"]


def test_sensors_under_a_key_that_is_not_a_location_id_are_rejected(settings):
    result = parse(envelope(locations=[], sensors={"²": sensors_doc(), "abc": sensors_doc()}), ctx_for(settings))
    assert result.entities == []
    assert sorted(r.reason for r in result.rejected) == ["sensors of location 'abc': not a location id",
                                                          "sensors of location '²': not a location id"]


def test_failed_requests_recorded_in_the_envelope_are_counted(settings):
    result = parse(envelope(errors={"99": "HTTP 404 Not Found from https://api.openaq.org/v3/locations/99"}),
                   ctx_for(settings))
    assert len(result.entities) == 1 and result.observation_count == 5
    failed = [r for r in result.rejected if r.entity_id == "openaq:99"]
    assert failed and failed[0].reason.startswith("request failed: HTTP 404")


def test_the_options_are_validated():
    assert OpenAQOptions().scale == "rio" and OpenAQOptions().api_key_env == "OPENAQ_API_KEY"
    for bad in ({"scale": "moon"}, {"api_key_env": "sk-123 456"}, {"url": "ftp://x"},
                {"url": "https://api.openaq.org/?key=1"}, {"bbox": [10, 0, 5, 1]}, {"locations": [0]},
                {"surprise": 1}):
        with pytest.raises(ValidationError):
            OpenAQOptions(**bad)


# ---- fetch ------------------------------------------------------------------------------


def fixture_api(recent: datetime | None = None, missing: tuple[str, ...] = ()):
    """A responder playing the OpenAQ v3 API from the fixtures (times moved to `recent`)."""
    sensors = sensors_doc()
    if recent is not None:
        for item in sensors["results"]:
            item["latest"]["datetime"]["utc"] = recent.isoformat().replace("+00:00", "Z")
    location = orjson.loads(LOCATIONS.read_bytes())

    def respond(n, handler):
        path = handler.path.split("?")[0]
        if any(path.startswith(f"/v3/locations/{m}") for m in missing):
            send(handler, 404, b'{"detail": "Location not found"}')
        elif path == "/v3/locations" or path == "/v3/locations/2178":
            send(handler, 200, orjson.dumps(location))
        elif path == "/v3/locations/2178/sensors":
            send(handler, 200, orjson.dumps(sensors))
        else:
            send(handler, 404, b'{"detail": "Not Found"}')

    return respond


def test_fetch_sends_the_key_in_a_header_and_bundles_the_answers(settings, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(fixture_api()) as server:
        payload = fetch(ctx_for(settings, url=server.url, locations=[2178], api_key_env=KEY_ENV))
    assert server.paths == ["/v3/locations/2178", "/v3/locations/2178/sensors"]
    assert all(h.get("X-API-Key") == KEY for h in server.headers)
    assert not any(KEY in p for p in server.paths)
    assert orjson.loads(payload)["errors"] == {}
    result = parse(payload, ctx_for(settings))
    assert by_kind(result)["aqi"] == {"openaq:2178": 73.0} and result.entities[0].name == "Del Norte"


def test_without_locations_fetch_searches_the_city_bounds(settings, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(fixture_api()) as server:
        fetch(ctx_for(settings, url=server.url, api_key_env=KEY_ENV, max_locations=7))
    assert server.paths[0] == "/v3/locations?bbox=-106.8000%2C34.9000%2C-106.4000%2C35.2500&limit=7"
    assert server.paths[1:] == ["/v3/locations/2178/sensors"]


def test_fetch_without_a_key_fails_with_a_config_error(settings, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(FetchError) as info:
        fetch(ctx_for(settings, url="http://127.0.0.1:9", locations=[2178], api_key_env=KEY_ENV))
    assert info.value.kind == "config" and str(info.value) == f"openaq: no API key: set ${KEY_ENV}"


def test_a_location_that_fails_is_counted_and_the_others_kept(settings, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(fixture_api(missing=("99",))) as server:
        payload = fetch(ctx_for(settings, url=server.url, locations=[2178, 99], api_key_env=KEY_ENV))
    errors = orjson.loads(payload)["errors"]
    assert list(errors) == ["99"] and "HTTP 404" in errors["99"]
    result = parse(payload, ctx_for(settings))
    assert [e.entity_id for e in result.entities] == ["openaq:2178"]
    assert any(r.entity_id == "openaq:99" and "request failed" in r.reason for r in result.rejected)


def test_when_no_request_is_answered_the_fetch_fails(settings, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(lambda n, h: send(h, 401, b'{"detail": "Unauthorized"}')) as server:
        with pytest.raises(FetchError) as info:
            fetch(ctx_for(settings, url=server.url, locations=[2178], api_key_env=KEY_ENV))
    assert "HTTP 401" in str(info.value) and KEY not in str(info.value)


# ---- end to end -------------------------------------------------------------------------


def test_a_poll_stores_the_station_its_readings_and_index(tmp_path, redis_client, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    recent = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    with serving(fixture_api(recent=recent)) as server:
        settings = grid_city(tmp_path, bbox=ALBUQUERQUE, tz="America/Denver", feeds={"openaq": {"options": {
            "url": server.url, "locations": [2178], "api_key_env": KEY_ENV, "scale": "us_epa"}}})
        store = Store(redis_client)
        assert "openaq" in FEEDS
        result = jobs.poll_feed("openaq", settings, store)
    assert result == {"feed": "openaq", "stored": 5, "rejected": 0}  # co, so2, no, nox skipped, not rejected
    assert store.latest("aqi")["openaq:2178"][:1] == (64.0,)
    assert store.latest("pm25_ugm3")["openaq:2178"][0] == 4.1
    station = store.entities()["openaq:2178"]
    assert station["zone_id"] and station["properties"]["aqi_scale"] == "us_epa"
    health = store.feed_health("openaq")
    assert health["status"] == "ok" and health["skipped"] == 4 and KEY not in orjson.dumps(health).decode()


def test_a_poll_without_a_key_is_a_failing_feed_with_a_config_error(tmp_path, redis_client, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    settings = grid_city(tmp_path, bbox=ALBUQUERQUE, tz="America/Denver",
                         feeds={"openaq": {"options": {"locations": [2178], "api_key_env": KEY_ENV}}})
    store = Store(redis_client)
    assert jobs.poll_feed("openaq", settings, store)["failed"]
    health = store.feed_health("openaq")
    assert health["status"] == "failing" and health["last_error_kind"] == "config"
    assert f"set ${KEY_ENV}" in health["last_error"]


def test_ingest_of_a_raw_sensors_response_through_the_cli(tmp_path, redis_client, redis_server):
    from opscentre.dashboard.city_reading import read_city_data
    from opscentre.layers import LAYERS

    settings = grid_city(tmp_path, bbox=ALBUQUERQUE, tz="America/Denver",
                         feeds={"openaq": {"options": {"locations": [2178], "scale": "rio"}}})
    env = clean_env(REDIS_URL=redis_server.url, OPSCENTRE_CONFIG=str(settings.source_path))
    result = opscentre("ingest", "openaq", str(SENSORS), "--as-of", "2024-08-26T21:30:00Z", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("openaq: 5 items stored, 0 rejected, 4 skipped")
    state = orjson.loads(opscentre("state", "--json", env=env).stdout)
    rows = {r["kind"]: r for r in state["observations"] if r["entity_id"] == "openaq:2178"}
    assert set(rows) == {"pm25_ugm3", "pm10_ugm3", "o3_ugm3", "no2_ugm3", "aqi"}
    assert rows["aqi"]["value"] == 73.0 and rows["aqi"]["zone_id"] and rows["o3_ugm3"]["unit"] == "µg/m³"
    assert state["feeds"]["openaq"]["status"] == "ok"  # skipped parameters are not a fault
    features = LAYERS["air_quality"].features(read_city_data(Store(redis_client), settings))
    assert [(f["id"], f["properties"]["aqi_category"]) for f in features] == [("openaq:2178", "Regular")]

    bad = tmp_path / "bad.json"
    bad.write_bytes(b"<html>maintenance</html>")
    result = opscentre("ingest", "openaq", str(bad), env=env)
    assert result.returncode == 1 and "HTML" in result.stderr


def test_a_rate_limited_api_stops_the_poll_instead_of_asking_for_every_location(settings, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(lambda n, h: send(h, 429, b'{"detail": "Too Many Requests"}', {"Retry-After": "0"})) as server:
        with pytest.raises(FetchError) as info:
            fetch(ctx_for(settings, url=server.url, locations=[1, 2, 3], api_key_env=KEY_ENV))
    assert info.value.kind == "rate_limited"
    assert set(server.paths) == {"/v3/locations/1"}  # its own retries only; locations 2 and 3 never asked
