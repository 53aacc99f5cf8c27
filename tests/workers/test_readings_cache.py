"""The worker's incremental cache of latest values and history windows gives exactly what
reading the latest hash and the whole window from Redis gives."""

from __future__ import annotations

import time

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from opscentre.core.alerting.readings import Readings
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.store import HISTORY_PAGE, Store
from opscentre.workers import readings_cache
from opscentre.workers.readings_cache import ReadingsCache

KINDS = ("rain_mm", "river_level_m")


def poll(store, ids, values, t, kind="rain_mm", register=True):
    entities = [Entity(entity_id=e, entity_type="rain_gauge", source="t", zone_id="z") for e in ids]
    batch = ObservationBatch(source="t", kind=kind, entity_ids=ids, values=values, observed_at=[t] * len(ids))
    store.write_poll("t", store.unknown_entities(entities) if register else [], [batch], {}, {}, retention_s=86400,
                     wall_now=time.time())
    time.sleep(0.002)  # the next entry gets a later stream id (ms)


def index_of(store):
    ids = sorted(store.entities())
    return {e: i for i, e in enumerate(ids)}, (len(ids), hash(tuple(ids)))


def read(cache, store, keep):
    index, stamp = index_of(store)
    return cache.read(store, keep, index, stamp)


def expected(store, keep):
    """What reading Redis afresh gives: the latest hash and the stream since each window's start."""
    entities = store.entities()
    built = Readings.build(entities, ["z"], store.latest_many(keep),
                           history={kind: store.history_batches(kind, since) for kind, since in keep.items()
                                    if since is not None})
    return built


def assert_same(cache_result, full, keep):
    latest, history = cache_result
    for kind in keep:
        values, times = full.latest(kind)
        assert np.array_equal(latest[kind][0], values, equal_nan=True), kind
        assert np.array_equal(latest[kind][1], times, equal_nan=True), kind
    assert set(history) == {k for k, since in keep.items() if since is not None}
    for kind, cached in history.items():
        reference = full.kind_history(kind)
        a = np.lexsort((cached.values, cached.times, cached.codes))
        b = np.lexsort((reference.values, reference.times, reference.codes))
        for column in ("codes", "times", "values"):
            assert np.array_equal(getattr(cached, column)[a], getattr(reference, column)[b]), (kind, column)
        assert cached.time_ordered == bool(np.all(cached.times[1:] >= cached.times[:-1]))


def test_incremental_reads_new_entities_and_a_flushed_redis_all_give_the_latest_and_the_full_window(redis_client):
    store, cache = Store(redis_client), ReadingsCache()
    now = int(time.time())
    keep = {"rain_mm": now - 3600.0}

    def check():
        result = read(cache, store, keep)
        assert_same(result, expected(store, keep), keep)
        return result

    poll(store, ["a", "b"], [1.0, 2.0], now - 600)
    assert len(check()[1]["rain_mm"].codes) == 2
    poll(store, ["a", "b"], [3.0, 4.0], now - 300)
    poll(store, ["a", "b", "c"], [5.0, 6.0, 7.0], now - 60)  # a new entity shifts nothing it should not
    poll(store, ["0first"], [8.0], now - 30)  # a new entity that sorts first shifts every index
    latest, history = check()
    assert len(history["rain_mm"].codes) == 8
    assert latest["rain_mm"][0].tolist() == [8.0, 5.0, 6.0, 7.0]  # 0first, a, b, c
    redis_client.flushall()  # Redis replaced: the cache must not serve what is gone
    store = Store(redis_client)
    poll(store, ["a", "b", "c", "0first"], [9.0, 9.0, 9.0, 9.0], now)  # the same entities as before
    latest, history = check()
    assert history["rain_mm"].values.tolist() == [9.0] * 4


def test_a_window_of_many_pages_read_afresh_a_part_at_a_time_is_the_whole_window(redis_client, monkeypatch):
    # a large city's window is read HISTORY_PAGE entries per XRANGE and appended in parts
    monkeypatch.setattr(readings_cache, "_APPEND_READINGS", 3)
    store, cache = Store(redis_client), ReadingsCache()
    now = int(time.time())
    polls = 2 * HISTORY_PAGE + 3
    for k in range(polls):
        poll(store, ["a", "b"] if k % 2 else ["b", "c", "d"], [float(k), k + 0.5, k + 0.25][:3 - k % 2],
             now - 60 * (polls - k))
    keep = {"rain_mm": now - 86400.0}
    latest, history = read(cache, store, keep)
    assert_same((latest, history), expected(store, keep), keep)
    assert len(history["rain_mm"].codes) == sum(2 if k % 2 else 3 for k in range(polls))
    assert history["rain_mm"].values[:3].tolist() == [0.0, 0.5, 0.25]  # stored order, from the oldest entry


def test_a_longer_window_than_the_cache_holds_is_read_afresh(redis_client):
    store, cache = Store(redis_client), ReadingsCache()
    now = int(time.time())
    poll(store, ["a"], [1.0], now - 600)
    middle = time.time()
    time.sleep(0.002)
    poll(store, ["a"], [2.0], now - 300)
    assert read(cache, store, {"rain_mm": middle})[1]["rain_mm"].values.tolist() == [2.0]
    assert read(cache, store, {"rain_mm": middle - 3600})[1]["rain_mm"].values.tolist() == [1.0, 2.0]


def test_the_window_slides_and_a_latest_only_kind_keeps_no_history(redis_client):
    store, cache = Store(redis_client), ReadingsCache()
    now = int(time.time())
    poll(store, ["a"], [1.0], now - 600)
    poll(store, ["a"], [3.0], now - 600, kind="river_level_m")
    first = read(cache, store, {"rain_mm": now - 3600.0, "river_level_m": None})
    middle = time.time()
    time.sleep(0.002)
    poll(store, ["a"], [2.0], now - 300)
    poll(store, ["a"], [4.0], now - 300, kind="river_level_m")
    latest, history = read(cache, store, {"rain_mm": middle, "river_level_m": None})
    assert history["rain_mm"].values.tolist() == [2.0]
    assert "river_level_m" not in history
    assert latest["river_level_m"][0].tolist() == [4.0] and latest["river_level_m"][1].tolist() == [now - 300]
    assert first[1]["rain_mm"].values.tolist() == [1.0]  # a window handed out earlier is left as it was


def test_readings_of_an_entity_registered_later_count_once_it_is_registered(redis_client):
    store, cache = Store(redis_client), ReadingsCache()
    now = int(time.time())
    keep = {"rain_mm": now - 3600.0}
    poll(store, ["a"], [1.0], now - 600)
    poll(store, ["late"], [5.0], now - 500, register=False)  # stored before its entity is registered
    latest, history = read(cache, store, keep)
    assert history["rain_mm"].values.tolist() == [1.0] and latest["rain_mm"][0].tolist() == [1.0]
    poll(store, ["late"], [6.0], now - 400)
    latest, history = read(cache, store, keep)
    assert_same((latest, history), expected(store, keep), keep)
    assert sorted(history["rain_mm"].values.tolist()) == [1.0, 5.0, 6.0]


def test_a_stream_trimmed_past_what_the_cache_has_seen_is_read_afresh(redis_client):
    store, cache = Store(redis_client), ReadingsCache()
    now = int(time.time())
    keep = {"rain_mm": None}
    poll(store, ["a", "b"], [1.0, 2.0], now - 600)
    read(cache, store, keep)
    poll(store, ["a"], [3.0], now - 500)
    poll(store, ["b"], [4.0], now - 400)
    redis_client.xtrim("oc:history:rain_mm", maxlen=1)  # the entry setting a to 3.0 is gone from the stream
    latest, _ = read(cache, store, keep)
    assert latest["rain_mm"][0].tolist() == [3.0, 4.0]  # from the hash, not from a stream with a hole


ops = st.lists(st.one_of(
    st.tuples(st.just("poll"), st.sampled_from(KINDS), st.lists(st.tuples(st.sampled_from("abcdef"),
                                                                           st.integers(0, 50)), min_size=1, max_size=5),
              st.booleans()),
    st.tuples(st.just("read"), st.sampled_from([None, 0, 1, 2, -1]), st.sampled_from([None, 0, 3])),
    st.tuples(st.just("flush")),
), min_size=1, max_size=14)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_any_sequence_of_polls_reads_and_flushes_reads_what_redis_holds(redis_client, sequence):
    redis_client.flushall()
    store, cache = Store(redis_client), ReadingsCache()
    marks = [time.time() - 3600]  # wall times to start windows at
    step = int(time.time()) - 1000
    for op in sequence + [("read", -1, 0)]:
        if op[0] == "poll":
            _, kind, pairs, register = op
            marks.append(time.time())
            time.sleep(0.002)
            step += 1
            poll(store, [e for e, _ in pairs], [float(v) for _, v in pairs], step, kind=kind, register=register)
        elif op[0] == "flush":
            redis_client.flushall()
            store = Store(redis_client)
        else:
            keep = {kind: None if mark is None else marks[min(mark, len(marks) - 1)]
                    for kind, mark in zip(KINDS, op[1:])}
            assert_same(read(cache, store, keep), expected(store, keep), keep)


def test_a_reading_out_of_time_order_gives_the_window_a_running_max_until_it_leaves_the_window(redis_client):
    store, cache = Store(redis_client), ReadingsCache()
    now = int(time.time())
    poll(store, ["a"], [1.0], now - 100)
    read(cache, store, {"rain_mm": now - 3600.0})  # in time order so far: the cache keeps no running max
    poll(store, ["b"], [2.0], now - 300)  # a replay, older than what is stored
    after_replay = time.time()
    time.sleep(0.002)
    poll(store, ["a"], [3.0], now - 50)
    history = read(cache, store, {"rain_mm": now - 3600.0})[1]["rain_mm"]
    assert history.times.tolist() == [now - 100, now - 300, now - 50]
    assert history.running_max.tolist() == [now - 100, now - 100, now - 50] and history.lag == 200
    assert not history.time_ordered
    history = read(cache, store, {"rain_mm": after_replay})[1]["rain_mm"]  # the replay left the window
    assert history.times.tolist() == [now - 50] and history.running_max.tolist() == [now - 50]
    assert history.time_ordered
