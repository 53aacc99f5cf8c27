"""One read-only snapshot of the city: what `opscentre state --json` and status.json show."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from opscentre.core.feed_health import public_view
from opscentre.core.models import KINDS
from opscentre.core.store import Store

STAGE_NAMES = {1: "normal", 2: "mobilisation", 3: "attention", 4: "alert", 5: "crisis"}


def iso_utc(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def stage(store: Store) -> dict[str, Any]:
    """The city stage. With no stage recorded by the alert engine the city is at stage 1."""
    stored = store.stage()
    if not stored:
        return {"level": 1, "name": STAGE_NAMES[1], "since": None}
    level = int(stored.get("level", 1))
    return {"level": level, "name": stored.get("name") or STAGE_NAMES.get(level), "since": stored.get("since")}


def observations(store: Store, entities: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    entities = entities if entities is not None else store.entities()
    rows = []
    for kind, latest in store.latest_many(store.kinds()).items():
        unit = KINDS[kind].unit if kind in KINDS else ""
        for entity_id, (value, observed_at, source) in latest.items():
            rows.append({
                "entity_id": entity_id,
                "kind": kind,
                "value": value,
                "unit": unit,
                "observed_at": iso_utc(observed_at),
                "zone_id": (entities.get(entity_id) or {}).get("zone_id"),
                "source": source,
            })
    rows.sort(key=lambda r: (r["kind"], r["entity_id"]))
    return rows


def feeds(store: Store, now: float) -> dict[str, dict[str, Any]]:
    return {feed_id: public_view(h, now) for feed_id, h in store.all_feed_health().items()}


def snapshot(store: Store, now: float) -> dict[str, Any]:
    """`simulated` is read from the data (the feeds that stored it), not from a config file:
    the CLI may be run with a different config than the one the centre runs."""
    feed_views = feeds(store, now)
    return {
        "simulated": any(f["simulated"] for f in feed_views.values()),
        "generated_at": iso_utc(now),
        "observations": observations(store),
        "alerts": store.active_alerts(),
        "stage": stage(store),
        "feeds": feed_views,
    }
