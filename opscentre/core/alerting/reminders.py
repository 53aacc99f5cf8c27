"""Reminders and escalation for unacknowledged critical alerts (pure).

While a firing alert of at least `min_severity` stays unacknowledged, it is reminded to the
primary recipients every `every_s`, and once it has been unacknowledged `escalate_after_s` it is
escalated, once, to the secondary recipients. An acknowledgement stops both. These are for
people, so `now` is the wall clock (not a simulator's fast data time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opscentre.core.alerting.lifecycle import Alert, AlertState
from opscentre.core.alerting.rules import AlertSeverity


def due(alerts: Mapping[str, Alert], acks: Mapping[str, Any], reminded: Mapping[str, Mapping[str, Any]],
        every_s: float, escalate_after_s: float, min_severity: AlertSeverity, now: float
        ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """(notifications, the new reminder state: alert id -> {last_at, count, escalated})."""
    notifications: list[dict[str, Any]] = []
    state: dict[str, dict[str, Any]] = {}
    for alert in alerts.values():
        if alert.state != AlertState.FIRING or alert.severity.rank < min_severity.rank or alert.id in acks:
            continue
        record = reminded.get(alert.id) or {"first_at": now, "last_at": now, "count": 0, "escalated": False}
        firing_for = now - record.get("first_at", now)
        escalate = escalate_after_s and not record["escalated"] and firing_for >= escalate_after_s
        remind = every_s and now - record["last_at"] >= every_s
        if escalate or remind:  # (a record that does not move stays the same object: not written again)
            record = dict(record)
        if escalate:
            record["escalated"] = True
            notifications.append(notice(alert, "escalation", "secondary", firing_for, now))
        if remind:
            record["last_at"], record["count"] = now, record["count"] + 1
            notifications.append(notice(alert, "reminder", "primary", firing_for, now))
        state[alert.id] = record
    return notifications, state


def notice(alert: Alert, kind: str, group: str, firing_for: float, now: float) -> dict[str, Any]:
    return {"kind": kind, "recipients": group, "alert_id": alert.id, "fingerprints": [alert.fingerprint],
            "severity": alert.severity.value, "zone_ids": [alert.zone_id] if alert.zone_id else [],
            "title": alert.summary, "unacknowledged_for_s": round(firing_for), "at": now}
