"""CAP 1.2 and Atom over HTTP: /api/public/alerts/{id}.cap and /api/public/alerts.atom.

Cacheable like the rest of the public API (dashboard/api.py's `_cached_answer`: ETag of the
body, Last-Modified = the latest message, `Cache-Control: public, max-age=5`, 304 to a matching
If-None-Match, CORS open). An unknown or malformed alert id is a 404 JSON, Redis unreachable a
503. What the documents are made from is read in one place, `read_public_alert_documents`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from flask import Blueprint, request

from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.lifecycle import Alert
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.dashboard.api import _cached_answer, _error
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.open_data.atom import ATOM_MEDIA_TYPE, atom_feed
from opscentre.open_data.cap import (
    CAP_MEDIA_TYPE,
    Change,
    PublicAlert,
    cap_document,
    messages_of,
    publisher,
)
from opscentre.open_data.public_alerts import was_public

ALERT_ID = re.compile(r"a-[0-9a-f]{10}")  # lifecycle.alert_id
TRANSITIONS = {"firing", "escalated", "de-escalated", "resolved", "resolved-by-hand"}


@dataclass(frozen=True)
class PublicAlertDocuments:
    """Everything the CAP and Atom documents are made of."""

    items: list[PublicAlert]  # public alerts, firing or resolved and still stored
    simulated: bool  # any simulated data in the city: the documents are an Exercise
    as_of: float  # the latest stored poll (the Atom index's `updated` when it is empty)


class KnownChanges:
    """Each public alert's transitions as last read, by the alert record they were read for,
    kept between requests: every transition rewrites the alert record (its `updated_at`), so
    while the record is unchanged its history is too, and the audit stream is not read again."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_alert: dict[str, tuple[tuple, tuple[Change, ...]]] = {}


def _record(alert: Alert) -> tuple:
    return alert.updated_at, alert.state, alert.severity, alert.resolved_at


def read_public_alert_documents(store: Store, settings: Settings, settings_simulated: bool,
                                known: KnownChanges | None = None) -> PublicAlertDocuments:
    """The public alerts with their transitions (from the audit stream, since the oldest of them
    began, for the alerts whose record changed since `known` last saw them) and whether the data
    is simulated — the way status.json says it."""
    alerts = AlertStore(store.redis)
    shown = sorted((a for a in alerts.alerts().values() if was_public(a.state.value, a.labels, a.fired_at)),
                   key=lambda a: a.id)
    known = known or KnownChanges()
    with known.lock:
        seen = dict(known.by_alert)
    stale = {a.id: a for a in shown if seen.get(a.id, ((),))[0] != _record(a)}
    if stale:
        changes: dict[str, list[Change]] = {alert_id: [] for alert_id in stale}
        for entry in alerts.audit(since=min(a.started_at for a in stale.values())):
            if entry.get("subject") in changes and entry.get("action") in TRANSITIONS:
                before, after = entry.get("before") or {}, entry.get("after") or {}
                changes[entry["subject"]].append(Change(entry["action"], float(entry["at"]), before.get("severity"),
                                                        after.get("severity"), after.get("value")))
        seen.update({alert_id: (_record(a), tuple(changes[alert_id])) for alert_id, a in stale.items()})
        with known.lock:
            known.by_alert = {a.id: seen[a.id] for a in shown}
    health = store.all_feed_health()
    successes = [float(h["last_success_ts"]) for h in health.values() if h.get("last_success_ts") is not None]
    return PublicAlertDocuments(
        items=[PublicAlert(a, seen[a.id][1]) for a in shown],
        simulated=settings_simulated or any(bool(h.get("simulated")) for h in health.values()),
        as_of=max(successes, default=0.0))


def open_data_blueprint(settings: Settings, store: Store, settings_simulated: bool) -> Blueprint:
    blueprint = Blueprint("open_data_api", __name__, url_prefix="/api/public")
    known = KnownChanges()
    rendered_atom: dict[str, tuple[tuple, bytes]] = {}  # "last" -> (what it was made of, the Atom bytes)

    def documents() -> PublicAlertDocuments:
        return read_public_alert_documents(store, settings, settings_simulated, known)

    @blueprint.get("/alerts/<alert_id>.cap")
    def alert_cap(alert_id: str):
        if not ALERT_ID.fullmatch(alert_id):
            return _error(404, f"no public alert {alert_id[:40]!r}: alert ids look like a-0123456789",
                          index="/api/public/alerts.atom")
        try:
            data = documents()
        except REDIS_DOWN:
            return _error(503, "Redis unreachable — reconnecting")
        item = next((i for i in data.items if i.alert.id == alert_id), None)
        if item is None:
            return _error(404, f"no public alert {alert_id!r} (it may have ended an hour ago or more)",
                          index="/api/public/alerts.atom")
        body = cap_document(item, publisher(settings, data.simulated, request.host_url))
        return _cached_answer(body, CAP_MEDIA_TYPE, messages_of(item)[-1].sent)

    @blueprint.get("/alerts.atom")
    def alerts_atom():
        try:
            data = documents()
        except REDIS_DOWN:
            return _error(503, "Redis unreachable — reconnecting")
        key = (request.host_url, data.simulated, data.as_of,
               tuple((i.alert.id, _record(i.alert), i.changes) for i in data.items))
        cached = rendered_atom.get("last")
        if cached is None or cached[0] != key:  # the index is rendered again only when it changes
            body = atom_feed(data.items, publisher(settings, data.simulated, request.host_url), data.as_of)
            rendered_atom["last"] = cached = (key, body)
        body = cached[1]
        newest = max((messages_of(i)[-1].sent for i in data.items), default=data.as_of or None)
        return _cached_answer(body, ATOM_MEDIA_TYPE, newest)

    return blueprint
