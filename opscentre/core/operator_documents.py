"""The operator's documents in the read model (core/read_model.py), built once per store version
for every console and CLI that reads them:

- `operator/status`: what the console's status bar and alerts panel show — stage, feed health,
  every open alert (pending and internal ones too, with acknowledgements and silences), open
  incidents;
- `state/state`: what `opscentre state --json` prints (core/state.py), but for the delivery
  counts, which move with the notifier's work, not with the city's data: read when printed.

Operator-only: these are groups of their own, never the public ones (`status`, `layers`:
dashboard/public_layers.py, built from the public projection of the alerts). Acknowledgements,
silences and hand-set stages are not data and move no store version, but each is an entry of
the audit stream, which both groups watch; a feed failing or going stale moves neither, so both
are rebuilt when older than MAX_AGE_S.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from opscentre.core import keys, state
from opscentre.core.alert_store import AlertStore
from opscentre.core.feed_health import public_view
from opscentre.core.read_model import Document, ReadModel
from opscentre.core.store import Store

MAX_AGE_S = 5.0
GROUPS = ("operator", "state")


def open_incidents(store: Store, zone_names: dict[str, str]) -> list[dict[str, Any]]:
    """Open incidents, worst and newest first: {id, severity, title, alerts, zones, zone_ids, opened_at}."""
    rows = []
    for incident in AlertStore(store.redis).incidents().values():
        if incident.state != "open":
            continue
        rows.append({"id": incident.id, "severity": incident.severity.value, "title": incident.title,
                     "alerts": len(incident.fingerprints), "zones": [zone_names.get(z, z) for z in incident.zone_ids],
                     "opened_at": incident.opened_at, "rank": incident.severity.rank, "zone_ids": incident.zone_ids})
    rows.sort(key=lambda r: (-r["rank"], -r["opened_at"]))
    return rows


def operator_status(store: Store, zone_names: dict[str, str], settings_simulated: bool, now: float) -> dict[str, Any]:
    """{stage, feeds, alerts, incidents, updated_at (last stored poll, unix s), simulated}."""
    health = store.all_feed_health()
    feeds = {feed_id: public_view(h, now) for feed_id, h in health.items()}
    successes = [float(h["last_success_ts"]) for h in health.values() if h.get("last_success_ts") is not None]
    return {"stage": state.stage(store), "feeds": feeds, "alerts": AlertStore(store.redis).active(),
            "incidents": open_incidents(store, zone_names), "updated_at": max(successes) if successes else None,
            "simulated": settings_simulated or any(f["simulated"] for f in feeds.values())}


def operator_read_model(store: Store, zone_names: dict[str, str] | None = None, settings_simulated: bool = False,
                        clock: Callable[[], float] = time.time) -> ReadModel:
    """The two operator groups. The CLI, which may run with another config than the centre's,
    reads only `state`, which needs none."""

    def status() -> dict[str, Document]:
        doc = operator_status(store, zone_names or {}, settings_simulated, clock())
        return {"status": Document(orjson.dumps(doc), "application/json", {"simulated": doc["simulated"]})}

    def city_state() -> dict[str, Document]:
        doc = state.city_state(store, clock())
        return {"state": Document(orjson.dumps(doc), "application/json", {"simulated": doc["simulated"]})}

    return ReadModel(store.redis, {"operator": status, "state": city_state}, clock=clock,
                     max_age_s={group: MAX_AGE_S for group in GROUPS}, watch={group: (keys.AUDIT,) for group in GROUPS})


def current_state(model: ReadModel, store: Store) -> dict[str, Any]:
    """What `opscentre state --json` prints: the `state` snapshot and the delivery counts now."""
    return {**orjson.loads(model.get("state", "state").body), "notifications": state.notifications(store)}
