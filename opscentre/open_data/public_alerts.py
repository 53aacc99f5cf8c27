"""The part of an alert the public may see: no operator names, notes or recipients.

An alert is public when its rule says so (`labels.public`) and it is firing: pending alerts are
not yet public. A public alert that has since resolved, while it is still stored, is still
published as a CAP Cancel (`was_public`), so readers learn that it ended.
"""

from __future__ import annotations

from typing import Any

PUBLIC_ALERT_FIELDS = ("id", "rule", "severity", "state", "zone_id", "entity_id", "value", "since", "summary")
PUBLIC_STATES = {"firing"}  # pending alerts are not yet public; resolved ones are gone


def labelled_public(labels: dict[str, Any] | None) -> bool:
    return bool((labels or {}).get("public"))  # rules say what the public sees (labels.public)


def public_alerts(alerts: list[dict[str, Any]], zone_names: dict[str, str]) -> list[dict[str, Any]]:
    """The public projection of alert views (AlertStore.active()), firing and labelled public."""
    shown = []
    for alert in alerts:
        if str(alert.get("state", "firing")) not in PUBLIC_STATES:
            continue
        if not labelled_public(alert.get("labels")):
            continue
        item = {name: alert.get(name) for name in PUBLIC_ALERT_FIELDS}
        item["zone_name"] = zone_names.get(str(alert.get("zone_id"))) if alert.get("zone_id") else None
        shown.append(item)
    shown.sort(key=lambda a: (str(a.get("severity")), str(a.get("id"))))
    return shown


def was_public(state: str, labels: dict[str, Any] | None, fired_at: float | None) -> bool:
    """Public now (firing), or public until it resolved (it fired: a pending alert resolved by
    hand never was)."""
    if not labelled_public(labels):
        return False
    return state in PUBLIC_STATES or (state == "resolved" and fired_at is not None)
