"""The only Redis I/O for deliveries and the gateways' circuit breakers (keys: core/keys.py).

A delivery is a hash (`oc:delivery:{id}`), indexed by state (a zset per state, by updated_at),
by notification (a set), by provider message id (a string, for receipts), and when it waits
to be sent by `oc:deliveries:due` (a zset by next_attempt_at). Every change goes through
deliveries.transition inside WATCH/MULTI, so its hash and its indexes change together and two
notifier processes can never both claim one delivery. New deliveries are added by a Lua script
that skips an id that exists: the id is derived from the idempotency key, so an outbox entry
read twice after a crash creates nothing twice. Each incident's counts of its deliveries by
channel and state (core/notify/incident_counts.py) change in the same script or transaction as
the delivery they count.

The sender works in batches: `claim_many` and `apply_many` write many transitions (each computed
by deliveries.transition in Python, as `record` does) in one Lua script that applies each only
if its delivery is still as it was read (state, attempts, updated_at: a compare-and-set), so a
batch costs one round trip and still no two processes can both claim one delivery.
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
from opscentre.core.notify import incident_counts
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
    for _, c in ipairs(d.ops) do redis.call(unpack(c)) end
    added[#added + 1] = d.id
  end
end
return added
"""


# Each delivery's writes (the commands `_writes` lists), applied only if its hash still holds the
# state, attempts and updated_at it was read with; returns the 1-based positions applied.
_APPLY = """
local applied = {}
for i = 1, #KEYS do
  local d = cjson.decode(ARGV[i])
  local now = redis.call('hmget', KEYS[i], 'state', 'attempts', 'updated_at')
  if now[1] == d.seen[1] and now[2] == d.seen[2] and now[3] == d.seen[3] then
    for _, c in ipairs(d.ops) do redis.call(unpack(c)) end
    applied[#applied + 1] = i
  end
end
return applied
"""
_SEEN = ("state", "attempts", "updated_at")

# A gateway's breaker closed: the messages that waited for it are due now (only those still
# waiting to be sent, and only ever earlier), and the list is forgotten.
_RELEASE = """
local ids = redis.call('smembers', KEYS[1])
for _, id in ipairs(ids) do redis.call('zadd', KEYS[2], 'XX', 'LT', ARGV[1], id) end
redis.call('del', KEYS[1])
return #ids
"""
WAITING_TTL_S = 86400  # as long as a message may wait (RetryPolicy.max_age_s)


class UnknownDelivery(KeyError):
    pass


class DeliveryStore:
    def __init__(self, redis: Redis, policy: RetryPolicy = POLICY,
                 breaker_policy: breakers.BreakerPolicy = breakers.POLICY):
        self.redis = redis
        self.policy = policy
        self.breaker_policy = breaker_policy
        self._add = redis.register_script(_ADD)
        self._apply = redis.register_script(_APPLY)
        self._release = redis.register_script(_RELEASE)

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
                "ttl": OPERATOR_RETENTION_S,
                "ops": _kept(d, d.updated_at) + incident_counts.add_writes(d, OPERATOR_RETENTION_S)}) for d in chunk]
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
                    for command in _writes(before, after, now):
                        pipe.execute_command(*command)
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

    def claim_many(self, deliveries: Iterable[Delivery], now: float) -> list[Delivery]:
        """Claim a batch (each as read just before: copies from `get_many`) in one round trip: those
        claimable and unchanged since they were read, as claimed; the others are left alone."""
        changes = []
        for d in deliveries:
            try:
                changes.append((d, transition(d, Event.CLAIM, now, policy=self.policy)))
            except InvalidTransition:
                continue
        return [after for (_before, after), ok in zip(changes, self.apply_many(changes, now), strict=True) if ok]

    def apply_many(self, changes: list[tuple[Delivery, Delivery]], now: float) -> list[bool]:
        """Write (before, after) transitions computed by deliveries.transition, each only if its
        delivery is still `before` (compare-and-set), in one round trip: which were written."""
        written = [after is before for before, after in changes]  # no change: nothing to write
        todo = [(i, b, a) for i, (b, a) in enumerate(changes) if a is not b]
        for start in range(0, len(todo), ADD_BATCH):
            chunk = todo[start:start + ADD_BATCH]
            args = []
            for _i, before, after in chunk:
                seen = _encode(before)
                args.append(orjson.dumps({"seen": [seen.get(f, "") for f in _SEEN],
                                          "ops": _writes(before, after, now)}))
            for position in self._apply(keys=[keys.delivery(b.id) for _i, b, _a in chunk], args=args):
                written[chunk[int(position) - 1][0]] = True
        return written

    def defer(self, delivery_id: str, until: float, gateway: str | None = None) -> None:
        """Look at a due delivery again no earlier than `until` (its gateway's breaker is open).
        Only moves it later, only while it is still waiting; its state is untouched. With
        `gateway`, it is among the messages made due at once when that breaker closes."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.DELIVERIES_DUE, {delivery_id: until}, xx=True, gt=True)
            if gateway is not None:
                self._waiting(pipe, gateway, [delivery_id])
            pipe.execute()

    def wait_for_gateway(self, gateway: str, delivery_ids: list[str]) -> None:
        """These deliveries failed at `gateway` (retryable): when its breaker closes after an
        outage, they go at once instead of when their own backoff ends."""
        if delivery_ids:
            with self.redis.pipeline(transaction=False) as pipe:
                self._waiting(pipe, gateway, delivery_ids)
                pipe.execute()

    @staticmethod
    def _waiting(pipe, gateway: str, delivery_ids: list[str]) -> None:
        pipe.sadd(keys.breaker_waiting(gateway), *delivery_ids)
        pipe.expire(keys.breaker_waiting(gateway), WAITING_TTL_S)

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
        after, admitted = self._breaker_write(key, [(event, retry_after_s)], now, rng)
        return after, admitted

    def breaker_outcomes(self, gateway: str, outcomes: list[tuple[breakers.BreakerEvent, float | None]],
                         now: float, rng: random.Random) -> breakers.Breaker:
        """A batch's outcomes at one gateway (SUCCESS / FAILURE, retry_after_s), in the order they
        came back, as one transition each: one round trip when they change nothing. When they close
        the breaker (a probe found the gateway back), the messages that waited for it are due now:
        they do not wait out a backoff step, or their own backoff, once it answers again."""
        key = keys.breaker(gateway)
        seen = _breaker(self.redis.hgetall(key))
        after = seen
        for event, wait in outcomes:
            after, _ = breakers.transition(after, event, now, rng, self.breaker_policy, wait)
        if after == seen:
            return after
        after = self._breaker_write(key, outcomes, now, rng)[0]
        if seen.state is not breakers.BreakerState.CLOSED and after.state is breakers.BreakerState.CLOSED:
            self._release(keys=[keys.breaker_waiting(gateway), keys.DELIVERIES_DUE], args=[repr(now)])
        return after

    def _breaker_write(self, key: str, events: list[tuple[breakers.BreakerEvent, float | None]], now: float,
                       rng: random.Random) -> tuple[breakers.Breaker, bool]:
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    before = after = _breaker(pipe.hgetall(key))
                    admitted = True
                    for event, wait in events:
                        after, admitted = breakers.transition(after, event, now, rng, self.breaker_policy, wait)
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


def _writes(before: Delivery, after: Delivery, now: float) -> list[list[str]]:
    """The Redis commands that take a delivery's hash and indexes from `before` to `after`."""
    key, i = keys.delivery(after.id), after.id
    out = [["DEL", key], ["HSET", key, *[x for pair in _encode(after).items() for x in pair]]]
    if before.state is not after.state:
        out.append(["ZREM", keys.deliveries_in_state(before.state.value), i])
    out.append(["ZADD", keys.deliveries_in_state(after.state.value), repr(after.updated_at), i])
    if after.state in CLAIMABLE and after.next_attempt_at is not None:
        out.append(["ZADD", keys.DELIVERIES_DUE, repr(after.next_attempt_at), i])
    else:
        out.append(["ZREM", keys.DELIVERIES_DUE, i])
    if after.provider_id and after.provider_id != before.provider_id:
        out.append(["SET", keys.delivery_by_provider_id(after.provider_id), i, "EX", str(OPERATOR_RETENTION_S)])
    out += _kept(after, now)
    out.append(["EXPIRE", keys.deliveries_of_notification(after.notification_id), str(OPERATOR_RETENTION_S)])
    out += incident_counts.change_writes(before, after, OPERATOR_RETENTION_S)
    return out


def _kept(d: Delivery, now: float) -> list[list[str]]:
    """A finished delivery (or one waiting for an operator) expires, and its state index is trimmed
    to the same retention; one still under way is kept until it moves on."""
    keep = DONE_RETENTION_S if d.state in FINAL else OPERATOR_RETENTION_S if d.state in NEEDS_OPERATOR else None
    if not keep:
        return []
    return [["EXPIRE", keys.delivery(d.id), str(keep)],
            ["ZREMRANGEBYSCORE", keys.deliveries_in_state(d.state.value), "-inf", repr(now - keep)]]


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
