"""The Alerta Rio rain-gauge feed: parse on a fixture, bad inputs, and a poll end to end.

No real response of `https://websempre.rio.rj.gov.br/json/chuvas` was found publicly, so the
fixture `tests/fixtures/alerta_rio/chuvas_documented_shape.json` is *built from the documented
shape* (rio_domain.md §2.4: `{"objects":[{"kind":"pluviometric","read_at","name","is_new",
"location":[lat,lon],"data":{m05..mes}}]}`) with the 33 real stations' names and coordinates
and invented, plausible values (some as numeric strings, a few "ND"/null).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from opscentre.core.errors import ParseError
from opscentre.core.settings import FeedSettings, load_settings
from opscentre.core.store import Store
from opscentre.workers import jobs
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.alerta_rio import AlertaRioOptions, parse, slug, station_id
from opscentre.workers.feeds.base import FeedContext

from tests.conftest import FIXTURES

FIXTURE = FIXTURES / "alerta_rio" / "chuvas_documented_shape.json"
REPO = Path(__file__).resolve().parents[3]
SP = ZoneInfo("America/Sao_Paulo")


@pytest.fixture(scope="module")
def settings():
    return load_settings(REPO / "opscentre" / "cities" / "rio" / "demo.yaml")


@pytest.fixture
def ctx(settings):
    return FeedContext("alerta_rio", AlertaRioOptions(), settings, datetime.now(timezone.utc))


def payload_with(objects) -> bytes:
    return orjson.dumps({"objects": objects})


def station(name="Vidigal", location=(-22.9925, -43.233056), read_at="2026-02-11T10:15:00", **data):
    values = {"m05": 0.0, "m15": 1.2, "h01": 3.4, "h02": 4, "h03": 5, "h04": 6, "h24": 10.2, "h96": 30.5, "mes": 80}
    values.update(data)
    return {"kind": "pluviometric", "read_at": read_at, "name": name, "is_new": False,
            "location": None if location is None else list(location), "data": values}


def by_kind(result):
    return {b.kind: dict(zip(b.entity_ids, b.values)) for b in result.batches}


# ---- the fixture ------------------------------------------------------------------------


def test_the_fixture_gives_33_gauges_and_the_four_kinds(ctx):
    result = parse(FIXTURE.read_bytes(), ctx)
    assert len(result.entities) == 33
    assert len({e.entity_id for e in result.entities}) == 33
    assert all(e.entity_type == "rain_gauge" and e.source == "alerta_rio" for e in result.entities)
    kinds = by_kind(result)
    assert set(kinds) == {"rain_mm", "rain_1h_mm", "rain_24h_mm", "rain_96h_mm"}
    assert len(kinds["rain_mm"]) == 32 and len(kinds["rain_1h_mm"]) == 32
    assert len(kinds["rain_24h_mm"]) == 33 and len(kinds["rain_96h_mm"]) == 32
    assert result.observation_count == 33 * 4 - 3


def test_geometry_is_geojson_lon_lat_and_ids_are_stable_slugs(ctx):
    result = parse(FIXTURE.read_bytes(), ctx)
    entities = {e.entity_id: e for e in result.entities}
    vidigal = entities["alerta-rio:vidigal"]
    assert vidigal.name == "Vidigal"
    assert vidigal.geometry == {"type": "Point", "coordinates": [-43.233056, -22.9925]}
    assert "alerta-rio:jacarepagua-tanque" in entities
    assert "alerta-rio:est-grajau-jacarepagua" in entities
    assert "alerta-rio:sao-cristovao" in entities
    assert slug("Av. Brasil/Mendanha") == "av-brasil-mendanha"
    assert station_id("Grande Méier") == "alerta-rio:grande-meier"


def test_numeric_strings_are_accepted(ctx):
    document = orjson.loads(FIXTURE.read_bytes())
    urca = document["objects"][1]
    assert isinstance(urca["data"]["m15"], str)  # the fixture really carries strings here
    kinds = by_kind(parse(FIXTURE.read_bytes(), ctx))
    assert kinds["rain_mm"]["alerta-rio:urca"] == float(urca["data"]["m15"])
    assert kinds["rain_24h_mm"]["alerta-rio:urca"] == float(urca["data"]["h24"])


def test_no_data_values_are_rejected_with_a_reason_and_the_rest_kept(ctx):
    result = parse(FIXTURE.read_bytes(), ctx)
    rejected = {(r.entity_id, r.kind): r.reason for r in result.rejected}
    assert len(rejected) == 3
    assert "no data" in rejected[("alerta-rio:tijuca", "rain_mm")] and "ND" in rejected[("alerta-rio:tijuca", "rain_mm")]
    assert "null" in rejected[("alerta-rio:piedade", "rain_96h_mm")]
    assert ("alerta-rio:santa-cruz", "rain_1h_mm") in rejected
    kinds = by_kind(result)
    assert "alerta-rio:tijuca" in kinds["rain_1h_mm"]  # its other readings are kept


def test_a_naive_read_at_is_sao_paulo_local_time(ctx):
    result = parse(FIXTURE.read_bytes(), ctx)
    expected = datetime(2026, 2, 11, 10, 15, tzinfo=SP).timestamp()
    assert expected == datetime(2026, 2, 11, 13, 15, tzinfo=timezone.utc).timestamp()  # UTC-3
    assert {t for b in result.batches for t in b.observed_at} == {expected}


def test_read_at_with_an_offset_or_z_is_taken_as_given(ctx):
    for text, utc_hour in (("2026-02-11T10:15:00-03:00", 13), ("2026-02-11T13:15:00Z", 13),
                           ("2026-02-11 10:15:00", 13), ("2026-02-11T12:15:00+00:00", 12)):
        result = parse(payload_with([station(read_at=text)]), ctx)
        assert result.batches[0].observed_at == [datetime(2026, 2, 11, utc_hour, 15, tzinfo=timezone.utc).timestamp()]


def test_parse_works_without_a_context():
    result = parse(FIXTURE.read_bytes())
    assert len(result.entities) == 33 and result.observation_count == 33 * 4 - 3


# ---- bad inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<!DOCTYPE html><html><body>Manuten\xc3\xa7\xc3\xa3o</body></html>", "HTML"),
        (b'{"objects": [{"kind": "pluviometric", "name": "Vid', "not JSON"),
        (b'{"objects": {"kind": "pluviometric"}}', "'objects' list"),
        (b'{"results": []}', "'objects' list"),
        (b"[1, 2]", "JSON object"),
        (b"null", "JSON object"),
    ],
)
def test_a_payload_that_cannot_be_read_is_a_parse_error(ctx, payload, reason):
    with pytest.raises(ParseError, match=reason):
        parse(payload, ctx)


def test_a_truncated_fixture_is_a_parse_error(ctx):
    body = FIXTURE.read_bytes()
    with pytest.raises(ParseError, match="not JSON"):
        parse(body[: len(body) // 2], ctx)


def test_swapped_or_outside_locations_reject_the_station(ctx):
    objects = [
        station("Vidigal"),
        station("Urca", location=(-43.166667, -22.955833)),  # [lon, lat]
        station("Longe", location=(-23.5505, -46.6333)),  # São Paulo
        station("Sem local", location=None),
        station("Texto", location=["-22.955833", "-43.166667"]),  # numeric strings are fine
    ]
    result = parse(payload_with(objects), ctx)
    assert {e.entity_id for e in result.entities} == {"alerta-rio:vidigal", "alerta-rio:texto"}
    reasons = {}
    for r in result.rejected:
        reasons.setdefault(r.entity_id, set()).add(r.reason)
    assert len(reasons) == 3
    assert any("swapped" in r for r in reasons["alerta-rio:urca"])
    assert any("outside the city" in r for r in reasons["alerta-rio:longe"])
    assert any("[lat, lon]" in r for r in reasons["alerta-rio:sem-local"])
    assert sum(1 for r in result.rejected if r.entity_id == "alerta-rio:urca") == 4  # all its readings


def test_unknown_kinds_and_junk_items_are_skipped_and_counted(ctx):
    objects = [station("Vidigal"), {"kind": "meteorological", "name": "Vidigal vento"}, "junk",
               {"kind": "pluviometric", "name": "", "location": [-22.9, -43.2]}]
    result = parse(payload_with(objects), ctx)
    assert len(result.entities) == 1 and result.observation_count == 4
    assert len(result.rejected) == 3
    assert any("unknown object kind 'meteorological'" in r.reason for r in result.rejected)


def test_bad_values_and_times_reject_only_what_they_touch(ctx):
    objects = [
        station("Vidigal", m15="abc", h01=True, h24="1,5", h96="Infinity"),
        station("Urca", location=(-22.955833, -43.166667), read_at="yesterday"),
        station("Rocinha", location=(-22.985833, -43.245), read_at=None),
        {**station("Copacabana", location=(-22.986389, -43.189444)), "data": None},
        station("Vidigal"),  # the same station twice
    ]
    result = parse(payload_with(objects), ctx)
    kinds = by_kind(result)
    assert kinds == {"rain_24h_mm": {"alerta-rio:vidigal": 1.5}}
    reasons = [r.reason for r in result.rejected]
    assert any("'abc' is not a number" in r for r in reasons)
    assert any("not an ISO 8601 time" in r for r in reasons)
    assert any("read_at is missing" in r for r in reasons)
    assert any("no 'data' object" in r for r in reasons)
    assert any("appears twice" in r for r in reasons)


def test_future_timestamps_and_out_of_range_values_are_left_to_core_validation(ctx):
    future = (datetime.now(SP) + timedelta(days=3)).replace(tzinfo=None).isoformat(timespec="seconds")
    result = parse(payload_with([station(read_at=future, m15=-4, h96=99999)]), ctx)
    assert result.observation_count == 4  # parse does not judge; core validation rejects with reasons


def test_the_options_are_validated():
    assert AlertaRioOptions().url == "https://websempre.rio.rj.gov.br/json/chuvas"
    with pytest.raises(ValueError):
        AlertaRioOptions(url="ftp://example.org/x")
    with pytest.raises(ValueError):
        AlertaRioOptions(surprise=1)


# ---- end to end -------------------------------------------------------------------------


@pytest.fixture
def fixture_server():
    """Serves the fixture (read_at moved to a few minutes ago, local time) on 127.0.0.1."""
    document = orjson.loads(FIXTURE.read_bytes())
    recent = (datetime.now(SP) - timedelta(minutes=5)).replace(tzinfo=None, microsecond=0).isoformat()
    for item in document["objects"]:
        item["read_at"] = recent
    body = orjson.dumps(document)
    requests_seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests_seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/json/chuvas", requests_seen
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_a_poll_fetches_parses_and_stores_the_gauges_with_zones(settings, redis_client, fixture_server):
    url, requests_seen = fixture_server
    assert "alerta_rio" in FEEDS
    local = settings.model_copy(update={"feeds": {**settings.feeds, "alerta_rio": FeedSettings(options={"url": url})}})
    store = Store(redis_client)
    result = jobs.poll_feed("alerta_rio", local, store)
    assert requests_seen == ["/json/chuvas"]
    assert result == {"feed": "alerta_rio", "stored": 33 * 4 - 3, "rejected": 3}
    latest = store.latest("rain_mm")
    assert len(latest) == 32 and all(k.startswith("alerta-rio:") for k in latest)
    assert all(source == "alerta_rio" for _, _, source in latest.values())
    assert len(store.latest("rain_96h_mm")) == 32
    gauges = {k: e for k, e in store.entities().items() if k.startswith("alerta-rio:")}
    assert len(gauges) == 33
    assert all(e["zone_id"] for e in gauges.values())
    health = store.feed_health("alerta_rio")
    assert health["status"] == "degraded"  # three no-data readings were rejected


def test_a_poll_of_an_unreachable_server_is_recorded_as_a_fetch_failure(settings, redis_client):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/json/chuvas"
    local = settings.model_copy(update={"feeds": {**settings.feeds, "alerta_rio": FeedSettings(options={"url": url})}})
    store = Store(redis_client)
    assert jobs.poll_feed("alerta_rio", local, store)["failed"]
    health = store.feed_health("alerta_rio")
    assert health["status"] == "failing" and health["last_error_kind"] == "connection"
