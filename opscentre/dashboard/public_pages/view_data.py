"""Everything the public page shows, gathered by ONE function from the store.

`public_view_data` is the page's only read (the map aside, which LiveMap reads): status.json's
snapshot in the read model (core/read_model.py), the same document every public reader gets. What it returns is plain,
JSON-able and public: the stage level, the public alerts (no operator names, notes, values or
recipients) with the hazard each speaks of, and the time of the last stored poll.
"""

from __future__ import annotations

from typing import Any

from opscentre.core.notify.messages import topic_of
from opscentre.core.settings import Settings
from opscentre.dashboard.public_layers import PublicLayers
from opscentre.dashboard.redis_clients import REDIS_DOWN

PAGE_ALERT_FIELDS = ("id", "rule", "severity", "zone_id", "zone_name", "since")


def public_view_data(documents: PublicLayers, settings: Settings, simulated: bool, now: float) -> dict[str, Any]:
    """{reachable, stage_level, alerts: [{id, rule, severity, zone_id, zone_name, since, topic}],
    updated_at, simulated, stale, as_of}, from status.json's snapshot in the read model (served as
    last built while Redis is down: `stale`, built `as_of`); {reachable: False} with none to show."""
    try:
        snapshot, status, _city = documents.status_document()
    except REDIS_DOWN:
        return {"reachable": False, "simulated": simulated}
    rules = {rule.id: rule for rule in settings.rules}
    alerts = []
    for alert in status["active_alerts"]:  # already the public projection: firing, labelled public
        item = {name: alert.get(name) for name in PAGE_ALERT_FIELDS}
        item["topic"] = topic_of(rules.get(str(alert.get("rule"))), str(alert.get("rule") or ""))
        alerts.append(item)
    return {"reachable": True, "stage_level": int(status.get("stage") or 1), "alerts": alerts,
            "updated_at": snapshot.meta.get("updated_at"), "simulated": bool(status.get("simulated")),
            "stale": snapshot.stale, "as_of": snapshot.built_at}
