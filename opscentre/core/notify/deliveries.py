"""Deliveries: one message to one recipient on one channel, and its lifecycle. Pure: no I/O.

    awaiting_approval --approve x2 (two operators)--> queued
    queued --claim--> sending --accepted (SMS)--> sent --receipt--> delivered | undelivered
                      sending --delivered (webhook 2xx, log)--> delivered
                      sending --failed, retryable, budget left--> failed --claim (when due)--> sending
                      sending --failed, permanent or budget spent--> dead
                      sending --lost (interrupted; the provider cannot tell)--> unknown
    dead | unknown | undelivered --retry (an operator)--> queued
    awaiting_approval | queued | failed --cancel (the recipient left)--> cancelled

`transition` is the only way a delivery changes state. `claim` is recorded *before* the send,
so a crash between the send and its outcome leaves the delivery in `sending` with its
idempotency key and attempt time: recovery (channels/dispatch.py) resolves it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from opscentre.core.errors import OpscentreError


class State(str, Enum):
    AWAITING_APPROVAL = "awaiting_approval"  # a mass send waiting for two operators
    QUEUED = "queued"  # ready to send at next_attempt_at
    SENDING = "sending"  # claimed: a send is (or was, if its sender died) under way
    SENT = "sent"  # the provider accepted it; its receipts will say more
    DELIVERED = "delivered"
    FAILED = "failed"  # a retryable failure: waiting for its next attempt
    UNDELIVERED = "undelivered"  # the provider accepted it, then could not deliver it
    DEAD = "dead"  # permanent failure or retry budget spent: a dead letter for operators
    UNKNOWN = "unknown"  # interrupted mid-send and the provider cannot say whether it has it: operator review
    CANCELLED = "cancelled"  # never sent: the recipient left before it went


class Event(str, Enum):
    APPROVE = "approve"  # by: an operator (two different ones release a mass send)
    CLAIM = "claim"  # about to send (recorded before the request leaves)
    ACCEPTED = "accepted"  # provider_id: the provider took it (SMS)
    DELIVERED = "delivered"  # the receiver took it (webhook 2xx, log)
    FAILED = "failed"  # error, retryable, retry_after_s, code
    RECEIPT = "receipt"  # receipt: the provider's status report (or what a lookup found)
    LOST = "lost"  # error: interrupted mid-send and the provider cannot tell
    RETRY = "retry"  # by: an operator re-queues a dead letter, an unknown or an undelivered message
    CANCEL = "cancel"  # error: why


CLAIMABLE = frozenset({State.QUEUED, State.FAILED})  # the states in the due index
PROVIDER_HAS_IT = frozenset({State.SENT, State.DELIVERED, State.UNDELIVERED})
FINAL = frozenset({State.DELIVERED, State.UNDELIVERED, State.CANCELLED})
NEEDS_OPERATOR = frozenset({State.DEAD, State.UNKNOWN})

# a provider's receipt statuses (Twilio's), as the delivery state they mean
RECEIPT_STATES = {
    "accepted": State.SENT, "scheduled": State.SENT, "queued": State.SENT, "sending": State.SENT,
    "sent": State.SENT, "delivered": State.DELIVERED, "read": State.DELIVERED,
    "undelivered": State.UNDELIVERED, "failed": State.UNDELIVERED, "canceled": State.UNDELIVERED,
}


class InvalidTransition(OpscentreError):
    """This event cannot happen to a delivery in its current state; nothing changed."""

    kind = "invalid_transition"


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter: attempt n waits a random time between
    lower(n) and ceiling(n) = min(cap, base * 2**n). With min_fraction 0 that is "full jitter"
    (lower = the floor); 0.5 is "equal jitter", whose lower bound grows too (the breaker's)."""

    base_s: float = 1.0
    cap_s: float = 300.0
    floor_s: float = 1.0
    min_fraction: float = 0.0
    max_retry_after_s: float = 3600.0  # a server's Retry-After is honoured up to this

    def ceiling(self, n: int) -> float:
        return self.cap_s if n >= 64 else min(self.cap_s, self.base_s * 2 ** max(0, n))

    def lower(self, n: int) -> float:
        return min(self.ceiling(n), max(self.floor_s, self.ceiling(n) * self.min_fraction))

    def delay(self, n: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        """Seconds to wait before attempt n+1 (n = attempts so far - 1); a longer Retry-After wins."""
        wait = rng.uniform(self.lower(n), self.ceiling(n))
        if retry_after_s is not None and retry_after_s > wait:
            wait = min(float(retry_after_s), self.max_retry_after_s)
        return wait


@dataclass(frozen=True)
class RetryPolicy:
    backoff: Backoff = Backoff()
    max_attempts: int = 10  # 1 + 2 + 4 ... capped at 300 s: about 13 minutes of retrying
    max_age_s: float = 86400.0  # and never past a day after it was queued (or re-queued)


POLICY = RetryPolicy()


@dataclass(frozen=True)
class Receipt:
    """A provider's status report for a message (a status callback, or a lookup's answer)."""

    provider_id: str
    status: str  # the provider's word: queued, sent, delivered, undelivered, failed...
    error_code: str | None = None


class Delivery(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    notification_id: str
    transition: str  # the notification's change: opened, escalated, resolved, reminder...
    channel: str
    recipient_id: str
    target_masked: str  # "+55 21 9****-**21", "https://partner.example/hook": never the full number
    idempotency_key: str  # channel|notification|transition|recipient; the webhook-id
    payload: str  # JSON: the SMS text, or the webhook body
    state: State = State.QUEUED
    attempts: int = 0
    next_attempt_at: float | None = None  # when queued or failed
    claimed_at: float | None = None  # when the last attempt started
    budget_from: float = 0.0  # the retry budget's age counts from here (queued, or re-queued)
    last_error: str | None = None
    error_code: str | None = None
    retryable: bool | None = None  # of the last error
    provider_id: str | None = None
    provider_status: str | None = None
    segments: int | None = None
    incident_id: str | None = None
    approvals: tuple[str, ...] = ()
    counted: bool = False  # in its incident's delivery counts (incident_counts; not one stored before them)
    created_at: float
    updated_at: float

    def body(self) -> Any:
        return orjson.loads(self.payload)


def idempotency_key(channel: str, notification_id: str, transition: str, recipient_id: str) -> str:
    return "|".join((channel, notification_id, transition, recipient_id))


def delivery_id(key: str) -> str:
    """The delivery's id, derived from its idempotency key: the same key is the same delivery."""
    return "dl-" + hashlib.blake2b(key.encode(), digest_size=10).hexdigest()


def new(*, notification_id: str, transition: str, channel: str, recipient_id: str, target_masked: str,
        payload: Any, now: float, segments: int | None = None, incident_id: str | None = None,
        needs_approval: bool = False) -> Delivery:
    key = idempotency_key(channel, notification_id, transition, recipient_id)
    return Delivery(
        id=delivery_id(key), notification_id=notification_id, transition=transition, channel=channel,
        recipient_id=recipient_id, target_masked=target_masked, idempotency_key=key,
        payload=orjson.dumps(payload).decode(), segments=segments, incident_id=incident_id,
        counted=bool(incident_id),
        state=State.AWAITING_APPROVAL if needs_approval else State.QUEUED,
        next_attempt_at=None if needs_approval else now, budget_from=now, created_at=now, updated_at=now)


_RNG = random.Random()  # for jitter when the caller gives none (seeding one per call costs more than the call)


def transition(d: Delivery, event: Event, now: float, *, rng: random.Random | None = None,
               policy: RetryPolicy = POLICY, by: str | None = None, provider_id: str | None = None,
               error: str | None = None, retryable: bool = False, retry_after_s: float | None = None,
               code: str | None = None, receipt: Receipt | None = None, probe: bool = False) -> Delivery:
    """The delivery after `event` at `now`, or InvalidTransition. Repeating an outcome that is
    already recorded (the same provider id accepted twice, a late receipt) changes nothing.
    `probe` (FAILED): the send was its gateway's circuit-breaker probe, the one request a gateway
    that is down gets per backoff step; its failure says the gateway is still down, not that this
    message cannot go, so the attempt is given back: an outage, however long, does not spend the
    retry budget of the messages that take turns probing it."""
    handler = _HANDLERS[Event(event)]
    changes = handler(d, now, rng=rng or _RNG, policy=policy, by=by, provider_id=provider_id,
                      error=error, retryable=retryable, retry_after_s=retry_after_s, code=code, receipt=receipt,
                      probe=probe)
    if changes is None:
        return d
    return d.model_copy(update={**changes, "updated_at": now})


def _refuse(d: Delivery, event: str, why: str = "") -> InvalidTransition:
    return InvalidTransition(f"delivery {d.id}: cannot {event} when {d.state.value}{': ' + why if why else ''}")


def _approve(d, now, *, by, **_):
    if d.state is not State.AWAITING_APPROVAL:
        raise _refuse(d, "approve", "it is not awaiting approval")
    if not by:
        raise _refuse(d, "approve", "an approval needs the operator's name")
    if by in d.approvals:
        raise _refuse(d, "approve", f"{by} has approved it already: a second, different operator must")
    approvals = (*d.approvals, by)
    if len(approvals) < 2:
        return {"approvals": approvals}
    return {"approvals": approvals, "state": State.QUEUED, "next_attempt_at": now, "budget_from": now}


def _claim(d, now, *, policy, **_):
    if d.state not in CLAIMABLE:
        raise _refuse(d, "claim")
    if d.next_attempt_at is not None and now < d.next_attempt_at:
        raise _refuse(d, "claim", f"not due until {d.next_attempt_at}")
    if d.attempts >= policy.max_attempts:
        raise _refuse(d, "claim", "its retry budget is spent")
    return {"state": State.SENDING, "attempts": d.attempts + 1, "claimed_at": now, "next_attempt_at": None}


def _accepted(d, now, *, provider_id, **_):
    if not provider_id:
        raise _refuse(d, "record an acceptance", "no provider id")
    if d.state in PROVIDER_HAS_IT and d.provider_id == provider_id:
        return None  # a receipt got here first, or the same outcome recorded twice
    if d.state is not State.SENDING:
        raise _refuse(d, "record an acceptance")
    return {"state": State.SENT, "provider_id": provider_id, "provider_status": "accepted",
            "last_error": None, "error_code": None, "retryable": None}


def _delivered(d, now, *, provider_id, **_):
    if d.state is State.DELIVERED:
        return None
    if d.state is not State.SENDING:
        raise _refuse(d, "record a delivery")
    return {"state": State.DELIVERED, "provider_id": provider_id or d.provider_id,
            "last_error": None, "error_code": None, "retryable": None}


def _failed(d, now, *, rng, policy, error, retryable, retry_after_s, code, probe, **_):
    if d.state is not State.SENDING:
        raise _refuse(d, "record a failure")
    failure = {"last_error": error or "failed", "error_code": code, "retryable": bool(retryable)}
    attempts = d.attempts
    if probe and retryable:
        attempts = max(0, d.attempts - 1)  # the gateway's outage, not this message's: given back
        failure["attempts"] = attempts
    if retryable and attempts < policy.max_attempts:
        at = now + policy.backoff.delay(attempts - 1, rng, retry_after_s)
        if at <= d.budget_from + policy.max_age_s:
            return {**failure, "state": State.FAILED, "next_attempt_at": at}
    if retryable:
        failure["last_error"] = f"{failure['last_error']} (retry budget spent after {d.attempts} attempts)"
    return {**failure, "state": State.DEAD, "next_attempt_at": None}


def _receipt(d, now, *, receipt, **_):
    if receipt is None:
        raise _refuse(d, "apply a receipt", "no receipt")
    target = RECEIPT_STATES.get(receipt.status.lower())
    if target is None:
        raise _refuse(d, "apply a receipt", f"unknown status {receipt.status!r}")
    if d.state in (State.AWAITING_APPROVAL, State.CANCELLED) or (d.state is State.QUEUED and d.attempts == 0):
        raise _refuse(d, "apply a receipt", "it was never sent")
    if d.state in (State.DELIVERED, State.UNDELIVERED) or (d.state is State.SENT and target is State.SENT):
        return None  # final already, or no news: receipts arrive out of order
    # from sending (a receipt beat the sender's record, or recovery found it at the provider) and
    # from failed / dead / unknown / a re-queued message: the provider has it, so it is not sent again
    changes = {"state": target, "provider_id": receipt.provider_id, "provider_status": receipt.status.lower(),
               "next_attempt_at": None}
    if target is State.UNDELIVERED:
        changes.update(last_error=f"the provider could not deliver it ({receipt.status})",
                       error_code=receipt.error_code, retryable=False)
    elif d.state is not State.SENT:
        changes.update(last_error=None, error_code=None, retryable=None)
    return changes


def _lost(d, now, *, error, **_):
    if d.state is not State.SENDING:
        raise _refuse(d, "mark as unknown")
    return {"state": State.UNKNOWN, "last_error": error or "interrupted mid-send", "retryable": None}


def _retry(d, now, *, by, **_):
    if d.state not in (*NEEDS_OPERATOR, State.UNDELIVERED):
        raise _refuse(d, "retry", "only dead, unknown or undelivered messages are retried by hand")
    return {"state": State.QUEUED, "attempts": 0, "next_attempt_at": now, "budget_from": now,
            "provider_id": None, "provider_status": None}


def _cancel(d, now, *, error, **_):
    if d.state not in (*CLAIMABLE, State.AWAITING_APPROVAL):
        raise _refuse(d, "cancel")
    return {"state": State.CANCELLED, "next_attempt_at": None, "last_error": error or "cancelled"}


_HANDLERS = {
    Event.APPROVE: _approve, Event.CLAIM: _claim, Event.ACCEPTED: _accepted, Event.DELIVERED: _delivered,
    Event.FAILED: _failed, Event.RECEIPT: _receipt, Event.LOST: _lost, Event.RETRY: _retry, Event.CANCEL: _cancel,
}
