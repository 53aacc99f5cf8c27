import time

import requests
from city_seed import SECRET, LiveServer, write_city
from rq.cron_scheduler_registry import get_registry_key

from opscentre.core import keys
from opscentre.dashboard.server import create_wsgi_app
from opscentre.processes.redis_server import free_port


def beat(store, worker_age_s=1.0, scheduler_age_s=1.0):
    now = time.time()
    if worker_age_s is not None:
        store.beat("worker-1", now - worker_age_s)
    if scheduler_age_s is not None:
        store.redis.zadd(get_registry_key(), {"cron-1": now - scheduler_age_s})


def test_healthz_ok_with_fresh_worker_and_scheduler(live, store, rio_settings):
    write_city(store, rio_settings)
    beat(store)
    response = requests.get(f"{live.url}/healthz", timeout=10)
    assert response.status_code == 200, response.text
    components = response.json()["components"]
    assert components["redis"]["status"] == "ok"
    assert components["workers"]["status"] == "ok" and components["workers"]["fresh"] == 1
    assert components["scheduler"]["status"] == "ok"
    assert components["feeds"]["feeds"] == {"simulator": "ok"}
    assert components["notifications"]["sms"].startswith("SMS disabled: no TWILIO_ACCOUNT_SID")  # none set here


def test_healthz_says_whether_a_notifier_runs_without_failing_the_check(live, store, rio_settings):
    write_city(store, rio_settings)
    beat(store)
    without = requests.get(f"{live.url}/healthz", timeout=10)
    assert without.status_code == 200 and without.json()["status"] == "degraded"
    assert without.json()["components"]["notifications"]["notifier"]["status"] == "down"
    store.notifier_beat("notifier-1", time.time())
    with_one = requests.get(f"{live.url}/healthz", timeout=10).json()
    assert with_one["components"]["notifications"]["notifier"]["fresh"] == 1
    assert with_one["components"]["notifications"]["status"] == "ok" and with_one["status"] == "ok"


def test_healthz_503_without_heartbeats(live, store):
    response = requests.get(f"{live.url}/healthz", timeout=10)
    assert response.status_code == 503
    assert response.json()["components"]["workers"]["status"] == "down"


def test_healthz_503_with_stale_worker_or_stale_scheduler(live, store):
    beat(store, worker_age_s=120)
    assert requests.get(f"{live.url}/healthz", timeout=10).status_code == 503
    store.redis.flushall()
    beat(store, scheduler_age_s=400)
    body = requests.get(f"{live.url}/healthz", timeout=10)
    assert body.status_code == 503 and body.json()["components"]["scheduler"]["status"] == "down"


def test_healthz_and_metrics_answer_quickly_when_redis_is_unreachable(rio_settings):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    with LiveServer(create_wsgi_app(rio_settings, closed, SECRET)) as server:
        started = time.monotonic()
        response = requests.get(f"{server.url}/healthz", timeout=10)
        assert time.monotonic() - started < 3
        assert response.status_code == 503
        assert response.json()["components"]["redis"]["status"] == "down"
        started = time.monotonic()
        metrics = requests.get(f"{server.url}/metrics", timeout=10)
        assert time.monotonic() - started < 3
        assert metrics.status_code == 200 and "opscentre_redis_up 0.0" in metrics.text
        status = requests.get(f"{server.url}/api/public/status.json", timeout=10)
        assert status.status_code == 503 and "unreachable" in status.json()["error"]


def test_metrics_expose_per_feed_counters(live, store, rio_settings):
    write_city(store, rio_settings)
    write_city(store, rio_settings, feed_id="simulator")
    store.redis.hincrby(keys.feed_metrics("simulator"), "parse_errors", 2)
    text = requests.get(f"{live.url}/metrics", timeout=10).text
    assert "opscentre_redis_up 1.0" in text
    assert 'opscentre_feed_polls_total{feed="simulator"} 2.0' in text
    assert 'opscentre_feed_observations_stored_total{feed="simulator"} 292.0' in text  # 2 polls x 2 x 73
    assert 'opscentre_feed_parse_errors_total{feed="simulator"} 2.0' in text
    assert 'opscentre_feed_poll_duration_seconds_sum{feed="simulator"} 0.024' in text
    assert 'opscentre_feed_poll_duration_seconds_count{feed="simulator"} 2.0' in text
    assert 'opscentre_feed_up{feed="simulator"} 1.0' in text


def test_metrics_break_failures_down_by_kind(live, store, rio_settings):
    for kind, n in (("timeout", 3), ("parse", 1)):
        store.record_failure("alerta_rio", {"status": "failing", "last_error_kind": kind},
                             {"polls": n, "failures": n, f"failures_{kind}": n})
    text = requests.get(f"{live.url}/metrics", timeout=10).text
    assert 'opscentre_feed_failures_by_kind_total{feed="alerta_rio",kind="timeout"} 3.0' in text
    assert 'opscentre_feed_failures_by_kind_total{feed="alerta_rio",kind="parse"} 1.0' in text
    assert 'opscentre_feed_failures_total{feed="alerta_rio"} 4.0' in text
    assert 'opscentre_feed_up{feed="alerta_rio"} 0.0' in text
