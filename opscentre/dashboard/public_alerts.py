"""The part of an alert the public may see: no operator names, notes or recipients."""

from __future__ import annotations

from typing import Any

PUBLIC_ALERT_FIELDS = ("id", "rule", "severity", "state", "zone_id", "entity_id", "value", "since", "summary")
PUBLIC_STATES = {"firing"}  # pending alerts are not yet public; resolved ones are gone


def public_alerts(alerts: list[dict[str, Any]], zone_names: dict[str, str]) -> list[dict[str, Any]]:
    shown = []
    for alert in alerts:
        if str(alert.get("state", "firing")) not in PUBLIC_STATES:
            continue
        if not (alert.get("labels") or {}).get("public"):  # rules say what the public sees (labels.public)
            continue
        item = {name: alert.get(name) for name in PUBLIC_ALERT_FIELDS}
        item["zone_name"] = zone_names.get(str(alert.get("zone_id"))) if alert.get("zone_id") else None
        shown.append(item)
    shown.sort(key=lambda a: (str(a.get("severity")), str(a.get("id"))))
    return shown
