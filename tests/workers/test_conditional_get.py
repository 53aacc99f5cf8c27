"""Conditional GET through a real poll: the validators of the last *stored* payload are sent,
a 304 keeps the stored state and counts as a healthy poll, a failed parse does not keep them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from opscentre.core.settings import FeedSettings, load_settings
from opscentre.core.store import Store
from opscentre.workers import jobs

from tests.conftest import FIXTURES
from tests.workers.feeds.local_http import send, serving

RIO = Path(__file__).resolve().parents[2] / "opscentre" / "cities" / "rio" / "demo.yaml"


@pytest.fixture(scope="module")
def settings():
    return load_settings(RIO)


def gauges_now() -> bytes:
    document = orjson.loads((FIXTURES / "alerta_rio" / "chuvas_documented_shape.json").read_bytes())
    recent = (datetime.now(ZoneInfo("America/Sao_Paulo")) - timedelta(minutes=5)).replace(tzinfo=None)
    for item in document["objects"]:
        item["read_at"] = recent.isoformat(timespec="seconds")
    return orjson.dumps(document)


def with_url(settings, url):
    return settings.model_copy(update={"feeds": {"alerta_rio": FeedSettings(options={"url": url})}})


def test_a_304_answer_keeps_the_stored_readings_and_reports_a_healthy_poll(settings, redis_client):
    body = gauges_now()

    def respond(n, handler):
        if handler.headers.get("If-None-Match") == '"v1"':
            send(handler, 304)
        else:
            send(handler, 200, body, {"ETag": '"v1"', "Last-Modified": "Wed, 11 Feb 2026 13:15:00 GMT"})

    store = Store(redis_client)
    with serving(respond) as server:
        local = with_url(settings, server.url + "/json/chuvas")
        first = jobs.poll_feed("alerta_rio", local, store)
        second = jobs.poll_feed("alerta_rio", local, store)
    assert first["stored"] == 129
    assert "If-None-Match" not in server.headers[0]
    assert server.headers[1]["If-None-Match"] == '"v1"'
    assert server.headers[1]["If-Modified-Since"] == "Wed, 11 Feb 2026 13:15:00 GMT"
    assert second == {"feed": "alerta_rio", "stored": 0, "rejected": 0}
    health = store.feed_health("alerta_rio")
    assert health["http_status"] == 304 and health["status"] == "degraded"  # the stored payload's status stays
    assert health["consecutive_failures"] == 0
    assert len(store.latest("rain_mm")) == 32  # nothing taken off the map
    metrics = store.all_feed_metrics()["alerta_rio"]
    assert metrics["polls"] == 2 and metrics["not_modified"] == 1 and metrics["observations_stored"] == 129


def test_validators_of_a_payload_that_failed_to_parse_are_not_kept(settings, redis_client):
    answers = iter([(b"<html>maintenance</html>", '"broken"'), (gauges_now(), '"v2"')])

    def respond(n, handler):
        if n <= 2:
            body, etag = next(answers)
            send(handler, 200, body, {"ETag": etag})
        else:
            send(handler, 304)

    store = Store(redis_client)
    with serving(respond) as server:
        local = with_url(settings, server.url + "/json/chuvas")
        assert jobs.poll_feed("alerta_rio", local, store)["failed"]
        assert jobs.poll_feed("alerta_rio", local, store)["stored"] == 129
    assert "If-None-Match" not in server.headers[1]  # the broken payload's ETag was never sent back
    assert store.feed_health("alerta_rio")["etag"] == '"v2"'


def test_a_304_without_validators_sent_is_an_error_not_news(settings, redis_client):
    store = Store(redis_client)
    with serving(lambda n, h: send(h, 304)) as server:
        assert jobs.poll_feed("alerta_rio", with_url(settings, server.url + "/x"), store)["failed"]
    health = store.feed_health("alerta_rio")
    assert health["status"] == "failing" and health["last_error_kind"] == "http_status"


@pytest.mark.parametrize("status,headers,kind", [
    (500, {}, "http_status"),
    (429, {"Retry-After": "0"}, "rate_limited"),
    (404, {}, "http_status"),
])
def test_each_failure_is_counted_by_kind_for_metrics(settings, redis_client, status, headers, kind):
    store = Store(redis_client)
    with serving(lambda n, h: send(h, status, b"", headers)) as server:
        local = with_url(settings, server.url + "/x")
        local.feeds["alerta_rio"].options.update({"timeout_s": 2})
        assert jobs.poll_feed("alerta_rio", local, store)["failed"]
    metrics = store.all_feed_metrics()["alerta_rio"]
    assert metrics[f"failures_{kind}"] == 1 and metrics["failures"] == 1
    assert store.feed_health("alerta_rio")["last_error_kind"] == kind


def test_an_all_digit_etag_is_sent_back_exactly_as_received(settings, redis_client):
    body = gauges_now()

    def respond(n, handler):
        if handler.headers.get("If-None-Match") == "12345":
            send(handler, 304)
        else:
            send(handler, 200, body, {"ETag": "12345"})

    store = Store(redis_client)
    with serving(respond) as server:
        local = with_url(settings, server.url + "/json/chuvas")
        jobs.poll_feed("alerta_rio", local, store)
        assert jobs.poll_feed("alerta_rio", local, store) == {"feed": "alerta_rio", "stored": 0, "rejected": 0}
    assert server.headers[1]["If-None-Match"] == "12345"
