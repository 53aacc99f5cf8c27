"""The only Redis I/O for deliveries and the gateways' circuit breakers (keys: core/keys.py).

A delivery is a hash (`oc:delivery:{id}`), indexed by state (a zset per state, by updated_at),
by notification (a set), by provider message id (a string, for receipts), and when it waits
to be sent by `oc:deliveries:due` (a zset by next_attempt_at). Every change goes through
deliveries.transition inside WATCH/MULTI, so its hash and its indexes change together and two
notifier processes can never both claim one delivery. New deliveries are added by a Lua script
that skips an id that exists: the id is derived from the idempotency key, so an outbox entry
read twice after a crash creates nothing twice.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import orjson
from redis import Redis
from redis.exceptions import WatchError

from opscentre.core import keys
from opscentre.core.notify import breaker as breakers
from opscentre.core.notify.deliveries import (CLAIMABLE, FINAL, NEEDS_OPERATOR, POLICY, Delivery, Event,
                                              InvalidTransition, Receipt, RetryPolicy, State, delivery_id,
                                              transition)

DONE_RETENTION_S = 7 * 86400  # delivered, undelivered, cancelled
OPERATOR_RETENTION_S = 30 * 86400  # dead letters and unknowns wait this long for an operator
AUDIT_RETENTION_S = 90 * 86400  # as the alert store's
ADD_BATCH = 500

_ADD = """
local added = {}
for i = 1, #KEYS do
  if redis.call('exists', KEYS[i]) == 0 then
    local d = cjson.decode(ARGV[i])
    redis.call('hset', KEYS[i], unpack(d.fields))
    redis.call('zadd', d.state_key, d.updated_at, d.id)
    if d.due then redis.call('zadd', d.due_key, d.due, d.id) end
    redis.call('sadd', d.notification_key, d.id)
    redis.call('expire', d.notification_key, d.ttl)
    added[#added + 1] = d.id
  end
end
return added
"""


class UnknownDelivery(KeyError):
    pass


class DeliveryStore:
    def __init__(self, redis: Redis, policy: RetryPolicy = POLICY,
                 breaker_policy: breakers.BreakerPolicy = breakers.POLICY):
        self.redis = redis
        self.policy = policy
        self.breaker_policy = breaker_policy
        self._add = redis.register_script(_ADD)

    # ---- writes ---------------------------------------------------------------------------

    def add(self, deliveries: Iterable[Delivery]) -> list[str]:
        """Record new deliveries; those whose id exists already are skipped. Returns the ids added."""
        added: list[str] = []
        batch = list(deliveries)
        for start in range(0, len(batch), ADD_BATCH):
            chunk = batch[start:start + ADD_BATCH]
            args = [orjson.dumps({
                "id": d.id, "fields": [x for pair in _encode(d).items() for x in pair],
                "state_key": keys.deliveries_in_state(d.state.value), "updated_at": repr(d.updated_at),
                "due": repr(d.next_attempt_at) if d.state in CLAIMABLE and d.next_attempt_at is not None else False,
                "due_key": keys.DELIVERIES_DUE, "notification_key": keys.deliveries_of_notification(d.notification_id),
                "ttl": OPERATOR_RETENTION_S}) for d in chunk]
            added += [x.decode() if isinstance(x, bytes) else x
                      for x in self._add(keys=[keys.delivery(d.id) for d in chunk], args=args)]
        return added

    def record(self, delivery_id: str, event: Event, now: float, *, audit_by: str | None = None,
               **details: Any) -> Delivery:
        """Apply one lifecycle event atomically (deliveries.transition's keywords: rng, provider_id,
        error, retryable, retry_after_s, code, receipt, by). InvalidTransition if it cannot happen;
        UnknownDelivery if there is no such delivery."""
        key = keys.delivery(delivery_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.hgetall(key)
                    if not raw:
                        raise UnknownDelivery(delivery_id)
                    before = _decode(raw)
                    after = transition(before, event, now, policy=self.policy, **details)
                    if after is before:
                        pipe.unwatch()
                        return before
                    pipe.multi()
                    self._write(pipe, before, after, now)
                    if audit_by:
                        _audit(pipe, now, audit_by, f"delivery-{Event(event).value}", after.id,
                               {"state": before.state.value}, {"state": after.state.value,
                                                               "approvals": list(after.approvals)})
                    pipe.execute()
                    return after
                except WatchError:
                    continue

    def claim_for_send(self, delivery_id: str, now: float) -> Delivery | None:
        """Record `sending` (attempts + 1, claimed_at) BEFORE the send; None when the delivery is
        not claimable now (another process has it, it is not due, it is gone)."""
        try:
            return self.record(delivery_id, Event.CLAIM, now)
        except (InvalidTransition, UnknownDelivery):
            return None

    def defer(self, delivery_id: str, until: float) -> None:
        """Look at a due delivery again no earlier than `until` (its gateway's breaker is open).
        Only moves it later, only while it is still waiting; its state is untouched."""
        self.redis.zadd(keys.DELIVERIES_DUE, {delivery_id: until}, xx=True, gt=True)

    def retry(self, delivery_id: str, now: float, by: str = "operator") -> Delivery:
        """An operator sends a dead letter (or an unknown or undelivered message) again: queued,
        a fresh retry budget. Audited."""
        return self.record(delivery_id, Event.RETRY, now, by=by, audit_by=by)

    def approve(self, notification_id: str, by: str, now: float) -> list[Delivery]:
        """One operator's approval of a mass send (every delivery of the notification that awaits
        approval); the second, different operator's releases it. Audited. InvalidTransition if
        this operator approved it already."""
        out = []
        for d in self.by_notification(notification_id):
            if d.state is State.AWAITING_APPROVAL:
                out.append(self.record(d.id, Event.APPROVE, now, by=by, audit_by=by if not out else None))
        return out

    def apply_receipt(self, provider_id: str, status: str, error_code: str | None, now: float,
                      key: str | None = None) -> Delivery | None:
        """A provider's status report: sent -> delivered / undelivered (with its error code). The
        delivery is found by the provider's message id, else by the idempotency key the status
        callback URL carries (`k`: a receipt that beat the sender's record, or came after it died).
        None for a message we do not know."""
        found = self.redis.get(keys.delivery_by_provider_id(provider_id))
        ids = [found.decode()] if found else []
        if key:
            ids.append(delivery_id(key))
        receipt = Receipt(provider_id=provider_id, status=status, error_code=error_code)
        for candidate in ids:
            try:
                return self.record(candidate, Event.RECEIPT, now, receipt=receipt)
            except UnknownDelivery:
                continue
            except InvalidTransition:
                return self.get(candidate)
        return None

    # ---- reads ----------------------------------------------------------------------------

    def get(self, delivery_id: str) -> Delivery | None:
        raw = self.redis.hgetall(keys.delivery(delivery_id))
        return _decode(raw) if raw else None

    def get_many(self, ids: Iterable[str]) -> list[Delivery]:
        ids = list(ids)
        pipe = self.redis.pipeline(transaction=False)
        for i in ids:
            pipe.hgetall(keys.delivery(i))
        return [_decode(raw) for raw in pipe.execute() if raw]

    def due(self, now: float, limit: int = 100) -> list[str]:
        """Ids of the deliveries whose next attempt is due, earliest first."""
        return [i.decode() for i in self.redis.zrangebyscore(keys.DELIVERIES_DUE, "-inf", now, start=0, num=limit)]

    def by_state(self, state: State, limit: int = 1000) -> list[Delivery]:
        """Deliveries in `state`, most recently changed first."""
        ids = self.redis.zrevrange(keys.deliveries_in_state(State(state).value), 0, limit - 1)
        return self.get_many(i.decode() for i in ids)

    def dead(self, limit: int = 1000) -> list[Delivery]:
        return self.by_state(State.DEAD, limit)

    def by_notification(self, notification_id: str) -> list[Delivery]:
        ids = sorted(i.decode() for i in self.redis.smembers(keys.deliveries_of_notification(notification_id)))
        return self.get_many(ids)

    def stale_sending(self, claimed_before: float, limit: int = 1000) -> list[Delivery]:
        """Deliveries claimed before `claimed_before` and still `sending`: their sender died, or
        left an ambiguous answer for recovery to resolve."""
        ids = self.redis.zrangebyscore(keys.deliveries_in_state(State.SENDING.value), "-inf", claimed_before,
                                       start=0, num=limit)
        return self.get_many(i.decode() for i in ids)

    def counts(self) -> dict[str, int]:
        """How many deliveries are in each state (kept ones: see the retention constants)."""
        pipe = self.redis.pipeline(transaction=False)
        for state in State:
            pipe.zcard(keys.deliveries_in_state(state.value))
        return {state.value: n for state, n in zip(State, pipe.execute(), strict=True)}

    # ---- circuit breakers -----------------------------------------------------------------

    def breaker(self, gateway: str) -> breakers.Breaker:
        return _breaker(self.redis.hgetall(keys.breaker(gateway)))

    def breaker_event(self, gateway: str, event: breakers.BreakerEvent, now: float, rng: random.Random,
                      retry_after_s: float | None = None) -> tuple[breakers.Breaker, bool]:
        """One breaker transition, shared by every notifier process: (the breaker, may the request go)."""
        key = keys.breaker(gateway)
        seen = _breaker(self.redis.hgetall(key))
        after, admitted = breakers.transition(seen, event, now, rng, self.breaker_policy, retry_after_s)
        if after == seen:
            return after, admitted  # nothing to write (the common case: closed and healthy): one round trip
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    before = _breaker(pipe.hgetall(key))
                    after, admitted = breakers.transition(before, event, now, rng, self.breaker_policy, retry_after_s)
                    if after == before:
                        pipe.unwatch()
                        return after, admitted
                    pipe.multi()
                    pipe.hset(key, mapping={"state": after.state.value, "failures": after.failures,
                                            "step": after.step, "retry_at": repr(after.retry_at),
                                            "probe_until": repr(after.probe_until)})
                    pipe.execute()
                    return after, admitted
                except WatchError:
                    continue

    # ---- internals ------------------------------------------------------------------------

    def _write(self, pipe, before: Delivery, after: Delivery, now: float) -> None:
        key = keys.delivery(after.id)
        pipe.delete(key)
        pipe.hset(key, mapping=_encode(after))
        if before.state is not after.state:
            pipe.zrem(keys.deliveries_in_state(before.state.value), after.id)
        pipe.zadd(keys.deliveries_in_state(after.state.value), {after.id: after.updated_at})
        if after.state in CLAIMABLE and after.next_attempt_at is not None:
            pipe.zadd(keys.DELIVERIES_DUE, {after.id: after.next_attempt_at})
        else:
            pipe.zrem(keys.DELIVERIES_DUE, after.id)
        if after.provider_id and after.provider_id != before.provider_id:
            pipe.set(keys.delivery_by_provider_id(after.provider_id), after.id, ex=OPERATOR_RETENTION_S)
        keep = DONE_RETENTION_S if after.state in FINAL else OPERATOR_RETENTION_S if after.state in NEEDS_OPERATOR \
            else None
        if keep:
            pipe.expire(key, keep)
            pipe.zremrangebyscore(keys.deliveries_in_state(after.state.value), "-inf", now - keep)
        pipe.expire(keys.deliveries_of_notification(after.notification_id), OPERATOR_RETENTION_S)


def _encode(d: Delivery) -> dict[str, str]:
    out = {}
    for name, value in d.model_dump(mode="json").items():
        if value is None or (name == "approvals" and not value):
            continue
        if name == "approvals":
            out[name] = orjson.dumps(value).decode()
        elif isinstance(value, bool):
            out[name] = "1" if value else "0"
        elif isinstance(value, float):
            out[name] = repr(value)
        else:
            out[name] = str(value)
    return out


def _decode(raw: dict[bytes, bytes]) -> Delivery:
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    if "approvals" in fields:
        fields["approvals"] = tuple(orjson.loads(fields["approvals"]))
    return Delivery.model_validate(fields)


def _breaker(raw: dict[bytes, bytes]) -> breakers.Breaker:
    if not raw:
        return breakers.Breaker()
    f = {k.decode(): v.decode() for k, v in raw.items()}
    return breakers.Breaker(state=breakers.BreakerState(f["state"]), failures=int(f["failures"]),
                            step=int(f["step"]), retry_at=float(f["retry_at"]), probe_until=float(f["probe_until"]))


def _audit(pipe, now: float, actor: str, action: str, subject: str, before: Any, after: Any) -> None:
    entry = {"at": now, "actor": actor, "action": action, "subject": subject, "before": before, "after": after}
    pipe.xadd(keys.AUDIT, {"d": orjson.dumps(entry)}, minid=int((now - AUDIT_RETENTION_S) * 1000))
