"""The CEMADEN hydrological feed: river level from the sensor distance, with the station's stages.

Fixture: `tests/fixtures/cemaden/hidrologica_rio_bananeiras_cotas.json`, two hourly readings of
station 311830410H (Rio Bananeiras, Conselheiro Lafaiete, MG; 2024-12-04 23:00 and 2024-12-05
00:00) in the shape of CEMADEN's MedidaResource service, transcribed from andresdiniz/wazeBR
`dados_cemaden.json` @ 2893f26c (via /work/shared/fixtures/cemaden; that repo gives no provenance).
The payload has no coordinates: the tests configure the station at the centre of Conselheiro
Lafaiete (an approximation) in a grid city around it.
"""

from __future__ import annotations

from dataclasses import replace
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
from opscentre.workers.feeds.cemaden import CemadenOptions, fetch, parse

from tests.cli_helpers import clean_env, opscentre
from tests.conftest import FIXTURES
from tests.workers.feeds.city_config import grid_city
from tests.workers.feeds.local_http import send, serving

FIXTURE = FIXTURES / "cemaden" / "hidrologica_rio_bananeiras_cotas.json"
LAFAIETE = (-43.9, -20.75, -43.7, -20.55)
STATION = "311830410H"
ENTITY = f"cemaden:{STATION}"
OPTIONS = {"stations": {STATION: {"est": 6622, "lat": -20.66, "lon": -43.786}}}
NEWEST_UTC = datetime(2024, 12, 5, 0, 0, tzinfo=timezone.utc).timestamp()
JUST_AFTER = datetime(2024, 12, 5, 0, 30, tzinfo=timezone.utc)


@pytest.fixture
def city(tmp_path):
    return grid_city(tmp_path / "city", bbox=LAFAIETE, tz="America/Sao_Paulo", feeds={"cemaden": {"options": OPTIONS}})


@pytest.fixture
def ctx(city):
    return FeedContext("cemaden", CemadenOptions(**OPTIONS), city, JUST_AFTER)


def readings():
    return orjson.loads(FIXTURE.read_bytes())


def reading(**changes):
    return {**readings()[1], **changes}


def levels(result):
    return {e: (v, t) for b in result.batches for e, v, t in zip(b.entity_ids, b.values, b.observed_at)}


def test_the_fixture_gives_the_newest_level_as_offset_minus_valor_in_metres(ctx):
    result = parse(FIXTURE.read_bytes(), ctx)
    assert result.rejected == []
    assert levels(result) == {ENTITY: (pytest.approx(7.714 - 6.96), NEWEST_UTC)}  # 0.754 m at 00:00 UTC
    (batch,) = result.batches
    assert batch.kind == "river_level_m" and batch.source == "cemaden"


def test_the_station_carries_its_stage_levels_under_the_shared_names(ctx):
    (station,) = parse(FIXTURE.read_bytes(), ctx).entities
    assert station.entity_id == ENTITY and station.entity_type == "river_station" and station.name == "Rio Bananeiras"
    assert station.geometry == {"type": "Point", "coordinates": [-43.786, -20.66]}
    props = station.properties
    assert (props["attention_m"], props["alert_m"], props["overflow_m"]) == (2.55, 3.40, 4.25)
    assert props["city"] == "CONSELHEIRO LAFAIETE" and props["state"] == "MG" and props["sensor_offset_m"] == 7.714


def test_a_station_reporting_its_level_directly_can_be_read_from_valor(ctx):
    result = parse(FIXTURE.read_bytes(), replace(ctx, options=CemadenOptions(**OPTIONS, level_field="valor")))
    assert levels(result)[ENTITY][0] == 6.96


def test_naive_times_are_utc_or_if_configured_the_city_time(ctx):
    local = parse(FIXTURE.read_bytes(), replace(ctx, options=CemadenOptions(**OPTIONS, naive_times="local")))
    assert levels(local)[ENTITY][1] == NEWEST_UTC + 3 * 3600  # 00:00 in São Paulo is 03:00 UTC
    for text in ("2024-12-05T00:00:00Z", "2024-12-04T21:00:00-03:00"):
        assert levels(parse(orjson.dumps([reading(datahora=text)]), ctx))[ENTITY][1] == NEWEST_UTC


def test_a_position_in_the_payload_wins_and_a_station_without_any_is_rejected(ctx):
    other = reading(codigo="999999999H", estacao="Outra", latitude="-20.60", longitude="-43.80")
    unknown = reading(codigo="888888888H", estacao="Sem lugar")
    result = parse(orjson.dumps([reading(), other, unknown]), ctx)
    stations = {e.entity_id: e for e in result.entities}
    assert stations["cemaden:999999999H"].geometry["coordinates"] == [-43.8, -20.6]
    (rejection,) = result.rejected
    assert rejection.entity_id == "cemaden:888888888H"
    assert "add station 888888888H to options.stations" in rejection.reason


def test_positions_outside_the_city_or_swapped_are_rejected(ctx):
    far = reading(codigo="1H", latitude=-22.9, longitude=-43.2)  # Rio de Janeiro
    swapped = reading(codigo="2H", latitude=-43.79, longitude=-20.66)
    result = parse(orjson.dumps([far, swapped]), ctx)
    reasons = {r.entity_id: r.reason for r in result.rejected}
    assert "outside the city" in reasons["cemaden:1H"] and "swapped" in reasons["cemaden:2H"]


def test_bad_values_reject_only_their_station(ctx):
    payload = [
        reading(),
        reading(codigo="A", latitude=-20.6, longitude=-43.8, valor="ND"),
        reading(codigo="B", latitude=-20.6, longitude=-43.8, offset=None),
        reading(codigo="C", latitude=-20.6, longitude=-43.8, cota_alerta="alto"),
        reading(codigo="D", latitude=-20.6, longitude=-43.8, cota_alerta="1.00"),
        reading(codigo="E", latitude=-20.6, longitude=-43.8, datahora="ontem"),
        reading(codigo=None),
        reading(codigo="F", latitude=-20.6, longitude=-43.8, valor=True),
        "junk",
    ]
    result = parse(orjson.dumps(payload), ctx)
    assert set(levels(result)) == {ENTITY}
    reasons = [r.reason for r in result.rejected]
    assert len(reasons) == 8
    for expected in ("valor 'ND' is not a number", "offset None is not a number", "cota_alerta 'alto' is not a number",
                     "stage levels do not rise", "datahora 'ontem' is not a time", "has no station code",
                     "valor True is not a number", "reading [8] is not an object"):
        assert any(expected in r for r in reasons), expected


def test_missing_stage_levels_are_left_out_and_decimal_commas_read(ctx):
    # A station code of its own: an entity's first description is the one kept (EntityValidator).
    row = reading(codigo="NOSTAGES", latitude=-20.6, longitude=-43.8, cota_atencao="", cota_alerta=None,
                  cota_transbordamento="4,25", valor="6,5")
    del row["cota_alerta"]
    result = parse(orjson.dumps([row]), ctx)
    (station,) = result.entities
    assert station.properties["overflow_m"] == 4.25 and "attention_m" not in station.properties
    assert "alert_m" not in station.properties
    assert levels(result)["cemaden:NOSTAGES"][0] == pytest.approx(1.214)


def test_duplicate_readings_count_once(ctx):
    rows = readings() + readings()
    result = parse(orjson.dumps(rows), ctx)
    assert result.rejected == [] and levels(result) == {ENTITY: (pytest.approx(0.754), NEWEST_UTC)}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"<html><head><title>503</title></head></html>", "HTML"),
        (FIXTURE.read_bytes()[:300], "not JSON"),
        (b'{"codigo": "311830410H"}', "JSON list of readings"),
        (b'"ok"', "JSON list of readings"),
    ],
)
def test_a_payload_that_is_not_a_list_of_readings_is_a_parse_error(ctx, payload, reason):
    with pytest.raises(ParseError, match=reason):
        parse(payload, ctx)


def test_the_ped_wrapper_and_an_empty_list_are_read(ctx):
    assert levels(parse(orjson.dumps({"data": readings()}), ctx)) == {ENTITY: (pytest.approx(0.754), NEWEST_UTC)}
    assert parse(b"[]", ctx).batches == []


def test_the_options_are_validated_and_checked(city):
    for bad in ({"stations": {"X": {"lat": 100, "lon": 0}}}, {"naive_times": "brt"}, {"level_field": "nivel"},
                {"surprise": 1}, {"url": "ftp://x"}):
        with pytest.raises(ValueError):
            CemadenOptions(**bad)
    assert CemadenOptions().check(city) == ["stations: list at least one station (code, est, lat, lon)"]
    stations = {"A": {"lat": -20.66, "lon": -43.79}, "B": {"est": 2, "lat": -43.79, "lon": -20.66}}
    assert CemadenOptions(stations=stations).check(city) == [
        "stations.A: no `est` (the station id to ask the service for)",
        "stations.B: latitude -43.79, longitude -20.66 look swapped (they fit the city the other way round)"]


def test_a_config_without_stations_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="list at least one station"):
        grid_city(tmp_path, bbox=LAFAIETE, tz="America/Sao_Paulo", feeds={"cemaden": {"options": {}}})


def test_fetch_asks_each_station_and_joins_the_readings(city):
    body = FIXTURE.read_bytes()
    with serving(lambda n, h: send(h, 200, body if "est=6622" in h.path else b"[]")) as server:
        stations = {STATION: OPTIONS["stations"][STATION], "X": {"est": 7, "lat": -20.6, "lon": -43.8}}
        options = CemadenOptions(url=server.url + "/MedidaResource.php", hours=24, stations=stations)
        payload = fetch(FeedContext("cemaden", options, city, JUST_AFTER))
    assert server.paths == ["/MedidaResource.php?est=6622&sen=20&pag=24", "/MedidaResource.php?est=7&sen=20&pag=24"]
    assert orjson.loads(payload) == readings()
    with pytest.raises(FetchError, match="no station configured"):
        fetch(FeedContext("cemaden", CemadenOptions(), city, JUST_AFTER))


def test_a_station_answering_an_html_page_fails_the_fetch_with_the_reason(city):
    with serving(lambda n, h: send(h, 200, b"<html>erro</html>")) as server:
        options = CemadenOptions(url=server.url + "/m", stations=OPTIONS["stations"])
        with pytest.raises(ParseError, match="HTML"):
            fetch(FeedContext("cemaden", options, city, JUST_AFTER))


def test_a_poll_stores_the_level_and_the_station_with_its_thresholds(tmp_path, redis_client):
    now = datetime.now(timezone.utc)
    rows = readings()
    for i, row in enumerate(rows):
        row["datahora"] = (now - timedelta(hours=len(rows) - i)).strftime("%Y-%m-%d %H:00:00")
    with serving(lambda n, h: send(h, 200, orjson.dumps(rows))) as server:
        settings = grid_city(tmp_path, bbox=LAFAIETE, tz="America/Sao_Paulo",
                             feeds={"cemaden": {"options": {**OPTIONS, "url": server.url + "/m"}}})
        store = Store(redis_client)
        assert jobs.poll_feed("cemaden", settings, store) == {"feed": "cemaden", "stored": 1, "rejected": 0}
    assert store.latest("river_level_m")[ENTITY][0] == pytest.approx(0.754)
    station = store.entities()[ENTITY]
    assert station["zone_id"] and station["properties"]["overflow_m"] == 4.25
    assert store.feed_health("cemaden")["status"] == "ok"
    (on_map,) = LAYERS["rivers"].features(read_city_data(store, settings))
    assert on_map["properties"]["river_class"] == "normal" and on_map["properties"]["overflow_m"] == 4.25
    assert "cemaden" in FEEDS


def test_the_cli_ingests_the_recorded_readings(tmp_path, redis_client, redis_server):
    settings = grid_city(tmp_path, bbox=LAFAIETE, tz="America/Sao_Paulo", feeds={"cemaden": {"options": OPTIONS}})
    env = clean_env(REDIS_URL=redis_server.url, OPSCENTRE_CONFIG=str(settings.source_path))
    result = opscentre("ingest", "cemaden", str(FIXTURE), "--as-of", "2024-12-05T00:20:00Z", env=env)
    assert result.returncode == 0, result.stderr
    assert "cemaden: 1 items stored, 0 rejected" in result.stdout
    state = orjson.loads(opscentre("state", "--json", env=env).stdout)
    (row,) = [r for r in state["observations"] if r["source"] == "cemaden"]
    assert row["entity_id"] == ENTITY and row["value"] == pytest.approx(0.754) and row["zone_id"]
