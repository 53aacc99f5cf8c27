"""payload -> parse (pure) -> validate (pure) -> zone join for new entities -> store.

The one path every payload takes: a live poll, `opscentre ingest FEED FILE`, and the ingest
benchmark all call `store_payload`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from opscentre.core.geo import anchor_point
from opscentre.core.models import Entity, Event, Rejection
from opscentre.core.state import iso_utc
from opscentre.core.store import Store
from opscentre.core.validate import reject_foreign, validate
from opscentre.workers.feeds.base import Feed, FeedContext


@dataclass
class PollSummary:
    feed_id: str
    stored: int
    rejected: int
    new_entities: int
    duration_s: float
    bytes: int
    reasons: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    kinds: set[str] = field(default_factory=set)  # the kinds of readings and forecasts stored
    # of those kinds, the entities whose readings were stored (forecast kinds: every entity)
    entities: dict[str, set[str]] = field(default_factory=dict)
    observations: int = 0  # of the items stored, the readings (not events or forecast steps)

    def line(self) -> str:
        text = f"{self.feed_id}: {self.stored} items stored, {self.rejected} rejected" + _counted(self.reasons)
        if self.skipped:
            text += f", {self.skipped} skipped" + _counted(self.skip_reasons)
        return text


def _counted(reasons: dict[str, int]) -> str:
    if not reasons:
        return ""
    return " (" + "; ".join(f"{n}× {r}" for r, n in sorted(reasons.items(), key=lambda x: -x[1])) + ")"


def store_payload(feed: Feed, payload: bytes, ctx: FeedContext, store: Store, *,
                  wall_now: float | None = None, started: float | None = None,
                  http_status: int | None = None, interval_s: float | None = None) -> PollSummary:
    """Parse, validate and store one payload. A ParseError propagates and nothing is stored."""
    started = started if started is not None else time.perf_counter()
    wall_now = wall_now if wall_now is not None else time.time()
    parsed = feed.parse(payload, ctx)
    retention_s = ctx.settings.retention_hours * 3600
    clean = validate(parsed, now=ctx.now.timestamp(), max_age_s=retention_s)
    new_entities, new_ids = [], set()
    if not store.all_checked(feed.feed_id, clean.entities):  # (the same entities as last time: all known)
        new_entities = _with_zones(store.unknown_entities(clean.entities), ctx)
        new_ids = {e.entity_id for e in new_entities}
        new_entities += store.changed_entities(e for e in clean.entities if e.entity_id not in new_ids)
        foreign = store.foreign_owners((e.entity_id for e in clean.entities), feed.feed_id)
        if not new_entities and not foreign:
            store.checked_all(feed.feed_id, clean.entities)
        clean = reject_foreign(clean, foreign)
    events = _events_with_zones(clean.events, ctx)
    stored = clean.item_count
    skipped = sum(1 for r in clean.rejected if r.skipped)
    rejected = len(clean.rejected) - skipped
    duration = time.perf_counter() - started
    health = {
        "status": "degraded" if rejected else "ok",
        "last_poll": iso_utc(wall_now),
        "last_success": iso_utc(wall_now),
        "last_success_ts": wall_now,
        "consecutive_failures": 0,
        "items": stored,
        "rejected": rejected,
        "skipped": skipped,
        "duration_ms": round(duration * 1000, 1),
        "bytes": len(payload),
        "http_status": http_status,
        "interval_s": interval_s,
        "simulated": feed.simulated,
        "last_rejection": _rejection_summary([r for r in clean.rejected if not r.skipped]),
        # Conditional-GET validators of the payload just stored (sent with the next poll).
        "etag": ctx.http.response_etag,
        "last_modified": ctx.http.response_last_modified,
    }
    metrics = {"polls": 1, "observations_stored": clean.observation_count, "observations_rejected": rejected,
               "items_skipped": skipped,
               "events_stored": len(events), "forecast_steps_stored": sum(len(f.values) for f in clean.forecasts),
               "poll_seconds_sum": duration, "bytes": len(payload)}
    store.write_poll(feed.feed_id, new_entities, clean.batches, health, metrics, retention_s, wall_now,
                     events=events, events_snapshot=feed.events_snapshot, forecasts=clean.forecasts,
                     now=ctx.now.timestamp())
    reasons: dict[str, int] = {}
    skip_reasons: dict[str, int] = {}
    for r in clean.rejected:
        counts = skip_reasons if r.skipped else reasons
        counts[r.reason] = counts.get(r.reason, 0) + 1
    kinds = {b.kind for b in clean.batches if len(b)} | {f.kind for f in clean.forecasts}
    entities: dict[str, set[str]] = {}
    for batch in clean.batches:
        entities.setdefault(batch.kind, set()).update(batch.entity_ids)
    for kind in {f.kind for f in clean.forecasts}:
        entities.pop(kind, None)  # a forecast feeds zones and the city ahead of time: evaluate it all
    return PollSummary(feed.feed_id, stored, rejected, len(new_ids), duration, len(payload), reasons,
                       skipped, skip_reasons, kinds=kinds, observations=clean.observation_count,
                       entities=entities)


def _with_zones(entities: list[Entity], ctx: FeedContext) -> list[Entity]:
    """Give each new entity its zone once, by spatial join (unless the parser preset it)."""
    needing = [e for e in entities if e.zone_id is None and e.geometry]
    if not needing:
        return entities
    zone_ids = ctx.settings.zones.assign([anchor_point(e.geometry) for e in needing])
    zoned = {e.entity_id: e.model_copy(update={"zone_id": z}) for e, z in zip(needing, zone_ids)}
    return [zoned.get(e.entity_id, e) for e in entities]


def _events_with_zones(events: list[Event], ctx: FeedContext) -> list[Event]:
    """Each event's zones: every zone its shape touches (unless the parser preset them)."""
    needing = [e for e in events if not e.zone_ids and e.geometry and not e.cancelled]
    if not needing:
        return events
    touched = ctx.settings.zones.zones_touched([e.geometry for e in needing])
    zoned = {id(e): e.model_copy(update={"zone_ids": z}) for e, z in zip(needing, touched)}
    return [zoned.get(id(e), e) for e in events]


def _rejection_summary(rejected: list[Rejection]) -> str | None:
    if not rejected:
        return None
    first = rejected[0]
    return f"{len(rejected)} rejected; e.g. {first.entity_id} {first.kind}: {first.reason}"
