"""status.json and the layer files replayed before Flask: the same answer as Flask's, to the
header, for the same snapshot; a new snapshot goes through Flask again (real server, real Redis)."""

from __future__ import annotations

import time

import redis
import requests
from city_seed import LiveServer, write_city

from opscentre.core.store import Store
from opscentre.dashboard.server import create_public_wsgi_app

PATHS = ("/api/public/status.json", "/api/public/layers/zones.geojson", "/api/public/layers/traffic.geojson")


def counting(fast_path) -> list[str]:
    """The paths the app behind the fast path was asked for."""
    asked, app = [], fast_path.app

    def counted(environ, start_response):
        asked.append(environ["PATH_INFO"])
        return app(environ, start_response)

    fast_path.app = counted
    return asked


def without_date(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() not in ("date", "server")}


def test_a_second_request_for_the_same_snapshot_gets_flasks_answer_without_flask(public_live, store, rio_settings):
    write_city(store, rio_settings, rain_mm=2.0)
    asked = counting(public_live.app.fast_path)
    for path in PATHS:
        for headers in ({"Accept-Encoding": "gzip"}, {"Accept-Encoding": "identity"}):
            first = requests.get(public_live.url + path, headers=headers, timeout=10)
            again = requests.get(public_live.url + path, headers=headers, timeout=10)
            assert first.status_code == again.status_code == 200
            assert without_date(again) == without_date(first) and again.content == first.content
            not_changed = requests.get(public_live.url + path, timeout=10,
                                       headers={**headers, "If-None-Match": first.headers["ETag"]})
            twice = requests.get(public_live.url + path, timeout=10,
                                 headers={**headers, "If-None-Match": first.headers["ETag"]})
            assert not_changed.status_code == twice.status_code == 304
            assert without_date(twice) == without_date(not_changed)
    assert len(asked) == len(PATHS) * 2 * 2  # each (path, encoding, 200 | 304) through Flask once


def test_new_data_is_a_new_snapshot_and_goes_through_flask(public_live, store, rio_settings):
    write_city(store, rio_settings, rain_mm=0.0)
    url = public_live.url + "/api/public/layers/rain_gauges.geojson"
    before = requests.get(url, timeout=10)
    write_city(store, rio_settings, rain_mm=8.0, observed_at=time.time() + 1)
    after = requests.get(url, headers={"If-None-Match": before.headers["ETag"]}, timeout=10)
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    assert {f["properties"]["rain_class"] for f in after.json()["features"]} == {"heavy"}


def test_ranges_queries_and_unknown_layers_go_to_the_app(public_live, store, rio_settings):
    write_city(store, rio_settings)
    asked = counting(public_live.app.fast_path)
    url = public_live.url + "/api/public/layers/zones.geojson"
    requests.get(url, timeout=10)
    part = requests.get(url, headers={"Range": "bytes=0-9"}, timeout=10)
    assert part.status_code == 206 and len(part.content) == 10
    assert requests.get(url + "?x=1", timeout=10).status_code == 200
    assert requests.get(public_live.url + "/api/public/layers/nope.geojson", timeout=10).status_code == 404
    assert len(asked) == 4


def test_while_redis_is_down_the_app_answers_as_of_when(rio_settings, own_redis):
    write_city(Store(redis.Redis.from_url(own_redis.url)), rio_settings)
    with LiveServer(create_public_wsgi_app(rio_settings, own_redis.url)) as server:
        url = server.url + "/api/public/status.json"
        requests.get(url, timeout=10)
        requests.get(url, timeout=10)  # (replayed)
        own_redis.stop()
        down = requests.get(url, timeout=30)
        assert down.status_code == 200 and down.json()["stale"] is True and down.json()["as_of"]


def test_the_atom_index_and_cap_documents_are_replayed_per_host_they_link_to(public_live, store, rio_settings):
    from tests.open_data.test_cap_http import fire

    alert = fire(store, rio_settings, zone="Copacabana")
    asked = counting(public_live.app.fast_path)
    for path in ("/api/public/alerts.atom", f"/api/public/alerts/{alert.id}.cap"):
        first = requests.get(public_live.url + path, timeout=10)
        again = requests.get(public_live.url + path, timeout=10)
        assert first.status_code == again.status_code == 200 and again.content == first.content
        other_host = requests.get(public_live.url.replace("127.0.0.1", "localhost") + path, timeout=10)
        assert b"http://localhost:" in other_host.content and b"http://localhost:" not in first.content
    assert len(asked) == 4  # (each path once per host)
    assert requests.get(public_live.url + "/api/public/alerts/a-0123456789.cap", timeout=10).status_code == 404


def test_ogc_pages_are_replayed_by_query_host_and_accept_and_their_304s_too(public_live, store, rio_settings):
    write_city(store, rio_settings)
    asked = counting(public_live.app.fast_path)
    base = public_live.url + "/api/public/ogc/collections/zones/items"
    first = requests.get(base + "?limit=10", timeout=10)
    again = requests.get(base + "?limit=10", timeout=10)
    assert first.status_code == again.status_code == 200 and again.content == first.content
    assert without_date(again) == without_date(first)
    other = requests.get(base + "?limit=20", timeout=10)
    assert len(other.json()["features"]) == 20  # another query: another page
    for _ in range(2):
        unchanged = requests.get(base + "?limit=10", headers={"If-None-Match": first.headers["ETag"]}, timeout=10)
        assert unchanged.status_code == 304
    refused = requests.get(base + "?limit=10", headers={"Accept": "text/html"}, timeout=10)
    assert refused.status_code == 406  # the Accept header is part of what is kept
    assert len(asked) == 4  # the page, another query, its first 304, the refusal
    write_city(store, rio_settings, rain_mm=9.0, observed_at=time.time() + 1)
    moved = requests.get(base + "?limit=10", headers={"If-None-Match": first.headers["ETag"]}, timeout=10)
    assert moved.status_code == 200  # a new snapshot: the app answers again
