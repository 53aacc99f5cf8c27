"""The recipients in Redis: the only code that reads or writes their keys.

One recipient per (phone, role): a number that is both a NUDEC contact and a resident
subscriber is two recipients, but never two of the same role (which would text it twice).
A number that texted SAIR/STOP is remembered as opted out: operators cannot add it back by
hand or by import; only the number itself can, by texting ALERTA again (`subscribe`).

Writes that depend on what is stored run in WATCH/MULTI transactions, so concurrent adds and
SMS subscriptions for one number cannot duplicate a role or lose a zone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pydantic import ValidationError
from redis import Redis

from opscentre.core import keys
from opscentre.core.notify.recipients import Language, Recipient, Role

log = logging.getLogger(__name__)

SMS_SUBSCRIBER_NAME = "SMS subscriber"


class RecipientRefused(ValueError):
    """A recipient the store will not add; the message says why (never the phone number)."""


class RecipientStore:
    def __init__(self, redis: Redis):
        self.redis = redis

    # -- reads -------------------------------------------------------------------------------
    def get(self, recipient_id: str) -> Recipient | None:
        return next(iter(self._load([self.redis.hget(keys.RECIPIENTS, recipient_id)])), None)

    def list(self) -> list[Recipient]:
        """Every recipient, oldest first."""
        found = self._load(self.redis.hvals(keys.RECIPIENTS))
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def by_phone(self, e164: str) -> list[Recipient]:
        """The recipients of this number (at most one per role)."""
        return self._by_phone(self.redis, e164)

    def opted_out(self, e164: str) -> float | None:
        """When this number texted SAIR/STOP (unix s), or None if it has not (or subscribed since)."""
        at = self.redis.hget(keys.RECIPIENTS_OPTED_OUT, e164)
        return float(at) if at is not None else None

    def version(self) -> int:
        """+1 on every change: a reader may keep its copy of `list()` until this moves."""
        return int(self.redis.get(keys.RECIPIENTS_VERSION) or 0)

    # -- writes ------------------------------------------------------------------------------
    def add(self, recipient: Recipient) -> Recipient:
        """Store a new recipient; RecipientRefused if its number already has a recipient of this
        role, or opted out by SMS."""
        phone_key = keys.recipient_phone(recipient.phone)

        def add(pipe) -> None:
            if pipe.hexists(keys.RECIPIENTS_OPTED_OUT, recipient.phone):
                raise RecipientRefused("this number opted out by SMS (SAIR/STOP); only a new ALERTA "
                                       "text from it subscribes it again")
            for existing in self._by_phone(pipe, recipient.phone):
                if existing.role == recipient.role:
                    raise RecipientRefused(f"this number is already recipient {existing.id} "
                                           f"with role {recipient.role.value}")
            pipe.multi()
            self._write(pipe, recipient)

        self.redis.transaction(add, phone_key, keys.RECIPIENTS_OPTED_OUT)
        return recipient

    def replace(self, recipient: Recipient) -> Recipient:
        """Store a changed recipient under its id (an edit: name, phone, places, role, language);
        RecipientRefused when there is no such recipient, or its new (phone, role) is another
        recipient's, or its new number opted out by SMS."""
        old_raw = self.redis.hget(keys.RECIPIENTS, recipient.id)
        if old_raw is None:
            raise RecipientRefused(f"no recipient {recipient.id!r}")
        old_phone = Recipient.model_validate_json(old_raw).phone
        watched = {keys.recipient_phone(recipient.phone), keys.recipient_phone(old_phone)}

        def replace(pipe) -> None:
            if not pipe.hexists(keys.RECIPIENTS, recipient.id):
                raise RecipientRefused(f"no recipient {recipient.id!r}")
            if recipient.phone != old_phone and pipe.hexists(keys.RECIPIENTS_OPTED_OUT, recipient.phone):
                raise RecipientRefused("this number opted out by SMS (SAIR/STOP); only a new ALERTA "
                                       "text from it subscribes it again")
            for existing in self._by_phone(pipe, recipient.phone):
                if existing.role == recipient.role and existing.id != recipient.id:
                    raise RecipientRefused(f"this number is already recipient {existing.id} "
                                           f"with role {recipient.role.value}")
            pipe.multi()
            if recipient.phone != old_phone:
                pipe.srem(keys.recipient_phone(old_phone), recipient.id)
            self._write(pipe, recipient)

        self.redis.transaction(replace, keys.RECIPIENTS, keys.RECIPIENTS_OPTED_OUT, *watched)
        return recipient

    def remove(self, recipient_id: str) -> Recipient | None:
        """Remove one recipient; the removed one, or None if there was none."""
        recipient = self.get(recipient_id)
        if recipient is None:
            return None
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(keys.RECIPIENTS, recipient_id)
        pipe.srem(keys.recipient_phone(recipient.phone), recipient_id)
        pipe.incr(keys.RECIPIENTS_VERSION)
        removed, *_ = pipe.execute()
        return recipient if removed else None

    def remove_phone(self, e164: str, now: float) -> int:
        """Every recipient of this number removed, and the number kept as opted out (what an SMS
        "SAIR" / "STOP" does). Returns how many recipients it had."""
        phone_key = keys.recipient_phone(e164)
        removed = 0

        def remove(pipe) -> None:
            nonlocal removed
            ids = [i.decode() for i in pipe.smembers(phone_key)]
            removed = len(ids)
            pipe.multi()
            if ids:
                pipe.hdel(keys.RECIPIENTS, *ids)
            pipe.delete(phone_key)
            pipe.hset(keys.RECIPIENTS_OPTED_OUT, e164, repr(now))
            pipe.incr(keys.RECIPIENTS_VERSION)

        self.redis.transaction(remove, phone_key)
        return removed

    def subscribe(self, phone: str, zone_id: str, consent_how: str, now: float,
                  lang: Language | None = None) -> Recipient:
        """Add the zone to this number's subscriber, or create one (role subscriber, consent now
        as `consent_how` says) — what an SMS "ALERTA <bairro>" does; it also ends an opt-out.
        `phone` is E.164, `zone_id` a known zone id (`Zones.find`). Returns the subscriber."""
        phone_key = keys.recipient_phone(phone)
        result: list[Recipient] = []

        def subscribe(pipe) -> None:
            result.clear()
            current = next((r for r in self._by_phone(pipe, phone) if r.role == Role.SUBSCRIBER), None)
            opted_out = pipe.hexists(keys.RECIPIENTS_OPTED_OUT, phone)
            if current is not None and zone_id in current.zone_ids and not opted_out:
                result.append(current)
                return
            if current is None:
                subscriber = Recipient.create(name=SMS_SUBSCRIBER_NAME, phone=phone, consent_how=consent_how, now=now,
                                              zone_ids=[zone_id], role=Role.SUBSCRIBER, lang=lang or Language.PT_BR)
            elif zone_id in current.zone_ids:
                subscriber = current
            else:
                subscriber = Recipient.model_validate({**current.model_dump(), "zone_ids": (*current.zone_ids, zone_id)})
            pipe.multi()
            self._write(pipe, subscriber)
            pipe.hdel(keys.RECIPIENTS_OPTED_OUT, phone)
            result.append(subscriber)

        self.redis.transaction(subscribe, phone_key, keys.RECIPIENTS, keys.RECIPIENTS_OPTED_OUT)
        return result[0]

    # -- internals ---------------------------------------------------------------------------
    @staticmethod
    def _write(pipe, recipient: Recipient) -> None:
        pipe.hset(keys.RECIPIENTS, recipient.id, recipient.model_dump_json())
        pipe.sadd(keys.recipient_phone(recipient.phone), recipient.id)
        pipe.incr(keys.RECIPIENTS_VERSION)

    def _by_phone(self, client, e164: str) -> list[Recipient]:
        ids = sorted(client.smembers(keys.recipient_phone(e164)))
        return self._load(client.hmget(keys.RECIPIENTS, ids)) if ids else []

    @staticmethod
    def _load(raws: Iterable[bytes | None]) -> list[Recipient]:
        out = []
        for raw in raws:
            if raw is None:
                continue
            try:
                out.append(Recipient.model_validate_json(raw))
            except ValidationError as exc:  # written by another version: skipped, said once per read
                log.warning("a stored recipient does not validate and is skipped: %s", exc.errors()[0].get("msg"))
        return out
