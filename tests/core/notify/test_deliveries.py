"""The delivery lifecycle, the backoff schedule and the circuit breaker: pure functions."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opscentre.core.notify import breaker as br
from opscentre.core.notify import deliveries as dl
from opscentre.core.notify.deliveries import Backoff, Event, InvalidTransition, Receipt, RetryPolicy, State

T0 = 1_700_000_000.0


def fresh(**kw) -> dl.Delivery:
    return dl.new(notification_id="n-1", transition="opened", channel="sms", recipient_id="r-1",
                  target_masked="+55 21 9****-**21", payload="Chuva forte em Copacabana", now=T0, segments=1, **kw)


def step(d, event, now=None, **kw):
    return dl.transition(d, event, T0 if now is None else now, rng=random.Random(1), **kw)


def test_a_delivery_goes_queued_sending_sent_delivered_and_keeps_its_provider_id():
    d = fresh()
    assert d.state is State.QUEUED and d.next_attempt_at == T0 and d.body() == "Chuva forte em Copacabana"
    d = step(d, Event.CLAIM)
    assert d.state is State.SENDING and d.attempts == 1 and d.claimed_at == T0
    d = step(d, Event.ACCEPTED, provider_id="SM9b7")
    assert d.state is State.SENT and d.provider_id == "SM9b7"
    d = step(d, Event.RECEIPT, T0 + 5, receipt=Receipt("SM9b7", "delivered"))
    assert d.state is State.DELIVERED and d.provider_id == "SM9b7" and d.updated_at == T0 + 5


def test_the_same_idempotency_key_is_the_same_delivery_and_another_recipient_another():
    assert fresh().id == fresh().id
    other = dl.new(notification_id="n-1", transition="opened", channel="sms", recipient_id="r-2",
                   target_masked="x", payload="t", now=T0)
    assert other.id != fresh().id and fresh().idempotency_key == "sms|n-1|opened|r-1"


def test_a_retryable_failure_waits_its_backoff_and_cannot_be_claimed_before():
    d = step(step(fresh(), Event.CLAIM), Event.FAILED, error="gateway answered 500", retryable=True, code="500")
    assert d.state is State.FAILED and d.retryable and d.last_error == "gateway answered 500"
    assert T0 + 1.0 <= d.next_attempt_at <= T0 + 1.0  # attempt 1: between the floor (1 s) and 1 s
    with pytest.raises(InvalidTransition, match="not due"):
        step(d, Event.CLAIM, T0 + 0.5)
    d = step(d, Event.CLAIM, d.next_attempt_at)
    assert d.state is State.SENDING and d.attempts == 2


def test_a_permanent_failure_is_a_dead_letter_at_once():
    d = step(step(fresh(), Event.CLAIM), Event.FAILED, error="invalid 'To' number (code 21211; not retried)",
             retryable=False, code="21211")
    assert d.state is State.DEAD and d.error_code == "21211" and d.next_attempt_at is None


def test_the_retry_budget_ends_after_max_attempts():
    policy = RetryPolicy(max_attempts=3)
    d, now = fresh(), T0
    for _ in range(3):
        d = dl.transition(d, Event.CLAIM, now, policy=policy)
        d = dl.transition(d, Event.FAILED, now, policy=policy, rng=random.Random(2), error="500", retryable=True)
        now = d.next_attempt_at or now
    assert d.state is State.DEAD and d.attempts == 3 and "retry budget spent after 3 attempts" in d.last_error


def test_the_retry_budget_ends_after_max_age_even_with_attempts_left():
    policy = RetryPolicy(max_attempts=100, max_age_s=60)
    d = dl.transition(fresh(), Event.CLAIM, T0 + 59.5, policy=policy)
    d = dl.transition(d, Event.FAILED, T0 + 59.5, policy=policy, rng=random.Random(3), error="500", retryable=True)
    assert d.state is State.DEAD


def test_a_retry_after_longer_than_the_backoff_is_honoured_up_to_its_maximum():
    d = step(fresh(), Event.CLAIM)
    assert step(d, Event.FAILED, error="429", retryable=True, retry_after_s=120).next_attempt_at == T0 + 120
    assert step(d, Event.FAILED, error="429", retryable=True, retry_after_s=10**9).next_attempt_at == T0 + 3600


def test_two_different_operators_release_a_mass_send_and_the_same_one_twice_is_refused():
    d = fresh(needs_approval=True)
    assert d.state is State.AWAITING_APPROVAL and d.next_attempt_at is None
    with pytest.raises(InvalidTransition):
        step(d, Event.CLAIM)
    d = step(d, Event.APPROVE, by="ana")
    assert d.state is State.AWAITING_APPROVAL and d.approvals == ("ana",)
    with pytest.raises(InvalidTransition, match="a second, different operator"):
        step(d, Event.APPROVE, by="ana")
    d = step(d, Event.APPROVE, T0 + 30, by="bruno")
    assert d.state is State.QUEUED and d.approvals == ("ana", "bruno") and d.next_attempt_at == T0 + 30


def test_receipts_out_of_order_never_move_a_delivery_backwards():
    sent = step(step(fresh(), Event.CLAIM), Event.ACCEPTED, provider_id="SM1")
    delivered = step(sent, Event.RECEIPT, receipt=Receipt("SM1", "delivered"))
    assert step(delivered, Event.RECEIPT, receipt=Receipt("SM1", "sent")) is delivered
    assert step(delivered, Event.RECEIPT, receipt=Receipt("SM1", "undelivered", "30003")) is delivered
    assert step(sent, Event.RECEIPT, receipt=Receipt("SM1", "queued")) is sent
    undelivered = step(sent, Event.RECEIPT, receipt=Receipt("SM1", "undelivered", "30003"))
    assert undelivered.state is State.UNDELIVERED and undelivered.error_code == "30003"
    with pytest.raises(InvalidTransition, match="unknown status"):
        step(sent, Event.RECEIPT, receipt=Receipt("SM1", "teleported"))


def test_a_receipt_that_beats_the_senders_record_proves_the_send_and_the_late_record_changes_nothing():
    sending = step(fresh(), Event.CLAIM)
    sent = step(sending, Event.RECEIPT, receipt=Receipt("SM1", "sent"))
    assert sent.state is State.SENT and sent.provider_id == "SM1"
    assert step(sent, Event.ACCEPTED, provider_id="SM1") is sent


def test_a_receipt_for_a_message_never_sent_is_refused():
    with pytest.raises(InvalidTransition, match="never sent"):
        step(fresh(), Event.RECEIPT, receipt=Receipt("SM1", "delivered"))


def test_an_operator_retry_requeues_a_dead_letter_with_a_fresh_budget_but_never_a_delivered_one():
    dead = step(step(fresh(), Event.CLAIM), Event.FAILED, error="x", retryable=False)
    again = step(dead, Event.RETRY, T0 + 999, by="ana")
    assert again.state is State.QUEUED and again.attempts == 0 and again.budget_from == T0 + 999
    delivered = step(step(fresh(), Event.CLAIM), Event.DELIVERED)
    with pytest.raises(InvalidTransition):
        step(delivered, Event.RETRY, by="ana")


def test_an_interrupted_send_the_provider_cannot_vouch_for_is_unknown_until_an_operator_decides():
    unknown = step(step(fresh(), Event.CLAIM), Event.LOST, error="interrupted")
    assert unknown.state is State.UNKNOWN
    with pytest.raises(InvalidTransition):
        step(unknown, Event.CLAIM)
    assert step(unknown, Event.RETRY, by="ana").state is State.QUEUED


# ---- properties -----------------------------------------------------------------------------

EVENTS = st.sampled_from(list(Event))
RECEIPT_STATUSES = st.sampled_from(["queued", "sent", "delivered", "undelivered", "failed", "read", "bogus"])


@st.composite
def event_steps(draw):
    return [(draw(EVENTS), draw(st.floats(0, 400)), draw(st.booleans()), draw(RECEIPT_STATUSES),
             draw(st.sampled_from(["ana", "bruno"])), draw(st.sampled_from(["SM1", "SM2"])))
            for _ in range(draw(st.integers(1, 40)))]


@settings(max_examples=400, deadline=None)
@given(event_steps(), st.booleans(), st.integers(0, 2**32))
def test_no_event_sequence_delivers_twice_or_sends_again_what_the_provider_has(steps, approval, seed):
    policy = RetryPolicy(max_attempts=4)
    rng = random.Random(seed)
    d, now = fresh(needs_approval=approval), T0
    entered_delivered = 0
    provider_has_it = False
    for event, dt, retryable, status, by, pid in steps:
        now += dt
        try:
            after = dl.transition(d, event, now, rng=rng, policy=policy, by=by, provider_id=pid, error="e",
                                  retryable=retryable, receipt=Receipt(pid, status))
        except InvalidTransition:
            continue
        assert isinstance(after.state, State) and after.attempts <= policy.max_attempts
        if after.state is State.DELIVERED and d.state is not State.DELIVERED:
            entered_delivered += 1
        if event is Event.RETRY:
            provider_has_it = False  # an operator chose to send it again
        elif after.state in dl.PROVIDER_HAS_IT:
            provider_has_it = True
        if event is Event.CLAIM:
            assert not provider_has_it, "claimed again for sending after the provider had it"
        if after.state is State.FAILED:
            assert after.next_attempt_at >= now + policy.backoff.floor_s
        if d.state is State.DELIVERED:
            assert after.state is State.DELIVERED, "delivered is final"
        assert (after.state in dl.CLAIMABLE) == (after.next_attempt_at is not None)
        d = after
    assert entered_delivered <= 1


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 200), st.integers(0, 2**32), st.floats(0.1, 10), st.floats(1, 1000), st.floats(0, 0.9))
def test_the_backoff_never_exceeds_its_cap_nor_goes_below_its_floor_and_its_floor_never_goes_back(
        n, seed, base, cap, fraction):
    backoff = Backoff(base_s=base, cap_s=max(cap, base), floor_s=base, min_fraction=fraction)
    rng = random.Random(seed)
    wait = backoff.delay(n, rng)
    assert backoff.floor_s <= backoff.lower(n) <= wait <= backoff.cap_s
    assert backoff.lower(n + 1) >= backoff.lower(n) and backoff.ceiling(n + 1) >= backoff.ceiling(n)
    assert backoff.delay(n, rng, retry_after_s=cap * 2) >= min(cap * 2, backoff.max_retry_after_s)


# ---- the circuit breaker ----------------------------------------------------------------------

POLICY = br.BreakerPolicy(threshold=3, probe_timeout_s=60)


def run(b, event, now, retry_after_s=None):
    return br.transition(b, event, now, random.Random(4), POLICY, retry_after_s)


def test_the_breaker_opens_after_threshold_consecutive_failures_and_a_success_resets_the_count():
    b = br.Breaker()
    b, _ = run(b, br.BreakerEvent.FAILURE, T0)
    b, _ = run(b, br.BreakerEvent.FAILURE, T0)
    b, _ = run(b, br.BreakerEvent.SUCCESS, T0)
    assert b == br.Breaker()
    for _ in range(3):
        b, _ = run(b, br.BreakerEvent.FAILURE, T0)
    assert b.state is br.BreakerState.OPEN and T0 + 0.5 <= b.retry_at <= T0 + 1
    assert run(b, br.BreakerEvent.REQUEST, T0 + 0.1) == (b, False)


def test_the_open_breaker_lets_one_probe_through_then_closes_on_its_success():
    b = br.Breaker(state=br.BreakerState.OPEN, failures=3, step=2, retry_at=T0)
    b, first = run(b, br.BreakerEvent.REQUEST, T0)
    _, second = run(b, br.BreakerEvent.REQUEST, T0 + 1)
    assert first and not second and b.state is br.BreakerState.HALF_OPEN
    b, _ = run(b, br.BreakerEvent.SUCCESS, T0 + 2)
    assert b.state is br.BreakerState.CLOSED and run(b, br.BreakerEvent.REQUEST, T0 + 2)[1]


def test_a_failed_probe_reopens_the_breaker_one_step_further_and_honours_retry_after():
    b = br.Breaker(state=br.BreakerState.HALF_OPEN, failures=3, step=2, probe_until=T0 + 60)
    b, _ = run(b, br.BreakerEvent.FAILURE, T0)
    assert b.state is br.BreakerState.OPEN and b.step == 3 and T0 + 4 <= b.retry_at <= T0 + 8
    b2 = br.Breaker(state=br.BreakerState.HALF_OPEN, failures=3, step=2, probe_until=T0 + 60)
    assert run(b2, br.BreakerEvent.FAILURE, T0, retry_after_s=90)[0].retry_at == T0 + 90


def test_a_probe_that_never_reports_back_counts_as_failed_after_the_probe_timeout():
    b = br.Breaker(state=br.BreakerState.HALF_OPEN, failures=3, step=1, probe_until=T0 + 60)
    b, admitted = run(b, br.BreakerEvent.REQUEST, T0 + 60)
    assert not admitted and b.state is br.BreakerState.OPEN and b.step == 2


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(br.BreakerEvent)), st.floats(0, 30)), min_size=1, max_size=80),
       st.integers(0, 2**32))
def test_the_breaker_never_lets_more_than_one_probe_through_per_backoff_step(events, seed):
    rng = random.Random(seed)
    b, now = br.Breaker(), T0
    probes_this_opening: dict[int, int] = {}
    for event, dt in events:
        now += dt
        before = b
        b, admitted = br.transition(b, event, now, rng, POLICY)
        if b.state is br.BreakerState.CLOSED:
            probes_this_opening.clear()  # a new outage starts from step 0
        if event is br.BreakerEvent.REQUEST and admitted and before.state is not br.BreakerState.CLOSED:
            probes_this_opening[b.step] = probes_this_opening.get(b.step, 0) + 1
            assert probes_this_opening[b.step] == 1, f"two probes in step {b.step}"
            assert b.state is br.BreakerState.HALF_OPEN
        if b.state is br.BreakerState.OPEN and (before.state is not br.BreakerState.OPEN or before.step != b.step):
            assert now + POLICY.backoff.lower(b.step) <= b.retry_at <= now + POLICY.backoff.cap_s
