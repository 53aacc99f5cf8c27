"""The poll job through the real store: success, parse failure, overlap, recovery."""

import logging
import time
from dataclasses import replace

import pytest
import redis

from opscentre.core import keys
from opscentre.core.settings import CITIES_DIR, load_settings
from opscentre.core.store import Store
from opscentre.workers import jobs
from opscentre.workers.feeds import FEEDS


@pytest.fixture(scope="module")
def settings():
    return load_settings(CITIES_DIR / "rio" / "demo.yaml")


def test_a_poll_stores_observations_and_marks_the_feed_ok(settings, redis_client):
    store = Store(redis_client)
    result = jobs.poll_feed("simulator", settings, store)
    assert result["stored"] > 2000 and result["rejected"] == 0
    health = store.feed_health("simulator")
    assert health["status"] == "ok" and health["consecutive_failures"] == 0
    assert len(store.latest("rain_mm")) == 33
    entities = store.entities()
    assert all(e["zone_id"] for e in entities.values() if e["entity_type"] == "rain_gauge")


def test_a_payload_that_fails_to_parse_keeps_the_last_good_state(settings, redis_client, monkeypatch, caplog):
    store = Store(redis_client)
    jobs.poll_feed("simulator", settings, store)
    before = store.latest("rain_mm")
    broken = replace(FEEDS["simulator"], fetch=lambda ctx: b"<html>oops</html>")
    monkeypatch.setitem(FEEDS, "simulator", broken)
    with caplog.at_level(logging.WARNING, logger="opscentre.poll"):
        for _ in range(3):
            assert jobs.poll_feed("simulator", settings, store)["failed"]
    health = store.feed_health("simulator")
    assert health["status"] == "failing"
    assert health["last_error_kind"] == "parse"
    assert health["consecutive_failures"] == 3
    assert store.latest("rain_mm") == before
    assert store.all_feed_metrics()["simulator"]["parse_errors"] == 3
    down_logs = [r for r in caplog.records if "is down" in r.getMessage()]
    assert len(down_logs) == 1  # logged on the transition, not on every failed poll


def test_a_crashing_feed_is_recorded_not_raised(settings, redis_client, monkeypatch):
    def explode(ctx):
        raise ZeroDivisionError("bug in a feed module")

    broken = replace(FEEDS["simulator"], fetch=explode)
    monkeypatch.setitem(FEEDS, "simulator", broken)
    store = Store(redis_client)
    assert jobs.poll_feed("simulator", settings, store)["failed"]
    assert store.feed_health("simulator")["last_error_kind"] == "internal"


def test_polls_of_the_same_feed_never_overlap(settings, redis_client):
    store = Store(redis_client)
    redis_client.set(keys.poll_lock("simulator"), "someone-else", ex=30)
    result = jobs.poll_feed("simulator", settings, store)
    assert "skipped" in result
    assert store.latest("rain_mm") == {}
    assert redis_client.get(keys.poll_lock("simulator")) == b"someone-else"  # not ours to release


def test_the_feed_recovers_after_failures(settings, redis_client, monkeypatch):
    store = Store(redis_client)
    good = FEEDS["simulator"]
    monkeypatch.setitem(FEEDS, "simulator", replace(good, fetch=lambda ctx: b"{}"))
    jobs.poll_feed("simulator", settings, store)
    monkeypatch.setitem(FEEDS, "simulator", good)
    jobs.poll_feed("simulator", settings, store)
    health = store.feed_health("simulator")
    assert health["status"] == "ok" and health["consecutive_failures"] == 0


def test_secrets_are_redacted_from_stored_errors(monkeypatch):
    monkeypatch.setenv("OPENAQ_API_KEY", "sekret-value-123")
    assert jobs.redact("GET https://x?key=sekret-value-123 failed") == "GET https://x?key=*** failed"


def test_simulated_time_follows_the_clock_in_redis(settings, redis_client):
    store = Store(redis_client)
    now = time.time()
    store.set_sim_clock({"wall_epoch": now, "sim_epoch": now + 86400, "speed": 60, "scenario": "",
                         "scenario_start": "", "seed": 5})
    ctx = jobs.feed_context("simulator", settings, store, now + 10)
    assert ctx.now.timestamp() == pytest.approx(now + 86400 + 600)
    assert ctx.options.seed == 5


def test_copenhagen_runs_through_the_same_code_path(redis_client):
    copenhagen = load_settings(CITIES_DIR / "copenhagen" / "demo.yaml")
    store = Store(redis_client)
    result = jobs.poll_feed("simulator", copenhagen, store)
    assert result["stored"] > 0 and result["rejected"] == 0
    zones = set(copenhagen.zones.ids)
    gauges = [e for e in store.entities().values() if e["entity_type"] == "rain_gauge"]
    assert len(gauges) == 11 and all(g["zone_id"] in zones for g in gauges)


def test_simulated_readings_never_land_on_an_entity_a_real_feed_registered(settings, redis_client):
    from opscentre.core.models import Entity

    store = Store(redis_client)
    real = Entity(entity_id="rio-tijuca-3", entity_type="rain_gauge", source="alerta_rio", zone_id="x")
    store.write_poll("alerta_rio", [real], [], {"status": "ok"}, {}, 3600, time.time())
    result = jobs.poll_feed("simulator", settings, Store(redis_client))
    assert result["rejected"] >= 6  # every simulated kind for that gauge
    assert "rio-tijuca-3" not in store.latest("rain_mm")
    assert len(store.latest("rain_mm")) == 32
    assert store.entities()["rio-tijuca-3"]["source"] == "alerta_rio"


def test_feed_health_records_the_interval_the_scheduler_really_uses(settings, redis_client):
    from opscentre.workers.schedule import poll_intervals

    store = Store(redis_client)
    now = time.time()
    store.set_sim_clock({"wall_epoch": now, "sim_epoch": now, "speed": 600, "scenario": "",
                         "scenario_start": "", "seed": 1})
    jobs.poll_feed("simulator", settings, store)
    # 60 simulated seconds at 600x would be 0.1 s; polls never come faster than once a second
    assert store.feed_health("simulator")["interval_s"] == poll_intervals(settings, 600)["simulator"] == 1


def test_a_poll_cut_off_by_a_redis_crash_does_not_block_the_feed_after_redis_restarts(settings, own_redis):
    from opscentre.core import locks
    from opscentre.processes.redis_server import RedisServer

    client = redis.Redis.from_url(own_redis.url)
    assert locks.acquire(client, keys.poll_lock("simulator"), jobs.POLL_LOCK_S)  # a poll is running...
    own_redis.kill()  # ...when Redis dies; the AOF keeps its lock
    restarted = RedisServer(own_redis.directory, port=own_redis.port, persist=True).start()
    try:
        store = Store(redis.Redis.from_url(restarted.url))
        result = jobs.poll_feed("simulator", settings, store)
        assert result.get("stored", 0) > 2000, result
    finally:
        restarted.stop()


def test_a_feed_resending_the_same_entities_skips_their_checks_and_a_change_or_a_foreign_one_is_still_seen(
        settings, redis_client, monkeypatch):
    """The same validated objects as last poll: nothing to look up again. A new object (a changed
    description) is checked and registered; an entity another source owns is rejected every poll."""
    from opscentre.core.models import Entity, ObservationBatch, ParseResult
    from opscentre.workers.feeds.base import Feed

    zone = settings.zones.ids[0]
    stations = [Entity(entity_id=f"t:{i}", entity_type="air_quality_station", source="t", name=f"s{i}",
                       zone_id=zone) for i in range(3)]
    sent = {"entities": stations}

    def parse(payload, ctx):
        ids = [e.entity_id for e in sent["entities"]]
        return ParseResult(entities=sent["entities"], batches=[ObservationBatch(
            source="t", kind="pm10_ugm3", entity_ids=ids, values=[10.0] * len(ids), observed_at=[time.time()] * len(ids))])

    monkeypatch.setitem(FEEDS, "t", Feed(feed_id="t", title="t", fetch=lambda ctx: b"{}", parse=parse,
                                         default_interval_s=60))
    store = Store(redis_client)
    assert jobs.poll_feed("t", settings, store)["stored"] == 3  # registers them
    assert jobs.poll_feed("t", settings, store)["stored"] == 3  # finds them registered, unchanged
    assert store.all_checked("t", stations)
    assert jobs.poll_feed("t", settings, store)["stored"] == 3
    renamed = stations[1].model_copy(update={"name": "renamed"})
    sent["entities"] = [stations[0], renamed, stations[2]]
    assert not store.all_checked("t", sent["entities"])
    assert jobs.poll_feed("t", settings, store)["stored"] == 3
    assert store.entities()["t:1"]["name"] == "renamed"
    other = Entity(entity_id="o:1", entity_type="air_quality_station", source="o", zone_id=zone)
    store.write_poll("o", [other], [], {"status": "ok"}, {}, 3600, time.time())
    sent["entities"] = [*sent["entities"], other.model_copy(update={"source": "t"})]
    for _ in range(2):
        result = jobs.poll_feed("t", settings, store)
        assert (result["stored"], result["rejected"]) == (3, 1)
    assert "o:1" not in store.latest("pm10_ugm3")
