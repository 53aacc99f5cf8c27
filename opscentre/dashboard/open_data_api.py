"""CAP 1.2 and Atom over HTTP: /api/public/alerts/{id}.cap and /api/public/alerts.atom.

Cacheable like the rest of the public API (dashboard/api.py's `_cached_answer`: ETag of the
body, Last-Modified = the latest message, `Cache-Control: public, max-age=5`, 304 to a matching
If-None-Match, gzip, CORS open), and made once per store version in the read model. An unknown
or malformed alert id is a 404 JSON; Redis unreachable, the documents last made are served (a
503 if there are none). What the documents are made from is read in one place,
`read_public_alert_documents`.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass

from flask import Blueprint, request

from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.lifecycle import Alert
from opscentre.core.read_model import Document, ReadModel, Snapshot
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


MAX_HOSTS = 8  # documents kept per public host name they link to (OPSCENTRE_ALLOWED_HOSTS bounds them)


def alert_documents(settings: Settings, store: Store, settings_simulated: bool, known: KnownChanges,
                    host_url: str) -> dict[str, Document]:
    """The Atom index and every public alert's CAP, linking to `host_url`: one read-model group."""
    data = read_public_alert_documents(store, settings, settings_simulated, known)
    sender = publisher(settings, data.simulated, host_url)
    newest = max((messages_of(i)[-1].sent for i in data.items), default=data.as_of or None)
    documents = {"atom": Document(atom_feed(data.items, sender, data.as_of), ATOM_MEDIA_TYPE, {"sent": newest})}
    for item in data.items:
        documents[f"cap:{item.alert.id}"] = Document(cap_document(item, sender), CAP_MEDIA_TYPE,
                                                     {"sent": messages_of(item)[-1].sent})
    return documents


class AlertDocuments:
    """The Atom index and every public alert's CAP in the read model, by the host they link to
    (at most MAX_HOSTS kept: OPSCENTRE_ALLOWED_HOSTS bounds them)."""

    def __init__(self, settings: Settings, store: Store, settings_simulated: bool, recheck_s: float = 0.0):
        self.settings, self.store, self.settings_simulated = settings, store, settings_simulated
        self.known = KnownChanges()
        self.model = ReadModel(store.redis, {}, recheck_s=recheck_s)

    def get(self, host_url: str, name: str) -> Snapshot:
        """KeyError: no such document (an alert that is not public, or gone)."""
        group = "alerts-" + hashlib.blake2b(host_url.encode(), digest_size=6).hexdigest()
        if group not in self.model.builders:
            if len(self.model.builders) >= MAX_HOSTS:
                self.model.builders.clear()
            self.model.builders[group] = lambda: alert_documents(self.settings, self.store, self.settings_simulated,
                                                                 self.known, host_url)
        return self.model.get(group, name)


def open_data_blueprint(settings: Settings, store: Store, settings_simulated: bool,
                        documents: AlertDocuments | None = None) -> Blueprint:
    """Served from the read model (core/read_model.py): the documents are made once per store
    version and host name for every web process, and kept in memory (stale while Redis is down)."""
    blueprint = Blueprint("open_data_api", __name__, url_prefix="/api/public")
    documents = documents or AlertDocuments(settings, store, settings_simulated)

    def answer(name: str):
        try:
            found = documents.get(request.host_url, name)
        except REDIS_DOWN:
            return _error(503, "Redis unreachable — reconnecting")
        return _cached_answer(found.body, found.media_type, found.meta.get("sent"), etag=found.etag,
                              gzipped=found.gzipped)

    @blueprint.get("/alerts/<alert_id>.cap")
    def alert_cap(alert_id: str):
        if not ALERT_ID.fullmatch(alert_id):
            return _error(404, f"no public alert {alert_id[:40]!r}: alert ids look like a-0123456789",
                          index="/api/public/alerts.atom")
        try:
            return answer(f"cap:{alert_id}")
        except KeyError:
            return _error(404, f"no public alert {alert_id!r} (it may have ended an hour ago or more)",
                          index="/api/public/alerts.atom")

    @blueprint.get("/alerts.atom")
    def alerts_atom():
        return answer("atom")

    return blueprint
