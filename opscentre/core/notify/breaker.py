"""A circuit breaker per gateway (an SMS API root, a webhook receiver's host). Pure: no I/O.

closed --N consecutive retryable failures--> open --its backoff step has passed: ONE request,
the probe--> half_open --the probe succeeds--> closed; the probe fails (or never reports back
within probe_timeout_s) --> open again, one backoff step further. While open or half-open every
other request is refused, so a gateway that is down sees one request per backoff step, not one
per waiting message (Alertmanager sent a down receiver ~8 requests/s).

The steps use the same Backoff as deliveries, each wait between 7/8 of its ceiling and its
ceiling: 0.875-1 s, 1.75-2 s, 3.5-4 s, then 7-8 s for as long as the gateway stays down. Capped
that low on purpose: the cap is both the load on a down gateway (one probe per 7-8 s: over ten
minutes at most 0.16 requests/s, ~50x fewer than Alertmanager's ~8/s) and how long after the
gateway's return its waiting messages go (at the next probe: ~4 s on average, at most 8 s; the
messages that waited are made due the moment it succeeds — delivery_store.breaker_outcomes). A
longer cap would spare a down gateway little more and keep a city's alerts waiting minutes after
it is back. The two goals pull against each other: probing at least every 5 s (recovery ≤ 5 s
whenever the gateway returns) is at least 0.2 requests/s.
The state lives in Redis (delivery_store), so every notifier process shares one breaker per gateway.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from enum import Enum

from opscentre.core.notify.deliveries import Backoff


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerEvent(str, Enum):
    REQUEST = "request"  # a request wants to go: admitted or refused
    SUCCESS = "success"  # the gateway answered (a permanent 4xx counts: the gateway is up)
    FAILURE = "failure"  # a retryable failure: 5xx, 429, timeout, connection refused


@dataclass(frozen=True)
class BreakerPolicy:
    threshold: int = 5  # consecutive retryable failures that open it
    backoff: Backoff = Backoff(base_s=1.0, cap_s=8.0, floor_s=0.5, min_fraction=0.875)
    probe_timeout_s: float = 60.0  # a probe that never reported back counts as failed after this


@dataclass(frozen=True)
class Breaker:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0  # consecutive retryable failures
    step: int = 0  # backoff step of the current opening (0 when it first opens)
    retry_at: float = 0.0  # open: when the probe may go; half-open: when refused requests ask again
    probe_until: float = 0.0  # half-open: when an unanswered probe counts as failed

    def wait_until(self) -> float:
        """When a refused request should ask again: open, when the probe may go; half-open, one
        step's floor after the probe went (not probe_until: a probe that succeeds closes the breaker
        within a send, and the requests refused meanwhile must not wait out the probe timeout)."""
        return self.retry_at if self.state is BreakerState.OPEN else min(self.retry_at, self.probe_until)


POLICY = BreakerPolicy()


def transition(b: Breaker, event: BreakerEvent, now: float, rng: random.Random,
               policy: BreakerPolicy = POLICY, retry_after_s: float | None = None) -> tuple[Breaker, bool]:
    """The breaker after `event`, and whether the request may go (REQUEST; True for outcomes)."""
    event = BreakerEvent(event)
    if b.state is BreakerState.HALF_OPEN and now >= b.probe_until:
        b = _open(b, b.step + 1, now, rng, policy, None)  # the probe was lost: that step failed
    if event is BreakerEvent.REQUEST:
        if b.state is BreakerState.CLOSED:
            return b, True
        if b.state is BreakerState.OPEN and now >= b.retry_at:
            return replace(b, state=BreakerState.HALF_OPEN, probe_until=now + policy.probe_timeout_s,
                           retry_at=now + policy.backoff.lower(b.step)), True
        if b.state is BreakerState.HALF_OPEN and now >= b.retry_at:  # the probe is still out: ask again later
            return replace(b, retry_at=now + policy.backoff.lower(b.step)), False
        return b, False
    if event is BreakerEvent.SUCCESS:
        return Breaker(), True
    # a failure
    if b.state is BreakerState.CLOSED:
        failures = b.failures + 1
        if failures >= policy.threshold:
            return _open(b, 0, now, rng, policy, retry_after_s), True
        return replace(b, failures=failures), True
    if b.state is BreakerState.HALF_OPEN:
        return _open(b, b.step + 1, now, rng, policy, retry_after_s), True
    return b, True  # open already: a request admitted before it opened reports late; no new step


def _open(b: Breaker, step: int, now: float, rng: random.Random, policy: BreakerPolicy,
          retry_after_s: float | None) -> Breaker:
    wait = policy.backoff.delay(step, rng, retry_after_s)
    return Breaker(state=BreakerState.OPEN, failures=max(b.failures, policy.threshold), step=step,
                   retry_at=now + wait, probe_until=0.0)
