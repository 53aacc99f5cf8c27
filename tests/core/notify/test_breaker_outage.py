"""A long gateway outage under the circuit breaker: the messages that take turns probing it keep
their retry budget, and the moment a probe finds the gateway back every waiting message goes
(real Redis, a Twilio-compatible gateway on loopback, the dispatcher's clock stepped by hand)."""

from __future__ import annotations

import random

import pytest

from opscentre.core.notify import breaker
from opscentre.core.notify import deliveries as dl
from opscentre.core.notify.channels.dispatch import Dispatcher
from opscentre.core.notify.channels.sms import SmsChannel
from opscentre.core.notify.deliveries import Event, State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.recipient_store import RecipientStore
from tests.core.notify.test_channels import Gateway, sms_settings
from tests.workers.test_notifier_race import planned


@pytest.fixture
def gateway():
    g = Gateway()
    yield g
    g.close()


def sending(attempts: int) -> dl.Delivery:
    d = dl.new(notification_id="n1", transition="opened", channel="sms", recipient_id="r1",
               target_masked="+55 21 9****-**21", payload="Chuva", now=1000.0)
    return d.model_copy(update={"state": State.SENDING, "attempts": attempts, "next_attempt_at": None})


def test_a_failed_probe_gives_its_attempt_back_and_an_ordinary_failure_does_not():
    rng = random.Random(1)
    probed = dl.transition(sending(3), Event.FAILED, 1001.0, rng=rng, error="500", retryable=True, probe=True)
    assert probed.state is State.FAILED and probed.attempts == 2
    plain = dl.transition(sending(3), Event.FAILED, 1001.0, rng=rng, error="500", retryable=True)
    assert plain.state is State.FAILED and plain.attempts == 3
    last = dl.transition(sending(dl.POLICY.max_attempts), Event.FAILED, 1001.0, rng=rng, error="500",
                         retryable=True, probe=True)
    assert last.state is State.FAILED  # its last attempt was the gateway's outage: it waits, not dead
    permanent = dl.transition(sending(3), Event.FAILED, 1001.0, rng=rng, error="400", retryable=False, probe=True)
    assert permanent.state is State.DEAD and permanent.attempts == 3


def test_half_an_hour_of_outage_kills_no_message_and_its_return_sends_every_waiting_one_at_once(
        redis_client, gateway):
    ds = planned(redis_client, 8)
    phones = {r.id: r.phone for r in RecipientStore(redis_client).list()}
    clock = {"now": ds[0].created_at}
    store = DeliveryStore(redis_client)
    dispatcher = Dispatcher(store, {"sms": SmsChannel(sms_settings(gateway))}, lambda d: phones[d.recipient_id],
                            rng=random.Random(7), clock=lambda: clock["now"])
    gateway.mode = "500"
    start = clock["now"]
    while clock["now"] < start + 1800:  # half an hour, more than the retry budget's ~13 minutes
        dispatcher.send_due()
        clock["now"] += 1.0
    failed = len(gateway.posts())
    assert failed <= breaker.POLICY.threshold + 1800 / breaker.POLICY.backoff.lower(64) + 5  # one probe a step
    assert {d.state for d in store.get_many(d.id for d in ds)} == {State.FAILED}  # none dead
    gateway.mode = "ok"
    while not gateway.messages:  # the next probe finds it back
        dispatcher.send_due()
        clock["now"] += 0.5
    dispatcher.send_due()  # half a second later: the others were made due when the probe closed the breaker
    assert sorted(m["to"] for m in gateway.messages) == sorted(phones.values())
    assert {d.state for d in store.get_many(d.id for d in ds)} == {State.SENT}
