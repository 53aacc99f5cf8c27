"""A number the provider says unsubscribed (Twilio error 21610: it replied STOP to our sender)
is opted out here too, as if it had texted SAIR to the centre: every recipient of that number is
removed, the opt-out recorded (RecipientStore.remove_phone) and audited with the number masked.
The failed delivery itself is recorded by the dispatcher as usual (a dead letter, not retried).

`ProviderOptOut` wraps the SMS channel, so the failure is seen where it happens, with the number
at hand, whatever the dispatcher does around it. A status receipt carrying the same code (the
number replied STOP after the provider took the message) opts it out the same way
(`opt_out_number`, called by the receipt webhook).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from redis import Redis

from opscentre.core.alert_store import AlertStore
from opscentre.core.notify.channels.base import Channel, DeliveryFailed, SendResult
from opscentre.core.notify.deliveries import Receipt
from opscentre.core.notify.phones import masked
from opscentre.core.notify.recipient_store import RecipientStore

log = logging.getLogger("opscentre.notify")

UNSUBSCRIBED_CODES = frozenset({"21610"})


class ProviderOptOut:
    """The SMS channel, opting a number out when the provider says it unsubscribed."""

    def __init__(self, channel: Channel, redis: Redis, clock: Callable[[], float] = time.time):
        self.channel, self.clock = channel, clock
        self.name, self.resend_safe, self.send_timeout_s = channel.name, channel.resend_safe, channel.send_timeout_s
        self.recipients, self.audit = RecipientStore(redis), AlertStore(redis)

    def send(self, payload: Any, target: str, idempotency_key: str) -> SendResult:
        try:
            return self.channel.send(payload, target, idempotency_key)
        except DeliveryFailed as failure:
            if unsubscribed(failure.code):
                self.opt_out(target, failure.code)
            raise

    async def send_async(self, payload: Any, target: str, idempotency_key: str) -> SendResult:
        try:
            return await self.channel.send_async(payload, target, idempotency_key)  # type: ignore[attr-defined]
        except DeliveryFailed as failure:
            if unsubscribed(failure.code):
                await asyncio.to_thread(self.opt_out, target, failure.code)  # Redis: off the event loop
            raise

    def opt_out(self, phone: str, code: str) -> None:
        opt_out_number(self.recipients, self.audit, phone, code, self.clock())

    def gateway(self, target: Any) -> str:
        return self.channel.gateway(target)

    def masked(self, target: Any) -> str:
        return self.channel.masked(target)

    def lookup(self, payload: Any, target: Any, idempotency_key: str, since: float) -> Receipt | None:
        return self.channel.lookup(payload, target, idempotency_key, since)  # type: ignore[attr-defined]


def unsubscribed(code: str | None) -> bool:
    """Does this provider error code say the number unsubscribed (replied STOP)?"""
    return code is not None and code.strip() in UNSUBSCRIBED_CODES


def opt_out_number(recipients: RecipientStore, audit: AlertStore, phone: str, code: str, now: float) -> bool:
    """The number is opted out as if it had texted SAIR: every recipient of it removed, the opt-out
    kept and audited (masked). False when it was opted out already with nothing left to remove."""
    if recipients.opted_out(phone) is not None and not recipients.by_phone(phone):
        return False  # opted out already (another message to it was refused just before)
    removed = recipients.remove_phone(phone, now)
    audit.record("sms-provider", "recipient-opted-out", masked(phone),
                 {"removed": removed, "why": f"the provider says it unsubscribed (code {code})"}, now)
    log.warning("%s unsubscribed at the provider (code %s): opted out, %d recipient(s) removed",
                masked(phone), code, removed)
    return True
