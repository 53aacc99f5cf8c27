"""Per-incident delivery counts against a real Redis: every state change moves exactly one count,
in the same script or transaction as the change, so replays and lost races count nothing."""

from __future__ import annotations

import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opscentre.core import keys
from opscentre.core.notify import deliveries as dl
from opscentre.core.notify import incident_counts
from opscentre.core.notify.deliveries import Event, InvalidTransition, Receipt
from opscentre.core.notify.delivery_store import OPERATOR_RETENTION_S, DeliveryStore
from opscentre.core.notify.incident_counts import IncidentsWithCounts

T0 = 1_700_000_000.0


def make(recipient="r-1", channel="sms", incident="inc-1", notification="n-1", needs_approval=False):
    return dl.new(notification_id=notification, transition="opened", channel=channel, recipient_id=recipient,
                  target_masked="+55 21 9****-**21", payload="Chuva forte", now=T0, segments=1,
                  incident_id=incident, needs_approval=needs_approval)


@pytest.fixture
def store(redis_client):
    return DeliveryStore(redis_client)


def counts(redis_client, incident="inc-1"):
    return incident_counts.read(redis_client, [incident])[incident]


def test_each_state_change_moves_one_count_by_channel(store, redis_client):
    a, b, hook = make("r-1"), make("r-2"), make("s-1", channel="webhook")
    store.add([a, b, hook])
    assert counts(redis_client) == {"sms": {"queued": 2}, "webhook": {"queued": 1}}
    store.claim_for_send(a.id, T0 + 1)
    assert counts(redis_client) == {"sms": {"queued": 1, "sending": 1}, "webhook": {"queued": 1}}
    store.record(a.id, Event.ACCEPTED, T0 + 2, provider_id="SM1")
    assert counts(redis_client)["sms"] == {"queued": 1, "sent": 1}
    store.apply_receipt("SM1", "delivered", None, T0 + 3)
    assert counts(redis_client)["sms"] == {"queued": 1, "delivered": 1}
    store.claim_for_send(b.id, T0 + 4)
    store.record(b.id, Event.FAILED, T0 + 5, error="500", retryable=True, rng=random.Random(1))
    assert counts(redis_client)["sms"] == {"failed": 1, "delivered": 1}
    # the batched path (one Lua compare-and-set for many) counts as the single one does
    (claimed,) = store.claim_many([store.get(hook.id)], T0 + 6)
    assert counts(redis_client)["webhook"] == {"sending": 1}
    assert store.apply_many([(claimed, dl.transition(claimed, Event.DELIVERED, T0 + 7))], T0 + 7) == [True]
    assert counts(redis_client) == {"sms": {"failed": 1, "delivered": 1}, "webhook": {"delivered": 1}}


def test_replayed_adds_records_and_receipts_do_not_count_twice(store, redis_client):
    a = make()
    store.add([a])
    store.add([a, make()])  # the outbox entry read again after a crash
    assert counts(redis_client) == {"sms": {"queued": 1}}
    before = store.get(a.id)
    store.claim_for_send(a.id, T0 + 1)
    assert store.claim_for_send(a.id, T0 + 1) is None  # a second notifier's claim loses
    assert store.claim_many([before], T0 + 1) == []  # and so does a batch that read it before the claim
    store.record(a.id, Event.ACCEPTED, T0 + 2, provider_id="SM1")
    store.record(a.id, Event.ACCEPTED, T0 + 2, provider_id="SM1")  # the same outcome recorded twice
    for _ in range(3):
        store.apply_receipt("SM1", "delivered", None, T0 + 3)  # the provider repeats its callback
    store.apply_receipt("SM1", "sent", None, T0 + 4)  # and a late, older one arrives
    assert counts(redis_client) == {"sms": {"delivered": 1}}


def test_deliveries_of_no_incident_are_not_counted(store, redis_client):
    store.add([make(incident=None)])
    assert redis_client.keys(keys.incident_delivery_counts("*")) == []


def test_a_delivery_stored_before_the_counts_existed_is_never_counted_so_the_counts_never_go_wrong(
        store, redis_client):
    old, new = make("r-old").model_copy(update={"counted": False}), make("r-new")
    store.add([old, new])
    for d in (old, new):
        store.claim_for_send(d.id, T0 + 1)
        store.record(d.id, Event.DELIVERED, T0 + 2)
    assert counts(redis_client) == {"sms": {"delivered": 1}}
    assert min(int(n) for n in redis_client.hvals(keys.incident_delivery_counts("inc-1"))) == 0  # no -1 anywhere


def test_the_counts_outlive_every_delivery_they_count(store, redis_client):
    done, dead = make("r-1"), make("r-2")
    store.add([done, dead, make("r-3", needs_approval=True)])
    store.claim_for_send(done.id, T0)
    store.record(done.id, Event.DELIVERED, T0)
    store.claim_for_send(dead.id, T0)
    store.record(dead.id, Event.FAILED, T0, error="invalid number", retryable=False)
    ttl = redis_client.ttl(keys.incident_delivery_counts("inc-1"))
    assert ttl > 0 and ttl >= max(redis_client.ttl(keys.delivery(d.id)) for d in (done, dead))
    assert ttl > OPERATOR_RETENTION_S - 60


def test_incidents_are_read_with_their_counts_in_one_call(store, redis_client):
    redis_client.hset(keys.INCIDENTS, mapping={"inc-1": orjson.dumps({"id": "inc-1"}),
                                               "inc-2": orjson.dumps({"id": "inc-2"})})
    store.add([make("r-1"), make("s-1", channel="webhook"), make("r-2", incident="inc-other")])
    read = {i: (orjson.loads(raw), c) for i, raw, c in IncidentsWithCounts(redis_client)()}
    assert read == {"inc-1": ({"id": "inc-1"}, {"sms": {"queued": 1}, "webhook": {"queued": 1}}),
                    "inc-2": ({"id": "inc-2"}, {})}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(list(Event)), st.booleans(), st.booleans(),
                          st.sampled_from(["sent", "delivered", "failed"])), max_size=30))
def test_the_counts_always_equal_the_deliveries_states(redis_client, steps):
    redis_client.flushall()
    store = DeliveryStore(redis_client)
    ds = [make("r-0"), make("r-1", needs_approval=True), make("s-0", channel="webhook"),
          make("r-2", incident="inc-2")]
    store.add(ds)
    now, rng = T0, random.Random(0)
    for which, event, flag, batched, status in steps:
        now += 400
        details = {"rng": rng, "by": "ana" if flag else "bruno", "provider_id": f"SM{which}", "error": "e",
                   "retryable": flag, "receipt": Receipt(f"SM{which}", status)}
        if batched:  # the sender's path: computed from a copy read earlier, written by compare-and-set
            seen = store.get(ds[which].id)
            try:
                store.apply_many([(seen, dl.transition(seen, event, now, **details))], now)
            except InvalidTransition:
                pass
            continue
        try:
            store.record(ds[which].id, event, now, **details)
        except InvalidTransition:
            pass
    for incident in ("inc-1", "inc-2"):
        expected: dict[str, dict[str, int]] = {}
        for d in ds:
            if d.incident_id == incident:
                state = store.get(d.id).state.value
                expected.setdefault(d.channel, {}).setdefault(state, 0)
                expected[d.channel][state] += 1
        assert counts(redis_client, incident) == expected
