"""The USGS Instantaneous Values feed: gage height and discharge per site.

Fixture: `tests/fixtures/usgs_iv/waterservices_iv_2sites.json`, a real NWIS IV answer (WaterML-JSON)
for sites 01491000 (Choptank River near Greensboro, MD) and 01645000 (Seneca Creek at
Dawsonville, MD), parameters 00060 and 00065, 2020-02-13 — copied from DOI-USGS/dataretrieval-python
`tests/data/waterservices_iv.json` @ f362e86c (via /work/shared/fixtures/usgs_water). The city is
a grid over central Maryland; thresholds are configured (USGS carries none) and invented.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from opscentre.core.errors import ConfigError, FetchError, ParseError
from opscentre.core.store import Store
from opscentre.dashboard.city_reading import read_city_data
from opscentre.layers import LAYERS
from opscentre.workers import jobs
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.usgs_iv import UsgsIvOptions, fetch, parse

from tests.cli_helpers import clean_env, opscentre
from tests.conftest import FIXTURES
from tests.workers.feeds.city_config import grid_city
from tests.workers.feeds.local_http import send, serving

FIXTURE = FIXTURES / "usgs_iv" / "waterservices_iv_2sites.json"
MARYLAND = (-78.0, 38.5, -75.5, 39.5)
SITES = ["01491000", "01645000"]
THRESHOLDS = {"01491000": {"attention_m": 1.5, "alert_m": 2.0, "overflow_m": 2.6}}
OPTIONS = {"sites": SITES, "thresholds": THRESHOLDS}
JUST_AFTER = datetime(2020, 2, 13, 23, 0, tzinfo=timezone.utc)
CHOPTANK_AT = datetime(2020, 2, 13, 22, 15, tzinfo=timezone.utc).timestamp()  # 17:15 EST
SENECA_AT = datetime(2020, 2, 13, 21, 50, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def city(tmp_path):
    return grid_city(tmp_path / "city", bbox=MARYLAND, tz="America/New_York", feeds={"usgs_iv": {"options": OPTIONS}})


@pytest.fixture
def ctx(city):
    return FeedContext("usgs_iv", UsgsIvOptions(**OPTIONS), city, JUST_AFTER)


def document():
    return orjson.loads(FIXTURE.read_bytes())


def series_of(doc, site, code):
    return next(s for s in doc["value"]["timeSeries"] if s["sourceInfo"]["siteCode"][0]["value"] == site
                and s["variable"]["variableCode"][0]["value"] == code)


def by_kind(result):
    return {b.kind: dict(zip(b.entity_ids, b.values)) for b in result.batches}


def test_the_fixture_gives_two_stations_with_level_and_discharge_in_si_units(ctx):
    result = parse(FIXTURE.read_bytes(), ctx)
    assert result.rejected == []
    kinds = by_kind(result)
    assert kinds["river_level_m"] == {"usgs:01491000": pytest.approx(4.36 * 0.3048, abs=1e-4),
                                      "usgs:01645000": pytest.approx(2.68 * 0.3048, abs=1e-4)}
    assert kinds["river_discharge_m3s"] == {"usgs:01491000": pytest.approx(439 * 0.0283168, rel=1e-5),
                                            "usgs:01645000": pytest.approx(260 * 0.0283168, rel=1e-5)}
    times = {b.kind: dict(zip(b.entity_ids, b.observed_at)) for b in result.batches}
    assert times["river_level_m"] == {"usgs:01491000": CHOPTANK_AT, "usgs:01645000": SENECA_AT}


def test_stations_carry_name_position_and_the_configured_thresholds(ctx):
    stations = {e.entity_id: e for e in parse(FIXTURE.read_bytes(), ctx).entities}
    choptank = stations["usgs:01491000"]
    assert choptank.entity_type == "river_station" and choptank.name == "CHOPTANK RIVER NEAR GREENSBORO, MD"
    assert choptank.geometry == {"type": "Point", "coordinates": [-75.785806, 38.997194]}
    assert {k: choptank.properties[k] for k in ("attention_m", "alert_m", "overflow_m")} == THRESHOLDS["01491000"]
    assert "attention_m" not in stations["usgs:01645000"].properties  # none configured


def test_the_newest_reading_of_a_period_is_the_one_stored(ctx):
    doc = document()
    values = series_of(doc, "01491000", "00065")["values"][0]["value"]
    values[:] = [{"value": "5.00", "qualifiers": ["P"], "dateTime": "2020-02-13T17:30:00.000-05:00"},
                 {"value": "4.36", "qualifiers": ["P"], "dateTime": "2020-02-13T17:15:00.000-05:00"}]
    result = parse(orjson.dumps(doc), ctx)
    assert by_kind(result)["river_level_m"]["usgs:01491000"] == pytest.approx(5.0 * 0.3048, abs=1e-4)
    assert result.rejected == []


def test_the_no_data_value_is_rejected_with_its_reason_and_the_rest_kept(ctx):
    doc = document()
    reading = series_of(doc, "01645000", "00065")["values"][0]["value"][0]
    reading.update(value="-999999", qualifiers=["Ice"])
    result = parse(orjson.dumps(doc), ctx)
    (rejection,) = result.rejected
    assert rejection.entity_id == "usgs:01645000" and rejection.kind == "river_level_m"
    assert "noDataValue -999999" in rejection.reason and "Ice" in rejection.reason
    assert "usgs:01645000" in by_kind(result)["river_discharge_m3s"]


def test_a_station_outside_the_city_or_swapped_is_rejected_whole(ctx):
    doc = document()
    for code in ("00060", "00065"):
        houston = series_of(doc, "01491000", code)["sourceInfo"]["geoLocation"]["geogLocation"]
        houston.update(latitude=29.76, longitude=-95.37)
        where = series_of(doc, "01645000", code)["sourceInfo"]["geoLocation"]["geogLocation"]
        where.update(latitude=where["longitude"], longitude=where["latitude"])
    result = parse(orjson.dumps(doc), ctx)
    assert result.entities == [] and result.batches == []
    reasons = {(r.entity_id, r.kind): r.reason for r in result.rejected}
    assert len(reasons) == 4
    assert "outside the city" in reasons[("usgs:01491000", "river_level_m")]
    assert "swapped" in reasons[("usgs:01645000", "river_discharge_m3s")]


def test_wrong_types_missing_fields_unknown_parameters_and_duplicates_are_rejected(ctx):
    doc = document()
    series = doc["value"]["timeSeries"]
    series_of(doc, "01491000", "00060")["values"][0]["value"][0]["value"] = {"oops": 1}
    series_of(doc, "01645000", "00065")["variable"]["unit"]["unitCode"] = "cm"
    series_of(doc, "01645000", "00060")["values"][0]["value"][0]["dateTime"] = "2020-02-13 16:50"  # no offset
    temperature = copy.deepcopy(series[0])
    temperature["variable"]["variableCode"][0]["value"] = "00010"
    series.extend([temperature, copy.deepcopy(series[1]), "junk", {"variable": {}}])
    result = parse(orjson.dumps(doc), ctx)
    assert by_kind(result) == {"river_level_m": {"usgs:01491000": pytest.approx(4.36 * 0.3048, abs=1e-4)}}
    reasons = [r.reason for r in result.rejected]
    assert len(reasons) == 7
    for expected in ("{'oops': 1} is not a number", "unit 'cm'", "no reading has a dateTime with a UTC offset",
                     "parameter 00010 is not read", "a second time series for site 01491000 parameter 00065",
                     "timeSeries[6] is not an object", "timeSeries[7] has no sourceInfo.siteCode"):
        assert any(expected in r for r in reasons), expected


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"<html><body>Service Unavailable</body></html>", "HTML"),
        (FIXTURE.read_bytes()[:3000], "not JSON"),
        (b"[]", "JSON object"),
        (b'{"value": {"queryInfo": {}}}', "no value.timeSeries list"),
        (b'{"value": {"timeSeries": {"a": 1}}}', "no value.timeSeries list"),
        (b'{"error": "bad request"}', "no value.timeSeries list"),
    ],
)
def test_a_payload_that_is_not_an_iv_answer_is_a_parse_error(ctx, payload, reason):
    with pytest.raises(ParseError, match=reason):
        parse(payload, ctx)


def test_the_options_are_validated_and_checked(city):
    assert UsgsIvOptions().url == "https://waterservices.usgs.gov/nwis/iv/"
    for bad in ({"sites": [1491000]}, {"sites": ["1491"]}, {"parameter_codes": ["00010"]}, {"period": "2 hours"},
                {"period": "PT"}, {"thresholds": {"01491000": {"attention_m": 3, "alert_m": 2}}}, {"surprise": 1},
                {"url": "file:///etc/passwd"}):
        with pytest.raises(ValueError):
            UsgsIvOptions(**bad)
    assert UsgsIvOptions(period="PT2H").period == "PT2H"
    assert UsgsIvOptions().check(city) == ["sites: list at least one USGS site number"]
    assert UsgsIvOptions(sites=["01491000"], thresholds={"09999999": {}}).check(city) == [
        "thresholds: site '09999999' is not in sites"]


def test_a_config_without_sites_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="list at least one USGS site"):
        grid_city(tmp_path, bbox=MARYLAND, tz="America/New_York", feeds={"usgs_iv": {"options": {}}})


def test_fetch_asks_for_the_sites_parameters_and_period(city):
    with serving(lambda n, h: send(h, 200, FIXTURE.read_bytes())) as server:
        options = UsgsIvOptions(url=server.url + "/nwis/iv/", sites=SITES, period="PT2H")
        assert fetch(FeedContext("usgs_iv", options, city, JUST_AFTER)) == FIXTURE.read_bytes()
    assert server.paths == ["/nwis/iv/?format=json&sites=01491000%2C01645000&parameterCd=00065%2C00060&period=PT2H"]
    with pytest.raises(FetchError, match="no sites configured"):
        fetch(FeedContext("usgs_iv", UsgsIvOptions(), city, JUST_AFTER))


def _fresh_fixture(now: datetime) -> bytes:
    doc = document()
    stamp = (now - timedelta(minutes=10)).astimezone(timezone(timedelta(hours=-5))).isoformat(timespec="milliseconds")
    for series in doc["value"]["timeSeries"]:
        series["values"][0]["value"][0]["dateTime"] = stamp
    return orjson.dumps(doc)


def test_a_poll_stores_levels_and_discharges_with_zones(tmp_path, redis_client):
    body = _fresh_fixture(datetime.now(timezone.utc))
    with serving(lambda n, h: send(h, 200, body)) as server:
        settings = grid_city(tmp_path, bbox=MARYLAND, tz="America/New_York",
                             feeds={"usgs_iv": {"options": {**OPTIONS, "url": server.url + "/nwis/iv/"}}})
        store = Store(redis_client)
        assert jobs.poll_feed("usgs_iv", settings, store) == {"feed": "usgs_iv", "stored": 4, "rejected": 0}
    assert set(store.latest("river_level_m")) == {"usgs:01491000", "usgs:01645000"}
    stations = {k: v for k, v in store.entities().items() if k.startswith("usgs:")}
    assert all(s["zone_id"] for s in stations.values())
    assert stations["usgs:01491000"]["properties"]["overflow_m"] == 2.6
    assert store.feed_health("usgs_iv")["status"] == "ok"
    on_map = {f["id"]: f["properties"] for f in LAYERS["rivers"].features(read_city_data(store, settings))}
    assert on_map["usgs:01491000"]["river_class"] == "normal"  # 1.33 m, attention at 1.5 m
    assert on_map["usgs:01645000"]["river_class"] == "no_thresholds"
    assert on_map["usgs:01645000"]["discharge_m3s"] == pytest.approx(7.3624, abs=1e-4)
    assert "usgs_iv" in FEEDS


def test_the_cli_ingests_the_recorded_answer(tmp_path, redis_client, redis_server):
    settings = grid_city(tmp_path, bbox=MARYLAND, tz="America/New_York", feeds={"usgs_iv": {"options": OPTIONS}})
    env = clean_env(REDIS_URL=redis_server.url, OPSCENTRE_CONFIG=str(settings.source_path))
    result = opscentre("ingest", "usgs_iv", str(FIXTURE), "--as-of", "2020-02-13T18:00:00-05:00", env=env)
    assert result.returncode == 0, result.stderr
    assert "usgs_iv: 4 items stored, 0 rejected" in result.stdout
    state = orjson.loads(opscentre("state", "--json", env=env).stdout)
    rows = [r for r in state["observations"] if r["source"] == "usgs_iv"]
    assert {(r["entity_id"], r["kind"]) for r in rows} >= {("usgs:01491000", "river_level_m"),
                                                           ("usgs:01645000", "river_discharge_m3s")}
    # Replayed "now", the 2020 readings are older than the retention window: rejected, with the reason.
    result = opscentre("ingest", "usgs_iv", str(FIXTURE), env=env)
    assert result.returncode == 0 and "0 items stored, 4 rejected" in result.stdout and "retention" in result.stdout
