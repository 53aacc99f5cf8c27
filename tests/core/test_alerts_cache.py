"""AlertStore.alerts() keeps what it read with the hash's version and fetches only what other
writers changed — and whatever the order of writes by this process and others, it answers
exactly what a full read of the hash would (real Redis)."""

from __future__ import annotations

import time

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opscentre.core import alert_store, keys
from opscentre.core.alert_store import CHANGES_READ, AlertStore, record_alert_writes
from opscentre.core.alerting.engine import Evaluation
from opscentre.core.alerting.lifecycle import Alert


def alert(n: int, value: float = 1.0, state: str = "firing") -> Alert:
    now = time.time()
    return Alert(id=f"a-{n:010d}", fingerprint=f"rain_15min|g{n}", rule="rain_15min", key=f"g{n}", state=state,
                 severity="warning", value=value, started_at=now, since=now, updated_at=now)


def full_read(client: redis.Redis) -> dict[str, Alert]:
    return {k.decode(): Alert.model_validate_json(v) for k, v in client.hgetall(keys.ALERTS).items()}


def another_process_writes(client: redis.Redis, put: list[Alert] = (), drop: list[str] = ()) -> None:
    """A write as another process's AlertStore makes it (this process's cache sees none of it)."""
    pipe = client.pipeline(transaction=True)
    if put:
        pipe.hset(keys.ALERTS, mapping={a.fingerprint: a.model_dump_json() for a in put})
    if drop:
        pipe.hdel(keys.ALERTS, *drop)
    record_alert_writes(pipe, [*(a.fingerprint for a in put), *drop])
    pipe.execute()


def count_full_reads(monkeypatch) -> list[int]:
    reads = [0]
    decode = alert_store._ALERTS.decode

    def counted(raw):
        reads[0] += 1
        return decode(raw)

    monkeypatch.setattr(alert_store._ALERTS, "decode", counted)
    return reads


def test_a_read_with_nothing_written_since_fetches_nothing_again(redis_client, monkeypatch):
    store = AlertStore(redis_client)
    store.put([alert(1), alert(2)])
    first = store.alerts()
    reads = count_full_reads(monkeypatch)
    assert store.alerts() is first and reads == [0]


def test_another_writers_changes_and_removals_are_fetched_by_fingerprint_only(redis_client, monkeypatch):
    store = AlertStore(redis_client)
    store.put([alert(n) for n in range(50)])
    store.alerts()
    reads = count_full_reads(monkeypatch)
    another_process_writes(redis_client, put=[alert(3, value=9.5), alert(99)], drop=["rain_15min|g7"])
    seen = store.alerts()
    assert reads == [0]
    assert seen == full_read(redis_client)
    assert seen["rain_15min|g3"].value == 9.5 and "rain_15min|g99" in seen and "rain_15min|g7" not in seen


def test_a_reader_too_far_behind_reads_the_whole_hash(redis_client, monkeypatch):
    store = AlertStore(redis_client)
    store.put([alert(1)])
    store.alerts()
    for n in range(CHANGES_READ + 1):
        another_process_writes(redis_client, put=[alert(1000 + n)])
    reads = count_full_reads(monkeypatch)
    assert store.alerts() == full_read(redis_client) and reads == [1]


def test_an_emptied_redis_is_never_answered_from_the_cache(redis_client):
    store = AlertStore(redis_client)
    store.put([alert(1), alert(2)])
    assert len(store.alerts()) == 2
    redis_client.flushall()
    store.put([alert(3)])  # the same version number as before the flush: the epoch tells them apart
    assert set(store.alerts()) == {"rain_15min|g3"}


def test_this_processes_own_evaluation_is_kept_without_reading_it_back(redis_client, monkeypatch):
    store = AlertStore(redis_client)
    store.put([alert(1), alert(2)])
    before = store.alerts()
    after = {**before, "rain_15min|g2": alert(2, value=4.0), "rain_15min|g5": alert(5)}
    del after["rain_15min|g1"]
    evaluation = Evaluation(alerts=after, changed={"rain_15min|g2", "rain_15min|g5"}, removed=["rain_15min|g1"])
    store.apply(evaluation, before, None, time.time())
    reads = count_full_reads(monkeypatch)
    assert store.alerts() is after and reads == [0]
    assert after == full_read(redis_client)


def test_an_evaluation_that_raced_another_writer_is_not_taken_as_the_stored_state(redis_client):
    store = AlertStore(redis_client)
    store.put([alert(1)])
    before = store.alerts()
    another_process_writes(redis_client, put=[alert(8)])  # lands between this evaluation's read and write
    evaluation = Evaluation(alerts={**before, "rain_15min|g1": alert(1, value=2.0)}, changed={"rain_15min|g1"})
    store.apply(evaluation, before, None, time.time())
    assert store.alerts() == full_read(redis_client) and "rain_15min|g8" in store.alerts()


writes = st.lists(st.tuples(st.sampled_from(["mine", "theirs", "read"]),
                            st.lists(st.integers(0, 12), max_size=4), st.lists(st.integers(0, 12), max_size=3)),
                  min_size=1, max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=writes)
def test_whatever_the_order_of_writes_a_read_equals_the_stored_hash(redis_client, steps):
    redis_client.flushall()
    store = AlertStore(redis_client)
    for n, (who, put, drop) in enumerate(steps):
        fresh = [alert(i, value=float(n)) for i in put]
        gone = sorted({f"rain_15min|g{i}" for i in drop if i not in put})
        if who == "mine":
            before = store.alerts()
            after = {**before, **{a.fingerprint: a for a in fresh}}
            removed = [f for f in gone if f in after]
            for f in removed:
                del after[f]
            store.apply(Evaluation(alerts=after, changed={a.fingerprint for a in fresh}, removed=removed), before,
                        None, time.time())
        elif who == "theirs":
            another_process_writes(redis_client, put=fresh, drop=gone)
        assert store.alerts() == full_read(redis_client)
