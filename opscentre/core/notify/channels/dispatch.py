"""The send step: claim -> send -> record, the same for every channel, and crash recovery.

`Dispatcher.send_due()` sends what is due; `Dispatcher.recover()` resolves deliveries left in
`sending` by a sender that died (or got an ambiguous answer). The notifier process calls these
two; everything else (breaker, backoff, lifecycle, Redis) happens below them.

A crash between the send and its record leaves the delivery in `sending` with its idempotency
key and claim time (recorded before the request left). Once that claim is older than the
channel's send timeout, so no request of it can still be in flight:
- a channel whose receiver dedupes (webhooks: the same `webhook-id`; the log) is resent;
- SMS cannot be unsent and the API takes no idempotency key, so the provider is asked
  (`lookup`: its message to that number with that text since the claim). Found: recorded as
  sent, never resent. The provider answers that it has none: resent. The provider cannot say
  (down, or a gateway without the Message list): asked again on the next pass, and after
  `unknown_after_s` the delivery becomes `unknown` for an operator to decide — never resent
  blindly. A receipt carrying the delivery's key (`?k=` on the status callback) settles it too.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from opscentre.core.notify.breaker import BreakerEvent
from opscentre.core.notify.channels.base import Channel, DeliveryFailed, SendResult, Verifiable
from opscentre.core.notify.deliveries import CLAIMABLE, Delivery, Event, InvalidTransition, State
from opscentre.core.notify.delivery_store import DeliveryStore

log = logging.getLogger("opscentre.notify")

DEFER_SPREAD_S = 1.0  # deliveries refused by an open breaker come back spread over this


@dataclass
class Dispatcher:
    store: DeliveryStore
    channels: Mapping[str, Channel]
    targets: Callable[[Delivery], Any | None]  # the full target (phone, subscriber), None: it is gone
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.time
    unknown_after_s: float = 3600.0  # an interrupted SMS the provider cannot vouch for: unknown after this

    def send_due(self, limit: int = 100, executor: Executor | None = None) -> list[Delivery]:
        """Attempt every due delivery (up to `limit`), concurrently on `executor` if given (bounded
        concurrency over the channels' keep-alive pools); returns those that changed."""
        batch = self.store.get_many(self.store.due(self.clock(), limit))
        results = executor.map(self.attempt, batch) if executor else map(self.attempt, batch)
        return [d for d in results if d is not None]

    def attempt(self, delivery: str | Delivery) -> Delivery | None:
        """One attempt at one delivery (its id, or a copy just read), if it is due and its
        gateway's breaker lets it go: the delivery after it, or None when nothing was tried."""
        now = self.clock()
        d = self.store.get(delivery) if isinstance(delivery, str) else delivery
        if d is None or d.state not in CLAIMABLE or (d.next_attempt_at or 0) > now:
            return None
        channel = self.channels.get(d.channel)
        if channel is None:
            return self._fail_unsent(d, f"the {d.channel} channel is not enabled", now)
        target = self.targets(d)
        if target is None:
            return self.store.record(d.id, Event.CANCEL, now, error="the recipient is gone (removed or opted out)")
        gateway = channel.gateway(target)
        breaker, admitted = self.store.breaker_event(gateway, BreakerEvent.REQUEST, now, self.rng)
        if not admitted:
            self.store.defer(d.id, breaker.wait_until() + self.rng.uniform(0, DEFER_SPREAD_S))
            return None
        claimed = self.store.claim_for_send(d.id, now)
        if claimed is None:
            return None  # another notifier took it
        try:
            result = channel.send(claimed.body(), target, claimed.idempotency_key)
        except DeliveryFailed as failure:
            return self._failed(channel, gateway, claimed, failure)
        except Exception as exc:  # a bug in a channel: whether it sent is unknown
            log.exception("%s channel raised on %s", channel.name, claimed.id)
            failure = DeliveryFailed(f"internal error ({type(exc).__name__})", retryable=True, ambiguous=True)
            return self._failed(channel, gateway, claimed, failure)
        self.store.breaker_event(gateway, BreakerEvent.SUCCESS, self.clock(), self.rng)
        return self._succeeded(claimed, result)

    def recover(self) -> list[Delivery]:
        """Resolve deliveries left in `sending` longer than their channel's send timeout."""
        now = self.clock()
        shortest = min((c.send_timeout_s for c in self.channels.values()), default=30.0)
        out = []
        for d in self.store.stale_sending(now - shortest * 2):
            channel = self.channels.get(d.channel)
            if channel is not None and now - (d.claimed_at or 0) < channel.send_timeout_s * 2:
                continue  # its request may still be in flight
            resolved = self._recover_one(d, channel, now)
            if resolved is not None:
                out.append(resolved)
        return out

    # ---- internals ------------------------------------------------------------------------

    def _succeeded(self, d: Delivery, result: SendResult) -> Delivery:
        event = Event.DELIVERED if result.status is State.DELIVERED else Event.ACCEPTED
        return self._record(d, event, provider_id=result.provider_id)

    def _record(self, d: Delivery, event: Event, **details) -> Delivery:
        """The outcome of a send; if something else settled the delivery meanwhile (a receipt, or a
        recovery that ran while a response trickled in past the timeouts) that record stands."""
        try:
            return self.store.record(d.id, event, self.clock(), **details)
        except InvalidTransition as exc:
            log.warning("%s: outcome %s not recorded: %s", d.id, event.value, exc)
            return self.store.get(d.id) or d

    def _failed(self, channel: Channel, gateway: str, d: Delivery, failure: DeliveryFailed) -> Delivery:
        now = self.clock()
        outcome = BreakerEvent.FAILURE if failure.retryable else BreakerEvent.SUCCESS  # a 4xx: the gateway is up
        self.store.breaker_event(gateway, outcome, now, self.rng, failure.retry_after_s)
        log.warning("%s to %s failed (attempt %d): %s", channel.name, d.target_masked, d.attempts, failure.reason)
        if failure.ambiguous and not channel.resend_safe:
            return d  # it may have gone: left in `sending` for recover() to check with the provider
        return self._record(d, Event.FAILED, rng=self.rng, error=failure.reason, retryable=failure.retryable,
                            retry_after_s=failure.retry_after_s, code=failure.code)

    def _fail_unsent(self, d: Delivery, reason: str, now: float) -> Delivery | None:
        if self.store.claim_for_send(d.id, now) is None:
            return None
        return self.store.record(d.id, Event.FAILED, now, rng=self.rng, error=reason, retryable=False)

    def _recover_one(self, d: Delivery, channel: Channel | None, now: float) -> Delivery | None:
        if channel is None:
            return self.store.record(d.id, Event.LOST, now, error=f"interrupted, and the {d.channel} channel is off")
        if channel.resend_safe:
            return self.store.record(d.id, Event.FAILED, now, rng=self.rng, retryable=True,
                                     error="interrupted mid-send; sent again with the same idempotency key")
        target = self.targets(d)
        try:
            if target is None or not isinstance(channel, Verifiable):
                raise DeliveryFailed("cannot ask the provider", retryable=True)
            found = channel.lookup(d.body(), target, d.idempotency_key, since=d.claimed_at or d.created_at)
        except DeliveryFailed as failure:
            if now - (d.claimed_at or 0) < self.unknown_after_s:
                return None  # asked again on the next pass
            return self.store.record(d.id, Event.LOST, now, error=f"interrupted mid-send and the provider cannot "
                                     f"say whether it has it ({failure.reason}): not resent, check and retry by hand")
        if found is not None:
            return self.store.record(d.id, Event.RECEIPT, now, receipt=found)
        return self.store.record(d.id, Event.FAILED, now, rng=self.rng, retryable=True,
                                 error="interrupted before the provider had it (checked): sent again")
