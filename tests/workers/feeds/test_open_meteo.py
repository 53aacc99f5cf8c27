"""The Open-Meteo forecast feed: parse on a real answer, bad inputs, batching, a poll end to end.

Fixture `tests/fixtures/open_meteo/forecast_current_weather_hourly_daily.json` is a real
single-location answer of api.open-meteo.com/v1/forecast, copied from frenck/python-open-meteo
`tests/fixtures/forecast.json` (MIT; via shared/fixtures/SOURCES.md). It is for 52.276 N,
6.873 E (Enschede, NL), timezone Europe/Amsterdam (utc_offset_seconds 7200), with the legacy
`current_weather` block (2026-10-03T11:15 local, wind in km/h) and 3-step hourly arrays
(00:00-02:00 local, i.e. 2026-10-02T22:00Z-2026-10-03T00:00Z, also with km/h wind). The tests
put a grid city over that place. Multi-location answers (a JSON list) are built in the tests
in the shape the API documents, with the options the fetch sends (unixtime, GMT, m/s).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from opscentre.core.errors import ConfigError, ParseError
from opscentre.core.settings import CITIES_DIR, FeedSettings, load_settings
from opscentre.core.store import Store
from opscentre.workers import jobs
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.open_meteo import OpenMeteoOptions, parse

from tests.cli_helpers import clean_env, opscentre
from tests.conftest import FIXTURES
from tests.workers.feeds.city_config import grid_city
from tests.workers.feeds.local_http import send, serving

FIXTURE = FIXTURES / "open_meteo" / "forecast_current_weather_hourly_daily.json"
BBOX = (6.7, 52.2, 7.0, 52.35)  # 4x4 zones of 0.075 x 0.0375 degrees around Enschede
CURRENT_AT = datetime(2026, 10, 3, 9, 15, tzinfo=timezone.utc)  # 11:15 +02:00
BEFORE_HOURLY = datetime(2026, 10, 2, 21, 30, tzinfo=timezone.utc)  # before the first hourly stamp
HOUR = 3600


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return grid_city(tmp_path_factory.mktemp("enschede"), bbox=BBOX, tz="Europe/Amsterdam",
                     feeds={"open_meteo": {"interval_s": 3600}})


@pytest.fixture
def ctx(city):
    return FeedContext("open_meteo", OpenMeteoOptions(), city, BEFORE_HOURLY)


@pytest.fixture(scope="module")
def rio():
    return load_settings(CITIES_DIR / "rio" / "demo.yaml")


def at(ctx, moment):
    return replace(ctx, now=moment)


def location(lat, lon, t0, steps=49, rain=None, temp=None, wind=None, **extra):
    """One location object as the fetch's request answers it (unixtime, GMT, m/s)."""
    times = [t0 + i * HOUR for i in range(steps)]
    answer = {
        "latitude": lat, "longitude": lon, "generationtime_ms": 0.5, "utc_offset_seconds": 0,
        "timezone": "GMT", "timezone_abbreviation": "GMT", "elevation": 10.0,
        "current_units": {"time": "unixtime", "interval": "seconds", "temperature_2m": "°C", "wind_speed_10m": "m/s"},
        "current": {"time": t0 + 900, "interval": 900, "temperature_2m": 24.5, "wind_speed_10m": 3.5},
        "hourly_units": {"time": "unixtime", "precipitation": "mm", "temperature_2m": "°C", "wind_speed_10m": "m/s"},
        "hourly": {"time": times,
                   "precipitation": rain if rain is not None else [round(0.1 * i, 1) for i in range(steps)],
                   "temperature_2m": temp if temp is not None else [20.0 + i % 5 for i in range(steps)],
                   "wind_speed_10m": wind if wind is not None else [2.0] * steps},
    }
    answer.update(extra)
    return answer


def zone_points(settings, ids):
    points = dict(zip(settings.zones.ids, settings.zones.representative_points))
    return [points[z] for z in ids]


def batch_for(settings, ids, t0, **kw):
    """A batch of the fetch's document: the answers for these zones, in order."""
    answers = [location(round(lat, 2), round(lon, 2), t0, **kw) for lon, lat in zone_points(settings, ids)]
    return {"zones": ids, "results": answers[0] if len(answers) == 1 else answers}


def now_hour():
    return int(time.time()) // HOUR * HOUR


def forecasts(result, kind):
    return {f.entity_id: f for f in result.forecasts if f.kind == kind}


def values(result, kind):
    return {e: (v, t) for b in result.batches if b.kind == kind for e, v, t in zip(b.entity_ids, b.values, b.observed_at)}


# ---- the real answer --------------------------------------------------------------------


def test_the_fixture_gives_its_zone_current_conditions_and_hourly_forecasts(ctx, city):
    result = parse(FIXTURE.read_bytes(), ctx)
    assert result.rejected == []
    (entity,) = result.entities
    zone = city.zones.assign([(6.8729997, 52.276)])[0]
    assert entity.entity_id == f"open_meteo:{zone}" and entity.zone_id == zone
    assert entity.entity_type == "zone" and entity.geometry["type"] == "Point"
    assert city.zones.assign([tuple(entity.geometry["coordinates"])]) == [zone]  # the zone's own point
    assert entity.properties["grid_latitude"] == 52.276
    assert values(result, "air_temp_c") == {entity.entity_id: (16.2, CURRENT_AT.timestamp())}
    wind, when = values(result, "wind_speed_ms")[entity.entity_id]
    assert wind == pytest.approx(4.0 / 3.6) and when == CURRENT_AT.timestamp()  # km/h in the units block


def test_hourly_times_are_local_with_the_answers_offset_and_rain_covers_the_preceding_hour(ctx):
    result = parse(FIXTURE.read_bytes(), ctx)
    first_stamp = datetime(2026, 10, 2, 22, 0, tzinfo=timezone.utc).timestamp()  # 00:00 at +02:00
    (rain,) = forecasts(result, "rain_forecast_mm").values()
    (temp,) = forecasts(result, "air_temp_c").values()
    (wind,) = forecasts(result, "wind_speed_ms").values()
    assert temp.times == [first_stamp, first_stamp + HOUR, first_stamp + 2 * HOUR]
    assert temp.values == [11.8, 11.2, 11.0]
    assert rain.times == [t - HOUR for t in temp.times] and rain.values == [0.0, 0.0, 0.0]
    assert wind.values == pytest.approx([9.0 / 3.6, 8.3 / 3.6, 6.8 / 3.6])
    assert rain.issued_at == BEFORE_HOURLY.timestamp()


def test_forecast_steps_already_over_are_dropped(ctx):
    later = parse(FIXTURE.read_bytes(), at(ctx, datetime(2026, 10, 2, 22, 40, tzinfo=timezone.utc)))
    (rain,) = forecasts(later, "rain_forecast_mm").values()
    (temp,) = forecasts(later, "air_temp_c").values()
    assert len(rain.values) == 2 and len(temp.values) == 3  # rain 21-22Z is over; 22Z's temperature holds till 23Z
    after = parse(FIXTURE.read_bytes(), at(ctx, CURRENT_AT))
    assert after.forecasts == [] and after.rejected == []
    assert after.observation_count == 2  # current conditions still count


def test_a_forty_nine_hour_answer_gives_48_hourly_steps_from_the_current_hour(rio):
    t0 = now_hour()
    ctx = FeedContext("open_meteo", OpenMeteoOptions(), rio, datetime.fromtimestamp(t0 + 600, timezone.utc))
    ids = rio.zones.ids[:2]
    result = parse(orjson.dumps({"batches": [batch_for(rio, ids, t0)]}), ctx)
    assert result.rejected == []
    rain = forecasts(result, "rain_forecast_mm")[f"open_meteo:{ids[0]}"]
    temp = forecasts(result, "air_temp_c")[f"open_meteo:{ids[0]}"]
    assert len(rain.times) == len(temp.times) == 48
    assert rain.times[0] == temp.times[0] == t0
    assert rain.values[0] == 0.1  # the stamp t0+1h: rain of t0..t0+1h; the stamp t0 (the hour past) is dropped
    assert rain.times[-1] == t0 + 47 * HOUR


def test_parse_needs_no_clock_and_no_network(ctx):
    assert parse(FIXTURE.read_bytes(), ctx) == parse(FIXTURE.read_bytes(), ctx)


# ---- batches ------------------------------------------------------------------------------


def test_batches_map_each_answer_to_the_zone_it_was_asked_for(rio):
    t0 = now_hour()
    ctx = FeedContext("open_meteo", OpenMeteoOptions(), rio, datetime.fromtimestamp(t0 + 600, timezone.utc))
    first, second = rio.zones.ids[:3], rio.zones.ids[3:4]  # the second batch answers one object, not a list
    document = {"batches": [batch_for(rio, first, t0), batch_for(rio, second, t0)]}
    for n, item in enumerate(document["batches"][0]["results"]):
        item["current"]["temperature_2m"] = 20.0 + n
    result = parse(orjson.dumps(document), ctx)
    assert result.rejected == []
    temps = values(result, "air_temp_c")
    assert {k: v for k, (v, _) in temps.items()} == {
        f"open_meteo:{first[0]}": 20.0, f"open_meteo:{first[1]}": 21.0, f"open_meteo:{first[2]}": 22.0,
        f"open_meteo:{second[0]}": 24.5}
    assert {e.zone_id for e in result.entities} == set(first + second)
    assert len(forecasts(result, "rain_forecast_mm")) == 4


def test_a_batch_answering_more_or_fewer_locations_than_asked_rejects_its_zones_only(rio):
    t0 = now_hour()
    ctx = FeedContext("open_meteo", OpenMeteoOptions(), rio, datetime.fromtimestamp(t0 + 600, timezone.utc))
    good, short = rio.zones.ids[:2], rio.zones.ids[2:5]
    broken = batch_for(rio, short, t0)
    broken["results"] = broken["results"][:2]
    result = parse(orjson.dumps({"batches": [batch_for(rio, good, t0), broken]}), ctx)
    assert set(values(result, "air_temp_c")) == {f"open_meteo:{z}" for z in good}
    assert {r.entity_id for r in result.rejected} == {f"open_meteo:{z}" for z in short}
    assert all("answered 2 locations for 3 zones" in r.reason for r in result.rejected)


def test_answers_out_of_order_unknown_or_repeated_zones_are_rejected(rio):
    t0 = now_hour()
    ctx = FeedContext("open_meteo", OpenMeteoOptions(), rio, datetime.fromtimestamp(t0 + 600, timezone.utc))
    far = [z for z, (lon, lat) in zip(rio.zones.ids, rio.zones.representative_points) if lon < -43.6][:1]
    near = [z for z, (lon, lat) in zip(rio.zones.ids, rio.zones.representative_points) if lon > -43.2][:1]
    swapped = batch_for(rio, far + near, t0)
    swapped["results"].reverse()
    document = {"batches": [swapped, batch_for(rio, near, t0),
                            {"zones": ["no-such-zone"], "results": location(-22.9, -43.2, t0)}]}
    result = parse(orjson.dumps(document), ctx)
    reasons = {r.entity_id: r.reason for r in result.rejected}
    assert "out of order" in reasons[f"open_meteo:{far[0]}"]
    assert "not a zone of this city" in reasons["open_meteo:no-such-zone"]
    assert set(values(result, "air_temp_c")) == {f"open_meteo:{near[0]}"}  # kept once, from the second batch
    assert len(result.rejected) == 3


def test_a_batch_whose_body_could_not_be_read_rejects_its_zones_and_keeps_the_rest(rio):
    t0 = now_hour()
    ctx = FeedContext("open_meteo", OpenMeteoOptions(), rio, datetime.fromtimestamp(t0 + 600, timezone.utc))
    document = {"batches": [batch_for(rio, rio.zones.ids[:2], t0),
                            {"zones": rio.zones.ids[2:4], "error": "Open-Meteo payload is an HTML/XML page"}]}
    result = parse(orjson.dumps(document), ctx)
    assert len(values(result, "air_temp_c")) == 2 and len(result.rejected) == 2
    assert all("HTML" in r.reason for r in result.rejected)
    document["batches"] = document["batches"][1:]
    with pytest.raises(ParseError, match="no Open-Meteo batch could be read.*HTML"):
        parse(orjson.dumps(document), ctx)


# ---- units --------------------------------------------------------------------------------


def test_units_are_converted_from_the_units_blocks(rio):
    t0 = now_hour()
    ctx = FeedContext("open_meteo", OpenMeteoOptions(), rio, datetime.fromtimestamp(t0 + 600, timezone.utc))
    (zone,) = rio.zones.ids[:1]
    answer = batch_for(rio, [zone], t0, rain=[1.0] * 49, temp=[68.0] * 49, wind=[10.0] * 49)
    item = answer["results"]
    item["current_units"] = {"temperature_2m": "°F", "wind_speed_10m": "kn"}
    item["current"].update(temperature_2m=212.0, wind_speed_10m=10.0)
    item["hourly_units"] = {"precipitation": "inch", "temperature_2m": "°F", "wind_speed_10m": "mp/h"}
    result = parse(orjson.dumps({"batches": [answer]}), ctx)
    eid = f"open_meteo:{zone}"
    assert values(result, "air_temp_c")[eid][0] == pytest.approx(100.0)
    assert values(result, "wind_speed_ms")[eid][0] == pytest.approx(5.14444)
    assert forecasts(result, "rain_forecast_mm")[eid].values[0] == pytest.approx(25.4)
    assert forecasts(result, "air_temp_c")[eid].values[0] == pytest.approx(20.0)
    assert forecasts(result, "wind_speed_ms")[eid].values[0] == pytest.approx(4.4704)


def test_without_units_blocks_the_apis_defaults_are_assumed_and_unknown_units_are_rejected(rio):
    t0 = now_hour()
    ctx = FeedContext("open_meteo", OpenMeteoOptions(), rio, datetime.fromtimestamp(t0 + 600, timezone.utc))
    (zone,) = rio.zones.ids[:1]
    item = batch_for(rio, [zone], t0, wind=[36.0] * 49)["results"]
    del item["current_units"], item["hourly_units"]
    item["current"]["wind_speed_10m"] = 18.0
    eid = f"open_meteo:{zone}"
    result = parse(orjson.dumps({"zones": [zone], "results": item}), ctx)  # the flat one-batch form too
    assert values(result, "wind_speed_ms")[eid][0] == pytest.approx(5.0)  # km/h, the API's default
    assert forecasts(result, "wind_speed_ms")[eid].values[0] == pytest.approx(10.0)
    item["hourly_units"] = {"precipitation": "furlongs"}
    result = parse(orjson.dumps({"zones": [zone], "results": item}), ctx)
    assert "rain_forecast_mm" not in {f.kind for f in result.forecasts}
    assert any("unknown unit 'furlongs'" in r.reason for r in result.rejected)


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b" \n", "empty"),
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML"),
        (b'{"latitude": 52.27, "longitude": 6.87, "hourly": {"time": [', "not JSON"),
        (b"42", "JSON object or list"),
        (b"null", "JSON object or list"),
        (b'{"error": true, "reason": "Cannot initialize WeatherVariable from invalid String value foo"}',
         "answered an error: Cannot initialize"),
        (b'{"objects": []}', "not an Open-Meteo answer"),
        (b'{"batches": {"zones": []}}', "'batches' list"),
        (b'{"batches": []}', "'batches' list"),
    ],
)
def test_a_payload_that_cannot_be_read_is_a_parse_error(ctx, payload, reason):
    with pytest.raises(ParseError, match=reason):
        parse(payload, ctx)


def test_a_truncated_fixture_is_a_parse_error(ctx):
    body = FIXTURE.read_bytes()
    with pytest.raises(ParseError, match="not JSON"):
        parse(body[: len(body) // 2], ctx)


def test_hourly_arrays_of_unequal_length_reject_that_forecast_only(ctx):
    document = orjson.loads(FIXTURE.read_bytes())
    document["hourly"]["precipitation"] = [0.0, 0.1]
    result = parse(orjson.dumps(document), ctx)
    assert {f.kind for f in result.forecasts} == {"air_temp_c", "wind_speed_ms"}
    (rejection,) = result.rejected
    assert rejection.kind == "rain_forecast_mm"
    assert "unequal length: time has 3 steps, precipitation 2" in rejection.reason


def test_wrong_types_and_missing_fields_reject_only_what_they_touch(ctx):
    document = orjson.loads(FIXTURE.read_bytes())
    document["current_weather"]["temperature"] = "warm"
    document["hourly"]["temperature_2m"] = [11.8, None, True]
    del document["hourly"]["windspeed_10m"]
    result = parse(orjson.dumps(document), ctx)
    assert result.observation_count == 1  # the wind reading
    reasons = sorted((r.kind, r.reason) for r in result.rejected)
    assert len(reasons) == 3
    assert reasons[0][0] == "air_temp_c" and "2 forecast steps dropped, e.g. hourly temperature_2m: no value (null)" in reasons[0][1]
    assert reasons[1] == ("air_temp_c", "current temperature: 'warm' is not a number")
    assert reasons[2] == ("wind_speed_ms", "no hourly wind_speed_10m in the answer")
    assert forecasts(result, "air_temp_c").popitem()[1].values == [11.8]


def test_bad_times_or_missing_blocks_are_rejected_with_reasons(ctx):
    document = orjson.loads(FIXTURE.read_bytes())
    document["current_weather"]["time"] = "yesterday"
    document["hourly"]["time"][1] = None
    result = parse(orjson.dumps(document), ctx)
    assert result.observation_count == 0 and result.forecasts == []
    assert len(result.entities) == 1
    reasons = [r.reason for r in result.rejected]
    assert reasons.count("time 'yesterday' is not an ISO 8601 time") == 2
    assert sum("hourly.time: time None is not a time" in r for r in reasons) == 3
    del document["current_weather"], document["hourly"]
    reasons = [r.reason for r in parse(orjson.dumps(document), ctx).rejected]
    assert sum("no current conditions" in r for r in reasons) == 2
    assert sum("no hourly forecast" in r for r in reasons) == 3


def test_raw_locations_outside_the_city_swapped_or_repeated_are_rejected(ctx, city):
    fixture = orjson.loads(FIXTURE.read_bytes())
    inside = fixture
    same_zone = {**fixture, "latitude": 52.277}
    swapped = {**fixture, "latitude": 6.8729997, "longitude": 52.276}
    far = {**fixture, "latitude": -22.9, "longitude": -43.2}
    nowhere = {**fixture, "latitude": "52.2"}
    offshore = {**fixture, "latitude": 52.36, "longitude": 6.95}  # past the north edge: the nearest zone
    result = parse(orjson.dumps([inside, same_zone, swapped, far, nowhere, offshore, "junk"]), ctx)
    assert [e.zone_id for e in result.entities] == [city.zones.assign([(6.8729997, 52.276)])[0], "z3-3"]
    reasons = [r.reason for r in result.rejected]
    assert len(reasons) == 5
    assert any("already gave" in r for r in reasons)
    assert any("looks swapped" in r for r in reasons)
    assert any("outside the city" in r for r in reasons)
    assert sum("no numeric latitude/longitude" in r for r in reasons) == 2


def test_an_error_object_in_a_list_is_rejected_alone(rio):
    t0 = now_hour()
    ctx = FeedContext("open_meteo", OpenMeteoOptions(), rio, datetime.fromtimestamp(t0 + 600, timezone.utc))
    answer = batch_for(rio, rio.zones.ids[:2], t0)
    answer["results"][1] = {"error": True, "reason": "No data is available for this location"}
    result = parse(orjson.dumps({"batches": [answer]}), ctx)
    assert len(result.entities) == 1
    (rejection,) = result.rejected
    assert "No data is available" in rejection.reason and rejection.entity_id == f"open_meteo:{rio.zones.ids[1]}"


# ---- configuration ------------------------------------------------------------------------


def test_the_options_are_validated():
    assert OpenMeteoOptions().batch_size == 50 and OpenMeteoOptions().forecast_hours == 48
    for bad in ({"url": "ftp://x"}, {"batch_size": 0}, {"forecast_hours": 0}, {"surprise": 1}):
        with pytest.raises(ValueError):
            OpenMeteoOptions(**bad)


def test_an_interval_that_would_exceed_the_free_apis_limits_is_refused(tmp_path):
    (tmp_path / "city").mkdir()
    zones = (CITIES_DIR / "rio" / "bairros.geojson").read_bytes()
    (tmp_path / "city" / "bairros.geojson").write_bytes(zones)
    (tmp_path / "city" / "rules.yaml").write_bytes((CITIES_DIR / "rio" / "rules.yaml").read_bytes())
    text = (CITIES_DIR / "rio" / "live.yaml").read_text()
    path = tmp_path / "city" / "live.yaml"
    path.write_text(text.replace("interval_s: 3600", "interval_s: 900"))
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    (problem,) = refused.value.problems
    assert "166 zones polled every 900 s make ~15,936 Open-Meteo calls a day" in problem
    assert "interval_s >= 1435" in problem
    path.write_text(text.replace("interval_s: 3600", "interval_s: 900").replace(
        "batch_size: 50", "batch_size: 50\n      free_api_limits: false"))
    assert load_settings(path).feeds["open_meteo"].interval_s == 900


def test_rios_live_config_enables_open_meteo_beside_alerta_rio_and_no_simulator():
    settings = load_settings(CITIES_DIR / "rio" / "live.yaml")
    assert set(settings.enabled_feeds()) == {"alerta_rio", "open_meteo"}
    assert not settings.simulated
    assert settings.feeds["open_meteo"].interval_s == 3600


# ---- end to end ---------------------------------------------------------------------------


def answering(t0, requests, fail_batch=None):
    """A local Open-Meteo: answers each location asked, at the coordinates asked."""

    def respond(n, handler):
        query = parse_qs(urlsplit(handler.path).query)
        requests.append(query)
        if n == fail_batch:
            return send(handler, 200, b"<html><body>Maintenance</body></html>")
        lats = [float(v) for v in query["latitude"][0].split(",")]
        lons = [float(v) for v in query["longitude"][0].split(",")]
        steps = int(query["forecast_hours"][0])
        answers = [location(lat, lon, t0, steps=steps) for lat, lon in zip(lats, lons)]
        send(handler, 200, orjson.dumps(answers[0] if len(answers) == 1 else answers))

    return respond


def local(settings, url, **options):
    return settings.model_copy(update={"feeds": {"open_meteo": FeedSettings(options={"url": url, **options})}})


def test_a_poll_asks_in_batches_and_stores_every_zones_forecast(rio, redis_client):
    t0 = now_hour()
    requests = []
    assert "open_meteo" in FEEDS
    with serving(answering(t0, requests)) as server:
        result = jobs.poll_feed("open_meteo", local(rio, server.url + "/v1/forecast"), Store(redis_client))
    assert [len(q["latitude"][0].split(",")) for q in requests] == [50, 50, 50, 16]
    assert [len(q["longitude"][0].split(",")) for q in requests] == [50, 50, 50, 16]
    assert server.paths[0].startswith("/v1/forecast?latitude=") and "%2C" not in server.paths[0]
    first = requests[0]
    assert first["hourly"] == ["precipitation,temperature_2m,wind_speed_10m"]
    assert first["current"] == ["temperature_2m,wind_speed_10m"]
    assert first["forecast_hours"] == ["49"] and first["timezone"] == ["GMT"]
    assert first["timeformat"] == ["unixtime"] and first["wind_speed_unit"] == ["ms"]
    asked = [float(v) for q in requests for v in q["latitude"][0].split(",")]
    assert asked == [round(lat, 4) for _, lat in rio.zones.representative_points]

    store = Store(redis_client)
    assert result["rejected"] == 0 and result["stored"] == 166 * 2 + 166 * 3 * 48
    rain = store.forecasts("rain_forecast_mm")
    assert set(rain) == {f"open_meteo:{z}" for z in rio.zones.ids}
    series = rain[f"open_meteo:{rio.zones.ids[0]}"]
    assert len(series["t"]) == 48 and series["t"][0] == t0 and series["s"] == "open_meteo"
    assert len(store.forecasts("air_temp_c")) == 166
    temps = store.latest("air_temp_c")
    assert len(temps) == 166 and temps[f"open_meteo:{rio.zones.ids[5]}"][0] == 24.5
    entities = store.entities()
    assert all(entities[f"open_meteo:{z}"]["zone_id"] == z for z in rio.zones.ids)
    assert store.feed_health("open_meteo")["status"] == "ok"


def test_a_batch_answered_with_an_html_page_degrades_the_poll_and_keeps_the_others(rio, redis_client):
    t0 = now_hour()
    requests = []
    with serving(answering(t0, requests, fail_batch=2)) as server:
        result = jobs.poll_feed("open_meteo", local(rio, server.url + "/v1/forecast"), Store(redis_client))
    assert len(requests) == 4
    assert result["rejected"] == 50
    store = Store(redis_client)
    assert len(store.latest("air_temp_c")) == 116 and len(store.forecasts("rain_forecast_mm")) == 116
    health = store.feed_health("open_meteo")
    assert health["status"] == "degraded" and "HTML" in health["last_rejection"]


def test_a_poll_of_an_unreachable_server_is_recorded_as_a_fetch_failure(rio, redis_client):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = Store(redis_client)
    assert jobs.poll_feed("open_meteo", local(rio, f"http://127.0.0.1:{port}/v1/forecast"), store)["failed"]
    health = store.feed_health("open_meteo")
    assert health["status"] == "failing" and health["last_error_kind"] == "connection"


def test_ingest_of_the_recorded_answer_through_the_cli_shows_in_state(city, redis_client, redis_server):
    env = clean_env(REDIS_URL=redis_server.url, OPSCENTRE_CONFIG=str(city.source_path))
    result = opscentre("ingest", "open_meteo", str(FIXTURE), "--as-of", "2026-10-03T09:20:00Z", env=env)
    assert result.returncode == 0, result.stderr
    assert "open_meteo: 2 items stored, 0 rejected" in result.stdout
    state = orjson.loads(opscentre("state", "--json", env=env).stdout)
    rows = {r["kind"]: r for r in state["observations"] if r["source"] == "open_meteo"}
    assert rows["air_temp_c"]["value"] == 16.2 and rows["air_temp_c"]["unit"] == "°C"
    assert rows["air_temp_c"]["observed_at"] == "2026-10-03T09:15:00Z"
    assert rows["wind_speed_ms"]["value"] == pytest.approx(4.0 / 3.6)
    assert rows["air_temp_c"]["zone_id"] == city.zones.assign([(6.8729997, 52.276)])[0]
    assert state["feeds"]["open_meteo"]["status"] == "ok"
