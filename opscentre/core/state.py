"""One read-only snapshot of the city: what `opscentre state --json` shows."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.stage import STAGE_NAMES
from opscentre.core.feed_health import public_view
from opscentre.core.models import KINDS
from opscentre.core.store import Store


def iso_utc(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def stage(store: Store) -> dict[str, Any]:
    """The city stage {level, name, since, reasons, manual}. Until the alert engine has decided
    one, the city is at stage 1."""
    return stage_view(AlertStore(store.redis).stage())


def stage_view(stored: dict[str, Any] | None) -> dict[str, Any]:
    """A stored stage record as the contract shows it (stage 1 when there is none)."""
    if not stored:
        return {"level": 1, "name": STAGE_NAMES[1], "since": None, "reasons": [], "manual": False}
    level = int(stored.get("level", 1))
    return {"level": level, "name": stored.get("name") or STAGE_NAMES.get(level), "since": iso_utc(stored.get("since")),
            "reasons": stored.get("reasons") or [], "manual": bool(stored.get("manual"))}


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


EVENT_FIELDS = ("event_id", "source", "category", "event_type", "title", "severity", "zone_ids")


def events(store: Store, now: float) -> list[dict[str, Any]]:
    """Current events (warnings, jams, outages, vehicles...) with ISO times."""
    rows = []
    for event in store.events(now=now):
        row = {name: event.get(name) for name in EVENT_FIELDS}
        for name in ("observed_at", "starts_at", "ends_at"):
            row[name] = iso_utc(event.get(name))
        rows.append(row)
    return rows


def forecasts(store: Store) -> list[dict[str, Any]]:
    """Stored forecast series: {entity_id, kind, source, issued_at, times, values} (ISO times)."""
    rows = []
    for kind in store.forecast_kinds():
        for entity_id, series in sorted(store.forecasts(kind).items()):
            rows.append({"entity_id": entity_id, "kind": kind, "source": series["s"], "issued_at": iso_utc(series["i"]),
                         "times": [iso_utc(t) for t in series["t"]], "values": series["v"]})
    return rows


def incidents(store: Store) -> list[dict[str, Any]]:
    """Open incidents and those resolved in the last day, newest first, with their timelines."""
    rows = []
    for incident in AlertStore(store.redis).incidents().values():
        row = incident.model_dump(mode="json")
        for name in ("opened_at", "updated_at", "resolved_at"):
            row[name] = iso_utc(row[name])
        row["timeline"] = [{**step, "at": iso_utc(step["at"])} for step in row["timeline"]]
        rows.append(row)
    rows.sort(key=lambda r: r["updated_at"] or "", reverse=True)
    return rows


def feeds(store: Store, now: float) -> dict[str, dict[str, Any]]:
    return {feed_id: public_view(h, now) for feed_id, h in store.all_feed_health().items()}


def snapshot(store: Store, now: float) -> dict[str, Any]:
    """`simulated` is read from the data (the feeds that stored it), not from a config file:
    the CLI may be run with a different config than the one the centre runs. (`opscentre state`
    prints the read model's copy of `city_state`: core/operator_documents.py.)"""
    return {**city_state(store, now), "notifications": notifications(store)}


def city_state(store: Store, now: float) -> dict[str, Any]:
    """The snapshot but for the delivery counts (which move with the notifier, not the city)."""
    feed_views = feeds(store, now)
    return {
        "simulated": any(f["simulated"] for f in feed_views.values()),
        "generated_at": iso_utc(now),
        "observations": observations(store),
        "events": events(store, now),
        "forecasts": forecasts(store),
        "alerts": AlertStore(store.redis).active(),
        "incidents": incidents(store),
        "stage": stage(store),
        "feeds": feed_views,
    }


def notifications(store: Store) -> dict[str, Any]:
    """How many messages are in each delivery state, and how many recipients and partner systems
    there are: counts only, never a phone number."""
    from opscentre.core.notify.delivery_store import DeliveryStore

    counts = DeliveryStore(store.redis).counts()
    return {"deliveries": {state: n for state, n in counts.items() if n},
            "recipients": store.redis.hlen(keys.RECIPIENTS), "webhooks": store.redis.hlen(keys.WEBHOOKS)}
