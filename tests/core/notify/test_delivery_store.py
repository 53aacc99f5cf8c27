"""The delivery store against a real Redis: records, indexes, claims, receipts, approvals, breakers."""

from __future__ import annotations

import random
import threading

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opscentre.core import keys
from opscentre.core.notify import deliveries as dl
from opscentre.core.notify.breaker import BreakerEvent, BreakerState
from opscentre.core.notify.deliveries import Event, InvalidTransition, Receipt, State
from opscentre.core.notify.delivery_store import DONE_RETENTION_S, DeliveryStore

T0 = 1_700_000_000.0


def make(recipient="r-1", notification="n-1", channel="sms", needs_approval=False, payload="Chuva forte"):
    return dl.new(notification_id=notification, transition="opened", channel=channel, recipient_id=recipient,
                  target_masked="+55 21 9****-**21", payload=payload, now=T0, segments=2, incident_id="inc-1",
                  needs_approval=needs_approval)


@pytest.fixture
def store(redis_client):
    return DeliveryStore(redis_client)


def test_a_delivery_round_trips_with_every_field(store):
    d = make(payload={"kind": "incident", "zones": ["Copacabana"], "severity": "critical"})
    waiting = make(recipient="r-2", needs_approval=True)
    assert store.add([d, waiting]) == [d.id, waiting.id]
    assert store.get(d.id) == d and store.get(waiting.id) == waiting
    assert store.claim_for_send(d.id, T0 + 1) is not None
    sent = store.record(d.id, Event.ACCEPTED, T0 + 2, provider_id="SM1")
    store.approve("n-1", "ana", T0 + 3)
    assert store.get(d.id) == sent and sent.state is State.SENT and sent.claimed_at == T0 + 1 and sent.attempts == 1
    assert store.get(waiting.id).approvals == ("ana",)
    assert store.get(d.id).body() == {"kind": "incident", "zones": ["Copacabana"], "severity": "critical"}


def test_the_same_idempotency_key_added_twice_is_one_delivery(store, redis_client):
    first = make()
    assert store.add([first, make(recipient="r-2")]) == [first.id, make(recipient="r-2").id]
    store.claim_for_send(first.id, T0)
    # the outbox entry was read again after a crash: the same keys come back
    assert store.add([make(), make(recipient="r-2"), make(recipient="r-3")]) == [make(recipient="r-3").id]
    assert store.get(first.id).state is State.SENDING  # the re-add did not reset it
    assert len(store.by_notification("n-1")) == 3


def test_one_delivery_claimed_by_eight_senders_at_once_is_claimed_once(store):
    d = make()
    store.add([d])
    results, barrier = [], threading.Barrier(8)

    def claim():
        barrier.wait()
        results.append(store.claim_for_send(d.id, T0))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [r for r in results if r is not None]
    assert len(claimed) == 1 and claimed[0].attempts == 1 and store.get(d.id).attempts == 1


def test_due_lists_what_may_be_sent_now_and_a_failure_waits_for_its_backoff(store):
    a, b = make(), make(recipient="r-2")
    store.add([a, b, make(recipient="r-3", needs_approval=True)])
    assert set(store.due(T0)) == {a.id, b.id}
    store.claim_for_send(a.id, T0)
    failed = store.record(a.id, Event.FAILED, T0, rng=random.Random(1), error="500", retryable=True)
    assert store.due(T0) == [b.id]
    assert a.id in store.due(failed.next_attempt_at)
    store.defer(b.id, T0 + 50)
    assert b.id not in store.due(T0 + 49) and b.id in store.due(T0 + 50)
    store.defer(b.id, T0 + 10)  # never earlier
    assert b.id not in store.due(T0 + 49)


def test_the_state_indexes_follow_every_transition(store):
    d = make()
    store.add([d])
    assert [x.id for x in store.by_state(State.QUEUED)] == [d.id]
    store.claim_for_send(d.id, T0)
    assert store.by_state(State.QUEUED) == [] and [x.id for x in store.by_state(State.SENDING)] == [d.id]
    store.record(d.id, Event.FAILED, T0, error="invalid 'To' number (code 21211; not retried)", retryable=False,
                 code="21211")
    counts = store.counts()
    assert counts["dead"] == 1 and sum(counts.values()) == 1
    (dead,) = store.dead()
    assert dead.last_error.startswith("invalid 'To' number") and dead.error_code == "21211"


def test_an_operator_retry_requeues_a_dead_letter_and_is_audited(store, redis_client):
    d = make()
    store.add([d])
    store.claim_for_send(d.id, T0)
    store.record(d.id, Event.FAILED, T0, error="x", retryable=False)
    again = store.retry(d.id, T0 + 100, by="ana")
    assert again.state is State.QUEUED and again.attempts == 0 and store.due(T0 + 100) == [d.id]
    assert store.dead() == []
    (entry,) = [orjson.loads(f[b"d"]) for _, f in redis_client.xrange(keys.AUDIT)]
    assert entry["actor"] == "ana" and entry["action"] == "delivery-retry" and entry["subject"] == d.id
    with pytest.raises(InvalidTransition):
        store.retry(d.id, T0 + 101, by="ana")  # queued: nothing to retry


def test_receipts_find_their_delivery_by_provider_id_or_by_the_callbacks_key(store):
    a, b = make(), make(recipient="r-2")
    store.add([a, b])
    store.claim_for_send(a.id, T0)
    store.record(a.id, Event.ACCEPTED, T0, provider_id="SM-a")
    assert store.apply_receipt("SM-a", "delivered", None, T0 + 5).state is State.DELIVERED
    # b's sender died after the provider took it, before recording its sid: the key finds it
    store.claim_for_send(b.id, T0)
    got = store.apply_receipt("SM-b", "sent", None, T0 + 6, key=b.idempotency_key)
    assert got.state is State.SENT and got.provider_id == "SM-b"
    assert store.apply_receipt("SM-b", "undelivered", "30003", T0 + 7).error_code == "30003"
    assert store.apply_receipt("SM-nobody", "delivered", None, T0) is None
    assert store.apply_receipt("SM-a", "sent", None, T0 + 8).state is State.DELIVERED  # late: no change


def test_a_mass_send_waits_for_two_different_operators_and_each_approval_is_audited(store, redis_client):
    batch = [make(recipient=f"r-{i}", needs_approval=True) for i in range(5)]
    store.add(batch)
    assert store.due(T0 + 1000) == []
    store.approve("n-1", "ana", T0 + 1)
    with pytest.raises(InvalidTransition, match="different operator"):
        store.approve("n-1", "ana", T0 + 2)
    assert store.due(T0 + 1000) == []
    released = store.approve("n-1", "bruno", T0 + 3)
    assert {d.state for d in released} == {State.QUEUED} and len(store.due(T0 + 3)) == 5
    actors = [orjson.loads(f[b"d"])["actor"] for _, f in redis_client.xrange(keys.AUDIT)]
    assert actors == ["ana", "bruno"]


def test_stale_sending_lists_the_deliveries_a_dead_sender_left_mid_send(store):
    a, b = make(), make(recipient="r-2")
    store.add([a, b])
    store.claim_for_send(a.id, T0)
    store.claim_for_send(b.id, T0 + 100)
    assert [d.id for d in store.stale_sending(T0 + 50)] == [a.id]


def test_final_deliveries_expire_and_waiting_ones_do_not(store, redis_client):
    a, b = make(), make(recipient="r-2")
    store.add([a, b])
    store.claim_for_send(a.id, T0)
    store.record(a.id, Event.DELIVERED, T0)
    assert 0 < redis_client.ttl(keys.delivery(a.id)) <= DONE_RETENTION_S
    assert redis_client.ttl(keys.delivery(b.id)) == -1


def test_a_delivery_stored_cancelled_expires_like_any_finished_one(store, redis_client):
    limited = dl.transition(make(), Event.CANCEL, T0, error="rate limit: 10 messages in the last hour")
    old = dl.transition(make(recipient="r-old", notification="n-old"), Event.CANCEL, T0 - DONE_RETENTION_S - 1)
    store.add([old, limited])
    assert 0 < redis_client.ttl(keys.delivery(limited.id)) <= DONE_RETENTION_S
    # its state index is trimmed to the same retention, as a transition into it would
    assert store.by_state(State.CANCELLED) == [limited]


def test_the_breaker_is_shared_by_every_notifier_process(redis_client):
    one, two = DeliveryStore(redis_client), DeliveryStore(redis_client)
    rng = random.Random(5)
    for _ in range(one.breaker_policy.threshold):
        one.breaker_event("sms:gw:", BreakerEvent.FAILURE, T0, rng)
    breaker, admitted = two.breaker_event("sms:gw:", BreakerEvent.REQUEST, T0, rng)
    assert breaker.state is BreakerState.OPEN and not admitted
    _, probe = two.breaker_event("sms:gw:", BreakerEvent.REQUEST, breaker.retry_at, rng)
    _, second = one.breaker_event("sms:gw:", BreakerEvent.REQUEST, breaker.retry_at, rng)
    assert probe and not second and one.breaker("sms:gw:").state is BreakerState.HALF_OPEN


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(list(Event)), st.booleans(),
                          st.sampled_from(["sent", "delivered", "failed"])), max_size=25))
def test_no_sequence_of_events_leaves_a_delivery_in_two_state_indexes(redis_client, steps):
    redis_client.flushall()
    store = DeliveryStore(redis_client)
    ds = [make(recipient=f"r-{i}", needs_approval=i == 2) for i in range(3)]
    store.add(ds)
    now, rng = T0, random.Random(0)
    for which, event, flag, status in steps:
        now += 400
        try:
            store.record(ds[which].id, event, now, rng=rng, by="ana" if flag else "bruno", provider_id=f"SM{which}",
                         error="e", retryable=flag, receipt=Receipt(f"SM{which}", status))
        except InvalidTransition:
            pass
    due = {i.decode() for i in redis_client.zrange(keys.DELIVERIES_DUE, 0, -1)}
    for d in ds:
        current = store.get(d.id)
        holding = [s for s in State if redis_client.zscore(keys.deliveries_in_state(s.value), d.id) is not None]
        assert holding == [current.state]
        assert (d.id in due) == (current.state in dl.CLAIMABLE)
