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

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from opscentre.core.notify.breaker import BreakerEvent, BreakerState
from opscentre.core.notify.channels import aio
from opscentre.core.notify.channels.base import AsyncSending, Channel, DeliveryFailed, SendResult, Verifiable
from opscentre.core.notify.deliveries import CLAIMABLE, Delivery, Event, InvalidTransition, State, transition
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
    _runners: tuple[int, ThreadPoolExecutor] | None = field(default=None, init=False, repr=False)

    def send_due(self, limit: int = 100, executor: Executor | None = None, chunk: int | None = None,
                 overlap: int = 1) -> list[Delivery]:
        """Attempt every due delivery (up to `limit`), `chunk` at a time (default 16 with an
        executor, else 1), each chunk's sends concurrent (an async channel's as coroutines on the
        channels' event loop, any other's on `executor`: bounded concurrency over kept-alive
        pools), `overlap` chunks under way at once (so one chunk's round trips to Redis overlap
        others' sends): returns those that changed.

        Per chunk: the breakers are read once per gateway (a closed breaker admits without a
        write; any other takes each request through its transition, as one request at a time
        would), the admitted deliveries are claimed in one round trip (claimed before sent),
        sent, the outcomes reported to the breakers once per gateway and recorded in one round
        trip. A delivery changed by something else meanwhile (a receipt) is recorded alone."""
        batch = self.store.get_many(self.store.due(self.clock(), limit))
        size = max(1, chunk or (16 if executor else 1))
        chunks = [batch[start:start + size] for start in range(0, len(batch), size)]
        if executor is None or overlap <= 1 or len(chunks) <= 1:
            return [d for c in chunks for d in self._send_chunk(c, executor)]
        if self._runners is None or self._runners[0] != overlap:
            self._runners = (overlap, ThreadPoolExecutor(overlap, thread_name_prefix="send-chunk"))
        return [d for done in self._runners[1].map(lambda c: self._send_chunk(c, executor), chunks) for d in done]

    def _send_chunk(self, batch: list[Delivery], executor: Executor | None) -> list[Delivery]:
        now = self.clock()
        due = [d for d in batch if d.state in CLAIMABLE and (d.next_attempt_at or 0) <= now]
        out: list[Delivery] = []
        ready: dict[str, tuple[Channel, Any, str]] = {}
        closed: dict[str, bool] = {}
        probes: set[str] = set()  # sent to a gateway whose breaker is not closed: its probe
        for d, target in zip(due, map(self._target, due), strict=True):
            channel = self.channels.get(d.channel)
            if channel is None:
                out.append(self._fail_unsent(d, f"the {d.channel} channel is not enabled", now))
            elif target is None:
                out.append(self._record(d, Event.CANCEL, error="the recipient is gone (removed or opted out)"))
            elif self._admitted(d, channel.gateway(target), now, closed):
                ready[d.id] = (channel, target, channel.gateway(target))
                if not closed[ready[d.id][2]]:
                    probes.add(d.id)
        claimed = self.store.claim_many([d for d in due if d.id in ready], now)
        results = self._send_all([(d, *ready[d.id][:2]) for d in claimed], executor)
        by_gateway: dict[str, list] = {}
        failed_at: dict[str, list[str]] = {}
        for d, outcome in zip(claimed, results, strict=True):
            failed = isinstance(outcome, DeliveryFailed)
            event = BreakerEvent.FAILURE if failed and outcome.retryable else BreakerEvent.SUCCESS  # a 4xx: it is up
            by_gateway.setdefault(ready[d.id][2], []).append((event, outcome.retry_after_s if failed else None))
            if event is BreakerEvent.FAILURE:
                failed_at.setdefault(ready[d.id][2], []).append(d.id)
        now = self.clock()
        for gateway, outcomes in by_gateway.items():
            if self.store.breaker_outcomes(gateway, outcomes, now, self.rng).state is not BreakerState.CLOSED:
                self.store.wait_for_gateway(gateway, failed_at.get(gateway, []))  # due when it closes
        changes, events = [], []
        for d, outcome in zip(claimed, results, strict=True):
            channel = ready[d.id][0]
            if isinstance(outcome, SendResult):
                event = Event.DELIVERED if outcome.status is State.DELIVERED else Event.ACCEPTED
                details = {"provider_id": outcome.provider_id}
            else:
                log.warning("%s to %s failed (attempt %d): %s", channel.name, d.target_masked, d.attempts,
                            outcome.reason)
                if outcome.ambiguous and not channel.resend_safe:
                    out.append(d)  # it may have gone: left in `sending` for recover() to check with the provider
                    continue
                event, details = Event.FAILED, {"rng": self.rng, "error": outcome.reason,
                                                "retryable": outcome.retryable,
                                                "retry_after_s": outcome.retry_after_s, "code": outcome.code,
                                                "probe": d.id in probes}
            events.append((event, details))
            changes.append((d, transition(d, event, now, policy=self.store.policy, **details)))
        for (d, after), (event, details), ok in zip(changes, events, self.store.apply_many(changes, now),
                                                    strict=True):
            out.append(after if ok else self._record(d, event, **details))
        return [d for d in out if d is not None]

    def _admitted(self, d: Delivery, gateway: str, now: float, closed: dict[str, bool]) -> bool:
        """May a request go to this gateway now? Refused: the delivery comes back when the breaker
        says. `closed`: the chunk's breakers read so far (a closed one admits all and changes nothing)."""
        if gateway not in closed:
            closed[gateway] = self.store.breaker(gateway).state is BreakerState.CLOSED
        if closed[gateway]:
            return True
        breaker, admitted = self.store.breaker_event(gateway, BreakerEvent.REQUEST, now, self.rng)
        if not admitted:
            self.store.defer(d.id, breaker.wait_until() + self.rng.uniform(0, DEFER_SPREAD_S), gateway)
        return admitted

    def _target(self, d: Delivery) -> Any | None:
        return self.targets(d) if d.channel in self.channels else None

    def _send_all(self, sends: list[tuple[Delivery, Channel, Any]],
                  executor: Executor | None) -> list[SendResult | DeliveryFailed]:
        """Every send of a chunk at once: those of a channel with `send_async` together on the
        channels' event loop (aio.py: one hop there and back per chunk), any other on `executor`
        (or here, one after another, without one)."""
        coroutines = {i: self._send_async(d, c, t) for i, (d, c, t) in enumerate(sends) if isinstance(c, AsyncSending)}
        gathered = aio.submit(_gather(list(coroutines.values()))) if coroutines else None
        threaded = {i: (executor.submit(self._send, d, c, t) if executor else None)
                    for i, (d, c, t) in enumerate(sends) if i not in coroutines}
        results: dict[int, SendResult | DeliveryFailed] = {}
        for i, future in threaded.items():
            results[i] = future.result() if future else self._send(*sends[i])
        if gathered is not None:
            results.update(zip(coroutines, gathered.result(), strict=True))
        return [results[i] for i in range(len(sends))]

    def _send(self, d: Delivery, channel: Channel, target: Any) -> SendResult | DeliveryFailed:
        try:
            return channel.send(d.body(), target, d.idempotency_key)
        except DeliveryFailed as failure:
            return failure
        except Exception as exc:
            return _raised(channel, d, exc)

    async def _send_async(self, d: Delivery, channel: AsyncSending, target: Any) -> SendResult | DeliveryFailed:
        try:
            return await channel.send_async(d.body(), target, d.idempotency_key)
        except DeliveryFailed as failure:
            return failure
        except Exception as exc:
            return _raised(channel, d, exc)

    def recover(self) -> list[Delivery]:
        """Resolve deliveries left in `sending` longer than their channel's send timeout."""
        now = self.clock()
        shortest = min((c.send_timeout_s for c in self.channels.values()), default=30.0)
        out = []
        for d in self.store.stale_sending(now - shortest * 2):
            channel = self.channels.get(d.channel)
            if channel is not None and now - (d.claimed_at or 0) < channel.send_timeout_s * 2:
                continue  # its request may still be in flight
            try:
                resolved = self._recover_one(d, channel, now)
            except InvalidTransition as exc:  # another notifier resolved it first: its record stands
                log.info("%s: recovered elsewhere meanwhile (%s)", d.id, exc)
                continue
            if resolved is not None:
                out.append(resolved)
        return out

    # ---- internals ------------------------------------------------------------------------

    def _record(self, d: Delivery, event: Event, **details) -> Delivery:
        """The outcome of a send; if something else settled the delivery meanwhile (a receipt, or a
        recovery that ran while a response trickled in past the timeouts) that record stands."""
        try:
            return self.store.record(d.id, event, self.clock(), **details)
        except InvalidTransition as exc:
            log.warning("%s: outcome %s not recorded: %s", d.id, event.value, exc)
            return self.store.get(d.id) or d

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
        current = self.store.get(d.id)  # the provider took a while: is it still the claim it asked about?
        if current is None or current.state is not State.SENDING or current.claimed_at != d.claimed_at:
            return None  # another notifier resolved it meanwhile, and may be sending it again: that stands
        if found is not None:
            return self.store.record(d.id, Event.RECEIPT, now, receipt=found)
        return self.store.record(d.id, Event.FAILED, now, rng=self.rng, retryable=True,
                                 error="interrupted before the provider had it (checked): sent again")


def _raised(channel: Channel, d: Delivery, exc: Exception) -> DeliveryFailed:
    """A bug in a channel: whether it sent is unknown."""
    log.error("%s channel raised on %s", channel.name, d.id, exc_info=exc)
    return DeliveryFailed(f"internal error ({type(exc).__name__})", retryable=True, ambiguous=True)


async def _gather(coroutines: list) -> list:
    return await asyncio.gather(*coroutines)
