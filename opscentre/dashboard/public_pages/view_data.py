"""Everything the public page shows, gathered by ONE function from the store.

`public_view_data` is the page's only read (the map aside, which LiveMap reads): when the shared
read-model snapshot arrives, only this function changes its source. What it returns is plain,
JSON-able and public: the stage level, the public alerts (no operator names, notes, values or
recipients) with the hazard each speaks of, and the time of the last stored poll.
"""

from __future__ import annotations

from typing import Any

from opscentre.core.notify.messages import topic_of
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard.city_reading import read_status
from opscentre.dashboard.redis_clients import REDIS_DOWN

PAGE_ALERT_FIELDS = ("id", "rule", "severity", "zone_id", "zone_name", "since")


def public_view_data(store: Store, settings: Settings, simulated: bool, now: float) -> dict[str, Any]:
    """{reachable, stage_level, alerts: [{id, rule, severity, zone_id, zone_name, since, topic}],
    updated_at, simulated}; {reachable: False} while Redis cannot be read."""
    try:
        status = read_status(store, simulated, settings.zones.name_by_id, now)
    except REDIS_DOWN:
        return {"reachable": False, "simulated": simulated}
    rules = {rule.id: rule for rule in settings.rules}
    alerts = []
    for alert in status.alerts:  # already the public projection: firing, labelled public
        item = {name: alert.get(name) for name in PAGE_ALERT_FIELDS}
        item["topic"] = topic_of(rules.get(str(alert.get("rule"))), str(alert.get("rule") or ""))
        alerts.append(item)
    return {"reachable": True, "stage_level": int(status.stage.get("level") or 1), "alerts": alerts,
            "updated_at": status.updated_at, "simulated": status.simulated}
