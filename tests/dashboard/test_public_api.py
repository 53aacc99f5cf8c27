import gzip
import time

import redis
import requests
from city_seed import LiveServer, alert_record, write_city

from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.store import Store
from opscentre.dashboard.server import create_public_wsgi_app


def test_status_json_shape_and_simulated_flag(live, store, rio_settings):
    write_city(store, rio_settings, rain_mm=2.0)
    store.redis.set(keys.STAGE_RECORD, '{"level": 3, "name": "attention", "since": 1767225600}')
    firing = alert_record("a1", "firing", zone_id=rio_settings.zones.ids[0])
    AlertStore(store.redis).put([firing, alert_record("a2", "pending"),
                                 alert_record("a3", "firing", public=False, rule="feed_stale")])
    AlertStore(store.redis).acknowledge("a1", "zelda.ops", "called civil defence at 555-0101", time.time())
    response = requests.get(f"{live.url}/api/public/status.json", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["stage"] == 3 and body["stage_name"] == "attention"
    assert body["simulated"] is True
    assert body["updated_at"].endswith("Z")
    assert [a["id"] for a in body["active_alerts"]] == ["a1"]  # pending and internal (public: false) alerts are not
    alert = body["active_alerts"][0]
    assert alert["zone_name"] == rio_settings.zones.names[0]
    assert "acknowledged_by" not in alert and "note" not in alert
    assert "zelda.ops" not in response.text and "555-0101" not in response.text


def test_layers_are_geojson_with_caching_headers_and_304(live, store, rio_settings):
    write_city(store, rio_settings, rain_mm=15.0, speed_kmh=10.0, jam_level=4)
    for layer_id, count in (("zones", 166), ("rain_gauges", 33), ("traffic", 40)):
        response = requests.get(f"{live.url}/api/public/layers/{layer_id}.geojson", timeout=10)
        assert response.status_code == 200, layer_id
        assert response.headers["Content-Type"].startswith("application/geo+json")
        assert "public" in response.headers["Cache-Control"] and "max-age=5" in response.headers["Cache-Control"]
        assert response.headers["ETag"] and response.headers["Last-Modified"]
        body = response.json()
        assert body["type"] == "FeatureCollection" and body["simulated"] is True
        assert len(body["features"]) == count, layer_id
        again = requests.get(f"{live.url}/api/public/layers/{layer_id}.geojson", timeout=10,
                             headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304 and again.content == b""
    zones = requests.get(f"{live.url}/api/public/layers/zones.geojson", timeout=10).json()
    assert {f["properties"]["rain_class"] for f in zones["features"]} == {"very_heavy"}
    feature = zones["features"][0]["properties"]
    assert feature["observed_at"].endswith("Z") and feature["observed_at_local"].endswith("-03:00")


def test_layer_etag_changes_when_data_changes(live, store, rio_settings):
    write_city(store, rio_settings, rain_mm=0.0)
    first = requests.get(f"{live.url}/api/public/layers/rain_gauges.geojson", timeout=10)
    write_city(store, rio_settings, rain_mm=8.0, observed_at=time.time() + 1)
    second = requests.get(f"{live.url}/api/public/layers/rain_gauges.geojson", timeout=10,
                          headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert second.headers["ETag"] != first.headers["ETag"]
    assert {f["properties"]["rain_class"] for f in second.json()["features"]} == {"heavy"}


def test_status_json_answers_304_to_its_etag(live, store, rio_settings):
    write_city(store, rio_settings)
    first = requests.get(f"{live.url}/api/public/status.json", timeout=10)
    second = requests.get(f"{live.url}/api/public/status.json", timeout=10,
                          headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 304


def test_unknown_layer_is_a_json_404(live):
    response = requests.get(f"{live.url}/api/public/layers/secret_operator_notes.geojson", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert "zones" in response.json()["layers"]


def test_public_process_serves_api_and_public_view_only(public_live, store, rio_settings):
    write_city(store, rio_settings)
    assert requests.get(f"{public_live.url}/api/public/status.json", timeout=10).status_code == 200
    assert requests.get(f"{public_live.url}/public/", timeout=10).status_code == 200
    assert requests.get(f"{public_live.url}/healthz", timeout=10).status_code in (200, 503)
    assert requests.get(f"{public_live.url}/login", timeout=10).status_code == 404
    root = requests.get(f"{public_live.url}/", timeout=10, allow_redirects=False)
    assert root.status_code == 302 and root.headers["Location"].endswith("/public/")
    anonymous = requests.post(f"{public_live.url}/_dash-update-component", json={}, timeout=10)
    assert anonymous.status_code in (404, 405)


def test_answers_are_gzipped_for_clients_that_accept_it_and_304_to_that_etag(live, store, rio_settings):
    write_city(store, rio_settings)
    for path in ("status.json", "layers/zones.geojson"):
        url = f"{live.url}/api/public/{path}"
        plain = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
        zipped = requests.get(url, headers={"Accept-Encoding": "gzip, br"}, timeout=10, stream=True)
        assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
        raw = zipped.raw.read()
        assert len(raw) < len(plain.content) and gzip.decompress(raw) == plain.content, path
        again = requests.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]},
                             timeout=10)
        assert again.status_code == 304, path


def test_the_stage_changing_alone_moves_status_json(live, store, rio_settings):
    write_city(store, rio_settings)
    first = requests.get(f"{live.url}/api/public/status.json", timeout=10).json()
    alerts = AlertStore(store.redis)
    alerts.set_stage_override({"level": 4, "by": "zelda.sup", "note": "drill"}, "zelda.sup", time.time())
    from opscentre.workers.evaluation import evaluate_city

    evaluate_city(rio_settings, store)  # applies the override: the stage record changes, no alert does
    second = requests.get(f"{live.url}/api/public/status.json", timeout=10).json()
    assert first["stage"] == 1 and second["stage"] == 4


def test_while_redis_is_down_status_json_is_the_last_one_saying_as_of_when(rio_settings, own_redis):
    store = Store(redis.Redis.from_url(own_redis.url))
    write_city(store, rio_settings, rain_mm=2.0)
    with LiveServer(create_public_wsgi_app(rio_settings, own_redis.url)) as server:
        before = requests.get(f"{server.url}/api/public/status.json", timeout=10).json()
        own_redis.stop()
        down = requests.get(f"{server.url}/api/public/status.json", timeout=30)
        assert down.status_code == 200 and "max-age=0" in down.headers["Cache-Control"]
        body = down.json()
        assert body["stale"] is True and body["stage"] == before["stage"]
        assert body["updated_at"] == before["updated_at"]
        assert body["as_of"].endswith("Z") and body["as_of_local"].endswith("-03:00")
