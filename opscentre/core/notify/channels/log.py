"""The log channel: a notification as one log line (always on; what the outbox drained to first)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opscentre.core.notify.channels.base import SendResult
from opscentre.core.notify.deliveries import State

log = logging.getLogger("opscentre.notify")


def line(notification: Mapping[str, Any]) -> str:
    where = ", ".join(notification.get("zone_ids") or []) or "city"
    what = notification.get("change") or notification.get("kind")
    subject = notification.get("incident_id") or notification.get("alert_id")
    return (f"{notification.get('severity', '?').upper()} {notification.get('kind')} {subject} {what}"
            f" [{where}] to {notification.get('recipients', 'primary')}: {notification.get('title', '')}")


class LogChannel:
    name = "log"
    resend_safe = True  # a repeated log line harms nobody
    send_timeout_s = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LogChannel:
        return cls()

    def gateway(self, target: Any) -> str:
        return "log"

    def masked(self, target: Any) -> str:
        return "log"

    def send(self, payload: Any, target: Any, idempotency_key: str) -> SendResult:
        text = payload if isinstance(payload, str) else line(payload)
        log.warning("%s", text)
        return SendResult(provider_id=None, status=State.DELIVERED)
