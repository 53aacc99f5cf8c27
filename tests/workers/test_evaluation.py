"""The evaluation runner: after a poll only the rules reading what it stored; data arriving
while another evaluation runs is evaluated by it before it lets go — nothing goes unevaluated."""

from __future__ import annotations

import time
from pathlib import Path

from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.rules import Rule
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.settings import load_settings
from opscentre.core.store import Store
from opscentre.workers import evaluation
from opscentre.workers.evaluation import evaluate_city

RIO = load_settings(Path(__file__).resolve().parents[2] / "opscentre" / "cities" / "rio" / "demo.yaml")
RULES = [Rule.model_validate({"id": "rain", "kind": "rain_mm", "levels": {"warning": 6.25}}),
         Rule.model_validate({"id": "wind", "kind": "wind_speed_ms", "levels": {"warning": 16.7}})]
SETTINGS = RIO.model_copy(update={"rules": RULES})


def store_reading(store: Store, kind: str, value: float, t: float) -> None:
    gauge = Entity(entity_id="g", entity_type="rain_gauge", source="t", zone_id=RIO.zones.ids[0])
    batch = ObservationBatch(source="t", kind=kind, entity_ids=["g"], values=[value], observed_at=[t])
    store.write_poll("t", store.unknown_entities([gauge]), [batch], {}, {}, retention_s=86400, wall_now=t)


def open_rules(client) -> list[str]:
    return sorted(a["rule"] for a in AlertStore(client).active())


def test_after_a_poll_only_the_rules_reading_its_kinds_run_and_the_timer_runs_them_all(redis_client):
    store, now = Store(redis_client), time.time()
    store_reading(store, "rain_mm", 9.0, now)
    store_reading(store, "wind_speed_ms", 20.0, now)
    evaluate_city(SETTINGS, store, now=now, kinds={"wind_speed_ms"})
    assert open_rules(redis_client) == ["wind"]
    evaluate_city(SETTINGS, store, now=now)  # the timer
    assert open_rules(redis_client) == ["rain", "wind"]
    assert evaluate_city(SETTINGS, store, now=now, kinds=set()).transitions == 0  # a poll that stored no readings


def test_data_stored_during_an_evaluation_is_evaluated_before_the_lock_is_let_go(redis_client):
    store, now = Store(redis_client), time.time()
    store_reading(store, "rain_mm", 9.0, now)
    redis_client.set(keys.EVALUATE_LOCK, "someone-else", ex=60)  # an evaluation is running elsewhere
    skipped = evaluate_city(SETTINGS, store, now=now, kinds={"rain_mm"})
    assert skipped.skipped and redis_client.smembers(keys.EVALUATE_PENDING) == {b"rain_mm"}
    assert open_rules(redis_client) == []
    redis_client.delete(keys.EVALUATE_LOCK)  # it finished; the next evaluation takes up what was left
    store_reading(store, "wind_speed_ms", 1.0, now)
    evaluate_city(SETTINGS, store, now=now, kinds={"wind_speed_ms"})
    assert open_rules(redis_client) == ["rain"]
    assert not redis_client.exists(keys.EVALUATE_PENDING) and not redis_client.exists(keys.EVALUATE_LOCK)


def test_a_poll_of_kinds_no_rule_reads_evaluates_nothing_and_leaves_nothing_pending(redis_client):
    """No lock taken, nothing left for the holder: every worker's evaluation shares that lock,
    so a poll of an unread kind must not queue behind, or add work to, another's."""
    from opscentre.workers.jobs import evaluate_after_store

    store, now = Store(redis_client), time.time()
    store_reading(store, "pm10_ugm3", 900.0, now)
    redis_client.set(keys.EVALUATE_LOCK, "someone-else", ex=60)  # an evaluation is running elsewhere
    summary = evaluate_city(SETTINGS, store, now=now, kinds={"pm10_ugm3"}, entities={"pm10_ugm3": {"g"}})
    assert not summary.skipped and summary.transitions == 0
    assert not redis_client.exists(keys.EVALUATE_PENDING)
    assert evaluate_after_store(SETTINGS, store, now=now, kinds={"pm10_ugm3"}) is None
    # a poll of a read kind and an unread one: only the read kind's entities are left pending
    assert evaluate_city(SETTINGS, store, now=now, kinds={"pm10_ugm3", "rain_mm"},
                         entities={"pm10_ugm3": {"g"}, "rain_mm": {"g"}}).skipped
    assert redis_client.smembers(keys.EVALUATE_PENDING) == {b"rain_mm\x1fg"}


def store_gauge(store: Store, entity_id: str, value: float, t: float) -> None:
    gauge = Entity(entity_id=entity_id, entity_type="rain_gauge", source="t", zone_id=RIO.zones.ids[1])
    batch = ObservationBatch(source="t", kind="rain_mm", entity_ids=[entity_id], values=[value], observed_at=[t])
    store.write_poll("t", store.unknown_entities([gauge]), [batch], {}, {}, retention_s=86400, wall_now=t)


def test_after_a_poll_only_the_entities_it_stored_are_stepped_and_the_timer_steps_the_rest(redis_client):
    store, now = Store(redis_client), time.time()
    store_gauge(store, "g1", 9.0, now)
    store_gauge(store, "g2", 9.0, now)
    evaluate_city(SETTINGS, store, now=now, kinds={"rain_mm"}, entities={"rain_mm": {"g2"}})
    assert [a["entity_id"] for a in AlertStore(redis_client).active()] == ["g2"]
    evaluate_city(SETTINGS, store, now=now)  # the timer
    assert sorted(a["entity_id"] for a in AlertStore(redis_client).active()) == ["g1", "g2"]


def test_the_entities_of_a_poll_that_arrived_during_an_evaluation_are_evaluated_by_the_next(redis_client):
    store, now = Store(redis_client), time.time()
    store_gauge(store, "g1", 9.0, now)
    store_gauge(store, "g2", 9.0, now)
    redis_client.set(keys.EVALUATE_LOCK, "someone-else", ex=60)
    assert evaluate_city(SETTINGS, store, now=now, kinds={"rain_mm"}, entities={"rain_mm": {"g1"}}).skipped
    assert redis_client.smembers(keys.EVALUATE_PENDING) == {b"rain_mm\x1fg1"}
    redis_client.delete(keys.EVALUATE_LOCK)
    store_reading(store, "wind_speed_ms", 1.0, now)
    evaluate_city(SETTINGS, store, now=now, kinds={"wind_speed_ms"})
    assert [a["entity_id"] for a in AlertStore(redis_client).active()] == ["g1"]  # g1 only: g2 is the timer's
    assert not redis_client.exists(keys.EVALUATE_PENDING)


def test_an_evaluation_of_some_rules_keeps_the_history_window_the_others_need(redis_client, monkeypatch):
    """A poll of river levels runs the rules reading them, one of which also reads the last hour
    of rain; the worker's cache must still hold the 24 h of rain that another rule sums."""
    monkeypatch.setattr(evaluation, "HISTORY_MARGIN_S", 0.0)
    rules = [Rule.model_validate({"id": "rain_24h", "kind": "rain_mm", "window": "24h", "aggregation": "sum",
                                  "levels": {"warning": 50}}),
             Rule.model_validate({"id": "flood", "levels": {"critical": {"all_of": [
                 {"kind": "river_level_m", "op": ">=", "value": 2.5},
                 {"kind": "rain_mm", "op": ">=", "value": 20, "window": "1h", "aggregation": "sum"}]}}})]
    settings = RIO.model_copy(update={"rules": rules})
    store = Store(redis_client)
    clock = {"wall_epoch": time.time(), "sim_epoch": time.time(), "speed": 3600}  # a data hour per wall second
    store.set_sim_clock(clock)
    data_now = lambda: evaluation.data_now(store, time.time())  # noqa: E731
    store_reading(store, "rain_mm", 40.0, data_now())
    time.sleep(1.5)  # the rain is now 1.5 data hours old: out of `flood`'s window, inside `rain_24h`'s
    store_reading(store, "rain_mm", 1.0, data_now())
    store_reading(store, "river_level_m", 1.0, data_now())
    evaluate_city(settings, store, kinds={"river_level_m"})
    store_reading(store, "rain_mm", 15.0, data_now())
    evaluate_city(settings, store)  # the timer: 40 + 1 + 15 mm in 24 h
    assert open_rules(redis_client) == ["rain_24h"]


def test_data_left_while_letting_go_is_left_to_whoever_took_the_lock_meanwhile(redis_client, monkeypatch):
    """After its rounds, an evaluation finds data pending again but another worker has the lock
    by then: it leaves the data pending for that worker (no error, nothing lost)."""
    store, now = Store(redis_client), time.time()
    store_reading(store, "rain_mm", 9.0, now)
    real_release = evaluation.locks.release

    def release_and_another_worker_arrives(client, name, token):
        real_release(client, name, token)
        client.sadd(keys.EVALUATE_PENDING, "wind_speed_ms")  # its poll stored data ...
        client.set(keys.EVALUATE_LOCK, "another-worker", ex=60)  # ... and its evaluation took the lock

    monkeypatch.setattr(evaluation.locks, "release", release_and_another_worker_arrives)
    summary = evaluate_city(SETTINGS, store, now=now, kinds={"rain_mm"})
    assert not summary.skipped and open_rules(redis_client) == ["rain"]
    assert redis_client.smembers(keys.EVALUATE_PENDING) == {b"wind_speed_ms"}  # still there for the holder
