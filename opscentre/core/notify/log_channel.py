"""The log channel: every outbox notification as one log line (the first channel; SMS and
webhooks come next, reading the same outbox through their own consumer groups)."""

from __future__ import annotations

import logging
from typing import Any

from redis import Redis

from opscentre.core.notify import outbox

CHANNEL = "log"
log = logging.getLogger("opscentre.notify")


def line(notification: dict[str, Any]) -> str:
    where = ", ".join(notification.get("zone_ids") or []) or "city"
    what = notification.get("change") or notification.get("kind")
    subject = notification.get("incident_id") or notification.get("alert_id")
    return (f"{notification.get('severity', '?').upper()} {notification.get('kind')} {subject} {what}"
            f" [{where}] to {notification.get('recipients', 'primary')}: {notification.get('title', '')}")


def deliver(redis: Redis, consumer: str) -> int:
    """Log every notification not yet delivered on this channel; returns how many."""
    entries = outbox.read(redis, CHANNEL, consumer)
    for _entry_id, notification in entries:
        log.warning("%s", line(notification))
    outbox.acknowledge(redis, CHANNEL, [entry_id for entry_id, _ in entries])
    return len(entries)
