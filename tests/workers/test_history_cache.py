"""The worker's incremental history cache gives exactly what reading the whole window gives."""

from __future__ import annotations

import time

import numpy as np

from opscentre.core.alerting.readings import Readings
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.store import Store
from opscentre.workers.history_cache import HistoryCache


def poll(store, ids, values, t):
    entities = [Entity(entity_id=e, entity_type="rain_gauge", source="t", zone_id="z") for e in ids]
    batch = ObservationBatch(source="t", kind="rain_mm", entity_ids=ids, values=values, observed_at=[t] * len(ids))
    store.write_poll("t", store.unknown_entities(entities), [batch], {}, {}, retention_s=86400, wall_now=t)


def full_read(store, since, entities):
    return Readings.build(entities, ["z"], {}, history={"rain_mm": store.history_batches("rain_mm", since)})


def same(cached, full):
    order_a = np.lexsort((cached.values, cached.times, cached.codes))
    order_b = np.lexsort((full.values, full.times, full.codes))
    for column in ("codes", "times", "values"):
        assert np.array_equal(getattr(cached, column)[order_a], getattr(full, column)[order_b]), column


def test_incremental_reads_new_entities_and_a_flushed_redis_all_give_the_full_window(redis_client):
    store, cache = Store(redis_client), HistoryCache()
    now = time.time()
    since = now - 3600

    def check():
        entities = store.entities()
        ids = sorted(entities)
        index = {e: i for i, e in enumerate(ids)}
        cached = cache.window(store, "rain_mm", since, index, (len(ids), hash(tuple(ids))))
        same(cached, full_read(store, since, entities).kind_history("rain_mm"))
        return cached

    poll(store, ["a", "b"], [1.0, 2.0], now - 600)
    assert len(check().codes) == 2
    poll(store, ["a", "b"], [3.0, 4.0], now - 300)
    poll(store, ["a", "b", "c"], [5.0, 6.0, 7.0], now - 60)  # a new entity shifts nothing it should not
    poll(store, ["0first"], [8.0], now - 30)  # a new entity that sorts first shifts every code
    assert len(check().codes) == 8
    redis_client.flushall()  # Redis replaced: the cache must not serve what is gone
    store = Store(redis_client)
    poll(store, ["a", "b", "c", "0first"], [9.0, 9.0, 9.0, 9.0], now)  # the same entities as before
    cached = check()
    assert cached.values.tolist() == [9.0] * 4
