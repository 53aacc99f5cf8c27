"""The net-cut fault: Redis executes a transaction, the reply is lost with the connection, and
redis-py's retry sends the same transaction again. A poll must still be stored once."""

import time

import orjson

import pytest

from opscentre.core import keys
from opscentre.core.connection import connect
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.store import Store
from opscentre.drills.proxy import CuttingProxy, _split_commands

NOW = float(int(time.time()))


@pytest.fixture
def proxy(redis_server):
    with CuttingProxy.in_front_of(redis_server.url) as p:
        yield p


@pytest.fixture
def via_proxy(proxy, redis_client):
    client = connect(proxy.url, check=False)  # the project's client: its Retry re-sends on ConnectionError
    yield client
    client.close()


def poll(store, values, t=NOW):
    entities = [Entity(entity_id=f"g{i}", entity_type="rain_gauge", source="t", zone_id="024",
                       geometry={"type": "Point", "coordinates": [-43.18, -22.97]}) for i in range(len(values))]
    batch = ObservationBatch(source="t", kind="rain_mm", entity_ids=[e.entity_id for e in entities],
                             values=values, observed_at=[t] * len(values))
    store.write_poll("t", entities, [batch], {"status": "ok", "items": len(values)},
                     {"polls": 1, "observations_stored": len(values), "poll_seconds_sum": 0.25},
                     retention_s=48 * 3600, wall_now=t)


def test_the_proxy_cuts_a_reply_after_redis_ran_the_command_and_the_client_sends_it_again(proxy, via_proxy,
                                                                                           redis_client):
    # The fault itself, on a plain transaction: executed once, reply lost, re-sent, executed again.
    proxy.cut_replies(b"EXEC")
    pipe = via_proxy.pipeline(transaction=True)
    pipe.incr("counter")
    assert pipe.execute() == [2]  # the client sees the second execution's reply
    assert redis_client.get("counter") == b"2"
    assert len(proxy.cuts) == 1 and proxy.armed() == 0


def test_a_poll_whose_reply_is_cut_is_stored_once(proxy, via_proxy, redis_client):
    store = Store(via_proxy)
    poll(store, [1.0, 2.0])
    proxy.cut_replies(b"EXEC")
    poll(store, [3.0, 4.0], t=NOW + 60)
    assert len(proxy.cuts) == 1  # the fault happened: Redis ran the poll and the client re-sent it
    direct = Store(redis_client)
    assert direct.history_length("rain_mm") == 2  # one entry per poll, not three
    assert [r[1] for r in direct.history("rain_mm", since=0)] == [1.0, 2.0, 3.0, 4.0]
    assert direct.latest("rain_mm")["g0"] == (3.0, NOW + 60, "t")
    metrics = direct.all_feed_metrics()["t"]
    assert metrics["polls"] == 2 and metrics["observations_stored"] == 4
    assert metrics["poll_seconds_sum"] == pytest.approx(0.5)
    assert direct.version() == 2
    assert int(redis_client.get(keys.ENTITIES_VERSION)) == 2


def test_a_cut_before_redis_saw_the_transaction_still_stores_the_poll(proxy, via_proxy, redis_client):
    store = Store(via_proxy)
    proxy.cut_before(b"EXEC")  # Redis drops a transaction whose EXEC never came
    poll(store, [1.0])
    direct = Store(redis_client)
    assert len(proxy.cuts) == 1
    assert direct.history_length("rain_mm") == 1
    assert direct.all_feed_metrics()["t"]["polls"] == 1


def test_commands_are_split_only_when_complete():
    data = bytearray(b"*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nx\r\n*1\r\n$4\r\nEX")
    commands, rest = _split_commands(data)
    assert [name for _end, name in commands] == [b"MULTI", b"INCR"]
    assert rest == len(data) - len(b"*1\r\n$4\r\nEX")


def test_a_failed_poll_whose_reply_is_cut_is_counted_once(proxy, via_proxy, redis_client):
    store = Store(via_proxy)
    proxy.cut_replies(b"EXEC")
    store.record_failure("t", {"status": "failing", "last_error": "timeout"}, {"failures": 1, "polls": 1})
    assert len(proxy.cuts) == 1
    direct = Store(redis_client)
    assert direct.feed_health("t")["consecutive_failures"] == 1
    assert direct.all_feed_metrics()["t"] == {"failures": 1, "polls": 1}


def test_a_write_claim_is_dropped_by_the_next_write_and_expires_anyway(redis_client):
    store = Store(redis_client)
    poll(store, [1.0])
    claims = redis_client.keys(keys.write_once("*"))
    assert len(claims) == 1 and 0 < redis_client.ttl(claims[0]) <= 600
    poll(store, [2.0], t=NOW + 60)
    assert redis_client.keys(keys.write_once("*")) != claims and len(redis_client.keys(keys.write_once("*"))) == 1


def test_a_cut_can_pick_the_transaction_that_writes_a_key(proxy, via_proxy, redis_client):
    proxy.cut_replies(b"EXEC", containing=b"wanted")
    for key in ("other", "wanted", "other"):
        pipe = via_proxy.pipeline(transaction=True)
        pipe.incr(key)
        pipe.execute()
    assert len(proxy.cuts) == 1
    assert redis_client.get("other") == b"2" and redis_client.get("wanted") == b"2"  # (it ran twice)


def test_an_evaluation_whose_reply_is_cut_writes_its_alert_changes_once(proxy, via_proxy, redis_client):
    from tests.workers.test_evaluation import SETTINGS, store_reading

    from opscentre.workers.evaluation import evaluate_city

    now = time.time()
    store_reading(Store(redis_client), "rain_mm", 9.0, now)
    changes = keys.ALERTS_CHANGES.encode()
    # the alert write: its XADD to the changes stream, run through the write-once script
    proxy.cut_replies(b"EXEC", containing=b"$%d\r\n%s\r\n$4\r\nXADD" % (len(changes), changes))
    evaluate_city(SETTINGS, Store(via_proxy), now=now)
    assert len(proxy.cuts) == 1  # the fault happened
    assert {k: redis_client.xlen(k) for k in (keys.ALERTS_CHANGES, keys.OUTBOX, keys.STAGE_HISTORY)} == \
        {keys.ALERTS_CHANGES: 1, keys.OUTBOX: 1, keys.STAGE_HISTORY: 1}
    audit = [orjson.loads(f[b"d"])["action"] for _id, f in redis_client.xrange(keys.AUDIT)]
    assert len(audit) == len(set(audit))  # each transition and the stage change once
    assert int(redis_client.get(keys.ALERTS_VERSION)) == 1


def test_an_acknowledgement_whose_reply_is_cut_is_audited_once(proxy, via_proxy, redis_client):
    from tests.dashboard.city_seed import alert_record

    from opscentre.core.alert_store import AlertStore

    AlertStore(redis_client).put([alert_record("a-00000000a1", "firing")])
    proxy.cut_replies(b"EXEC", containing=b"acknowledged")
    AlertStore(via_proxy).acknowledge("a-00000000a1", "olga", "checked the gauge", time.time())
    assert len(proxy.cuts) == 1
    actions = [orjson.loads(f[b"d"])["action"] for _id, f in redis_client.xrange(keys.AUDIT)]
    assert actions.count("acknowledged") == 1
