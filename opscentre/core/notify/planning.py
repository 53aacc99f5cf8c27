"""From one outbox notification to its deliveries: route -> render -> one Delivery per
(channel, recipient), keyed so that planning the same notification twice adds nothing (pure).

A transition that would text more than `notify.approval_over` recipients waits, every SMS of
it `awaiting_approval`, for two different operators (the two-person rule for mass sends);
webhooks to partner systems are not held.

The per-recipient SMS limit (`notify.per_recipient_per_hour`, counted in Redis by
core/notify/rate_limit.py) is applied here too: an SMS over it is not dropped but stored
`cancelled` with the reason, so `opscentre deliveries` shows it. Emergencies are exempt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from opscentre.core.alerting.rules import AlertSeverity
from opscentre.core.notify import deliveries
from opscentre.core.notify.deliveries import Delivery, Event, State
from opscentre.core.notify.messages import render, webhook_body
from opscentre.core.notify.recipients import Recipient
from opscentre.core.notify.routing import RecipientAreas, route, route_webhooks
from opscentre.core.notify.subscribers import WebhookSubscriber
from opscentre.core.settings import Settings


def transition_of(notification: Mapping[str, Any]) -> str:
    return str(notification.get("change") or notification.get("kind") or "notice")


def exempt_from_rate_limit(notification: Mapping[str, Any]) -> bool:
    """An emergency is texted whatever the recipient's count this hour."""
    return (notification.get("trigger_severity") or notification.get("severity")) == AlertSeverity.EMERGENCY.value


def rate_limited(delivery: Delivery) -> bool:
    """Is this planned delivery one the per-recipient limit applies to (an SMS about to wait or go)?"""
    return delivery.channel == "sms" and delivery.state in (State.QUEUED, State.AWAITING_APPROVAL)


def over_rate_limit(delivery: Delivery, count: int, now: float) -> Delivery:
    """A planned SMS the per-recipient limit refused: cancelled (never sent), saying why."""
    return deliveries.transition(delivery, Event.CANCEL, now, error=f"rate limit: {count} messages in the last hour")


def plan(notification: Mapping[str, Any], recipients: Iterable[Recipient], areas: RecipientAreas,
         subscribers: Iterable[WebhookSubscriber], settings: Settings, now: float, now_local: datetime,
         channels: Iterable[str] = ("sms", "webhook"), public_url: str | None = None) -> list[Delivery]:
    """The deliveries of one notification on the enabled `channels`. A silenced notification
    has none (the silence is in the audit stream). `public_url`: where the public side is
    reached (OPSCENTRE_PUBLIC_URL), for the webhooks' links to CAP documents."""
    if notification.get("silenced_by"):
        return []
    notification_id = str(notification["id"])
    transition = transition_of(notification)
    incident_id = notification.get("incident_id")
    zone_names = settings.zones.name_by_id
    out: list[Delivery] = []
    if "sms" in channels:
        texted = route(notification, recipients, areas, settings.notify, now_local)
        hold = len(texted) > settings.notify.approval_over
        rendered = {}  # one text per language, however many recipients
        for recipient, _why in texted:
            if recipient.lang not in rendered:
                rendered[recipient.lang] = render(notification, recipient.lang, zone_names, settings)
            message = rendered[recipient.lang]
            out.append(deliveries.new(notification_id=notification_id, transition=transition, channel="sms",
                                      recipient_id=recipient.id, target_masked=recipient.masked_phone,
                                      payload=message.text, now=now, segments=message.segments,
                                      incident_id=incident_id, needs_approval=hold))
    if "webhook" in channels:
        body = None
        for subscriber, _why in route_webhooks(notification, subscribers, settings.notify.internal_domains):
            body = body or webhook_body(notification, zone_names, public_url)
            out.append(deliveries.new(notification_id=notification_id, transition=transition, channel="webhook",
                                      recipient_id=subscriber.id, target_masked=subscriber.display()["url"],
                                      payload=body, now=now, incident_id=incident_id))
    return out
