"""The recipient and webhook changes an admin makes, each with its audit entry: one implementation
for `opscentre recipients ...` / `opscentre webhooks ...` (actor "cli") and the console's
Recipients page (actor: the signed-in admin).

Input is checked here, once, for both: the phone parsed with `phonenumbers` (phones.normalise),
bairros by name or code (csv_import.resolve_zones), a point inside the city, a name the model
accepts (at most 120 visible characters; markup is kept as text — every place that shows a name
escapes it). A refusal is a ValueError whose message says why without repeating the phone number,
and nothing is stored. Who may call these is the caller's check (the page's callbacks are
guarded by Action.RECIPIENTS and Action.WEBHOOKS).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from redis import Redis

from opscentre.core.alert_store import AlertStore
from opscentre.core.geo import Zones
from opscentre.core.notify.csv_import import check_point, resolve_zones
from opscentre.core.notify.phones import masked, normalise
from opscentre.core.notify.recipient_store import RecipientRefused, RecipientStore
from opscentre.core.notify.recipients import Consent, Recipient, explain, parse_quiet_hours
from opscentre.core.notify.subscribers import SubscriberStore, WebhookSubscriber

NO_PLACE = "a recipient needs a place: --zone BAIRRO (one or more), or --point LAT,LON --radius-m M"


def build_recipient(zones: Zones, *, name: str, phone: str, zone_texts: Sequence[str] = (),
                    point: tuple[float, float] | None = None, radius_m: float | None = None,
                    lang: str = "pt-BR", role: str = "subscriber", quiet: str | None = None,
                    consent_how: str, now: float, editing: Recipient | None = None) -> Recipient:
    """A recipient from what an admin typed; ValueError with the reason. `editing`: the stored
    recipient this replaces (its id, consent and creation time kept; an empty phone keeps its number)."""
    try:
        e164 = editing.phone if editing is not None and not (phone or "").strip() else normalise(phone)
        zone_ids = resolve_zones(zones, zone_texts)
        if point is not None or radius_m is not None:
            if point is None or radius_m is None:
                raise ValueError("--point needs --radius-m (and --radius-m a --point)")
            point = check_point(zones, *point, radius_m)
        if not zone_ids and point is None:
            raise ValueError(NO_PLACE)
        quiet_hours = parse_quiet_hours(quiet) if quiet else None
        fields = dict(name=(name or "").strip(), phone=e164, zone_ids=tuple(zone_ids), point=point,
                      radius_m=radius_m if point else None, lang=lang, role=role, quiet_hours=quiet_hours)
        if editing is None:
            return Recipient.create(consent_how=consent_how, now=now, **fields)
        return Recipient(id=editing.id, consent=Consent(at=editing.consent.at, how=editing.consent.how),
                         created_at=editing.created_at, **fields)
    except ValidationError as exc:
        raise ValueError(explain(exc)) from None


def audit_details(recipient: Recipient) -> dict[str, Any]:
    """What the audit keeps of a recipient: the phone masked."""
    return {"phone": masked(recipient.phone), "role": recipient.role.value, "zone_ids": list(recipient.zone_ids),
            "point": list(recipient.point) if recipient.point else None, "radius_m": recipient.radius_m,
            "consent": recipient.consent.how}


def _record(redis: Redis, actor: str, action: str, subject: str, details: dict[str, Any]) -> None:
    AlertStore(redis).record(actor, action, subject, details, time.time())


def add_recipient(redis: Redis, actor: str, recipient: Recipient) -> Recipient:
    """Stored and audited; RecipientRefused (a ValueError) for a (phone, role) taken or an opted-out number."""
    RecipientStore(redis).add(recipient)
    _record(redis, actor, "recipient-added", recipient.id, audit_details(recipient))
    return recipient


def update_recipient(redis: Redis, actor: str, recipient: Recipient) -> Recipient:
    store = RecipientStore(redis)
    before = store.get(recipient.id)
    if before is None:
        raise RecipientRefused(f"no recipient {recipient.id!r}")
    store.replace(recipient)
    _record(redis, actor, "recipient-changed", recipient.id,
            {**audit_details(recipient), "before": audit_details(before)})
    return recipient


def remove_recipient(redis: Redis, actor: str, recipient_id: str) -> Recipient | None:
    """The removed recipient (audited), or None when there was none."""
    removed = RecipientStore(redis).remove(recipient_id)
    if removed is not None:
        _record(redis, actor, "recipient-removed", removed.id, audit_details(removed))
    return removed


def add_webhook(redis: Redis, actor: str, url: str, secret: str | None = None,
                min_severity: str = "advisory") -> WebhookSubscriber:
    """A new subscriber, audited (never its secret); ValueError for a bad URL, secret or severity."""
    subscriber = SubscriberStore(redis).add(WebhookSubscriber.create(url, time.time(), secret=secret,
                                                                     min_severity=min_severity))
    _record(redis, actor, "webhook-added", subscriber.id,
            {"url": subscriber.url, "min_severity": subscriber.min_severity.value,
             "secret": "given" if secret else "generated"})
    return subscriber


def remove_webhook(redis: Redis, actor: str, subscriber_id: str) -> WebhookSubscriber | None:
    removed = SubscriberStore(redis).remove(subscriber_id)
    if removed is not None:
        _record(redis, actor, "webhook-removed", removed.id, {"url": removed.url})
    return removed


def set_webhook_enabled(redis: Redis, actor: str, subscriber_id: str, enabled: bool) -> WebhookSubscriber | None:
    """The subscriber as it now is (audited), or None when there is none. A disabled one is sent
    nothing new (routing skips it); what was already queued for it still goes."""
    changed = SubscriberStore(redis).set_enabled(subscriber_id, enabled)
    if changed is not None:
        _record(redis, actor, "webhook-enabled" if enabled else "webhook-disabled", changed.id, {"url": changed.url})
    return changed
