"""Two notifiers sending from the same planned deliveries at once (real Redis, each with its own
connection; a Twilio-compatible gateway on loopback): the batched claim (one Lua compare-and-set
per chunk) lets exactly one of them have each delivery, so every message is sent exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from opscentre.core.notify import deliveries as dl
from opscentre.core.notify import incident_counts
from opscentre.core.notify.channels import Channels
from opscentre.core.notify.channels.sms import SmsChannel
from opscentre.core.notify.deliveries import State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.phones import masked
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.notify.recipients import Recipient, Role
from opscentre.workers.notifier import Notifier
from tests.core.notify.test_channels import Gateway, sms_settings
from tests.workers.test_notifier import COPACABANA, RIO

WAIT_S = 120.0  # a bound on a hang, not a timing assertion


def planned(redis_client, n: int) -> list[dl.Delivery]:
    """n community contacts in Copacabana and one planned SMS to each, as planning stores them."""
    now = time.time()
    recipients = RecipientStore(redis_client)
    people = [recipients.add(Recipient.create(name=f"Vizinho {i}", phone=f"+55219{87000000 + i:08d}",
                                              consent_how="cli", now=now, zone_ids=(COPACABANA,),
                                              role=Role.COMMUNITY)) for i in range(n)]
    out = [dl.new(notification_id="n-race", transition="opened", channel="sms", recipient_id=p.id,
                  target_masked=masked(p.phone), payload="Chuva muito forte em Copacabana", now=now,
                  incident_id="i-race") for p in people]
    assert DeliveryStore(redis_client).add(out) == [d.id for d in out]
    return out


@pytest.fixture
def gateway():
    g = Gateway()
    yield g
    g.close()


@pytest.fixture
def two_notifiers(redis_server, gateway):
    clients = [redis.Redis.from_url(redis_server.url) for _ in range(2)]
    notifiers = [Notifier(RIO, c, Channels(enabled={"sms": SmsChannel(sms_settings(gateway))}), f"notifier-{i}")
                 for i, c in enumerate(clients)]
    yield notifiers
    for n, c in zip(notifiers, clients, strict=True):
        n.executor.shutdown(wait=True)
        c.close()


def assert_each_sent_once(redis_client, gateway, ds):
    sent_to = Counter(p["form"]["To"] for p in gateway.posts())
    phones = {r.id: r.phone for r in RecipientStore(redis_client).list()}
    assert sent_to == Counter(phones[d.recipient_id] for d in ds)  # each number once, none missing
    after = DeliveryStore(redis_client).get_many(d.id for d in ds)
    assert {(d.state, d.attempts) for d in after} == {(State.SENT, 1)}
    assert incident_counts.read(redis_client, ["i-race"]) == {"i-race": {"sms": {"sent": len(ds)}}}


def test_two_notifiers_turning_at_once_send_every_planned_sms_exactly_once(redis_client, gateway, two_notifiers):
    ds = planned(redis_client, 600)
    start = threading.Barrier(2)

    def run(notifier: Notifier) -> int:
        """Turn until nothing is left to send; how many this notifier sent."""
        start.wait()
        sent_here, deadline = 0, time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            _planned, sent = notifier.turn(block_ms=None)
            sent_here += sent
            if not sent and not notifier.deliveries.due(time.time()):
                break
        return sent_here

    with ThreadPoolExecutor(2) as pool:  # a notifier's exception is raised here by result()
        sent_by = [f.result(timeout=WAIT_S + 10) for f in [pool.submit(run, n) for n in two_notifiers]]
    assert sum(sent_by) == len(ds)  # what each notifier says it sent adds up: nothing counted by both
    assert_each_sent_once(redis_client, gateway, ds)


def test_a_notifier_whose_batch_was_claimed_by_another_after_it_read_sends_none_of_it(
        redis_client, gateway, two_notifiers):
    ds = planned(redis_client, 100)
    first, second = two_notifiers
    claim_many = first.dispatcher.store.claim_many
    interleaved, lock = [], threading.Lock()

    def claim_after_the_other_sent(batch, now):
        with lock:  # the first has read its due deliveries; the second now claims and sends them all
            if not interleaved:
                interleaved.append(second.turn(block_ms=None))
        return claim_many(batch, now)

    first.dispatcher.store.claim_many = claim_after_the_other_sent
    assert first.turn(block_ms=None) == (0, 0)  # every claim it tried was lost: nothing sent
    assert interleaved == [(0, len(ds))]
    assert_each_sent_once(redis_client, gateway, ds)
