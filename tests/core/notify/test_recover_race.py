"""Two notifiers recovering the same interrupted SMS at once (real Redis, a gateway on loopback):
the interleaving is forced, not hoped for."""

import time

from opscentre.core.notify import deliveries as dl
from opscentre.core.notify.channels.dispatch import Dispatcher
from opscentre.core.notify.channels.sms import SmsChannel
from opscentre.core.notify.deliveries import State
from opscentre.core.notify.delivery_store import DeliveryStore
from tests.core.notify.test_channels import PHONE, gateway, sms_settings  # noqa: F401 (a fixture)


def test_a_message_recovered_by_another_notifier_meanwhile_does_not_crash_the_second(
        redis_client, gateway):  # noqa: F811
    store, now = DeliveryStore(redis_client), time.time()
    (d,) = [dl.new(notification_id="n-1", transition="opened", channel="sms", recipient_id="r-1",
                   target_masked="+55 21 9****-**21", payload="Chuva forte", now=now - 120)]
    store.add([d])
    store.claim_for_send(d.id, now - 100)  # a notifier claimed it, then died before sending
    first = Dispatcher(store, {"sms": SmsChannel(sms_settings(gateway))}, lambda _: PHONE)

    class Interleaved(SmsChannel):
        def lookup(self, *args, **kwargs):
            first.recover()  # the other notifier resolves it between this one's read and its record
            return super().lookup(*args, **kwargs)

    second = Dispatcher(store, {"sms": Interleaved(sms_settings(gateway))}, lambda _: PHONE)
    assert second.recover() == []
    after = store.get(d.id)
    assert after.state is State.FAILED and after.attempts == 1  # the provider had none: to be sent again
    assert gateway.posts() == []  # nothing resent blindly


def test_a_message_another_notifier_recovered_and_is_sending_again_is_not_marked_failed_under_it(
        redis_client, gateway):  # noqa: F811
    store, now = DeliveryStore(redis_client), time.time()
    d = dl.new(notification_id="n-1", transition="opened", channel="sms", recipient_id="r-1",
               target_masked="+55 21 9****-**21", payload="Chuva forte", now=now - 120)
    store.add([d])
    store.claim_for_send(d.id, now - 100)  # a notifier claimed it, then died before sending
    first = Dispatcher(store, {"sms": SmsChannel(sms_settings(gateway))}, lambda _: PHONE)
    # the same notifier once its backoff has passed: its send is taken by the provider, unanswered
    later = Dispatcher(store, {"sms": SmsChannel(sms_settings(gateway), read_timeout_s=0.3)}, lambda _: PHONE,
                       clock=lambda: time.time() + 600)

    class Slow(SmsChannel):
        def lookup(self, *args, **kwargs):
            found = super().lookup(*args, **kwargs)  # none yet
            first.recover()  # meanwhile the other notifier finds none too, and sends it again
            gateway.mode = "accept-hang"
            later.send_due()
            return found

    second = Dispatcher(store, {"sms": Slow(sms_settings(gateway))}, lambda _: PHONE)
    second.recover()
    after = store.get(d.id)
    assert after.state is State.SENDING and after.attempts == 2  # the other's claim stands: it is at the provider
    assert len(gateway.messages) == 1
