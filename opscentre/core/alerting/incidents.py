"""Incidents: alerts grouped by place and time — what gets notified, not each alert (pure).

An alert that starts firing joins an open incident that has one of its zones, or a zone that
touches one (neighbouring bairros), and has moved within `window`; otherwise it opens a new
incident. Alerts with no zone (city-wide, a feed) group under the city. An incident's
severity is its worst firing alert's; it resolves when none of its alerts is firing any more.

Each incident transition — opened, escalated, resolved — is one notification, so a storm that
fires 40 alerts across five neighbouring bairros in an hour notifies a handful of times, not 40.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from opscentre.core.alerting.lifecycle import Alert, AlertState, Change, Transition
from opscentre.core.alerting.rules import AlertSeverity

CITY_WIDE = "city"
TIMELINE_MAX = 200


class Incident(BaseModel):
    id: str
    state: str = "open"  # open | resolved
    severity: AlertSeverity
    zone_ids: list[str]  # CITY_WIDE for alerts with no zone
    fingerprints: list[str]  # every alert that joined
    opened_at: float
    updated_at: float
    resolved_at: float | None = None
    timeline: list[dict[str, Any]] = Field(default_factory=list)  # {at, change, alert_id, rule, severity, where}
    title: str = ""


@dataclass
class IncidentUpdate:
    incidents: dict[str, Incident]  # every incident changed or opened, by id
    notifications: list[dict[str, Any]] = field(default_factory=list)  # one per incident transition


def incident_id(first_fingerprint: str, at: float) -> str:
    return "i-" + hashlib.blake2b(f"{first_fingerprint}@{at:.3f}".encode(), digest_size=5).hexdigest()


def _zones_of(alert: Alert) -> set[str]:
    return {alert.zone_id} if alert.zone_id else {CITY_WIDE}


def group(transitions: list[Transition], alerts: Mapping[str, Alert], open_incidents: Mapping[str, Incident],
          neighbours: Mapping[str, set[str]], window_s: float, now: float) -> IncidentUpdate:
    """Apply one evaluation's transitions to the open incidents."""
    incidents = {i.id: i for i in open_incidents.values() if i.state == "open"}
    owner = {f: i.id for i in incidents.values() for f in i.fingerprints}  # fingerprint -> its incident
    changed: set[str] = set()  # incidents copied (the ones given are never changed in place)
    before_severity = {i.id: i.severity for i in incidents.values()}
    notices: list[tuple[str, str]] = []  # (incident id, change), rendered once the incident is complete
    for t in transitions:
        alert = alerts.get(t.fingerprint)
        if t.change in (Change.FIRING, Change.ESCALATED, Change.DEESCALATED, Change.RESOLVED) and alert is not None:
            incident = incidents.get(owner.get(t.fingerprint, "")) or (
                _join(alert, incidents, neighbours, window_s, now) if t.change == Change.FIRING else None)
            if incident is None:
                if t.change != Change.FIRING:
                    continue
                incident = Incident(id=incident_id(t.fingerprint, now), severity=alert.severity, zone_ids=[],
                                    fingerprints=[], opened_at=now, updated_at=now, title=alert.summary)
                notices.append((incident.id, "opened"))
            elif incident.id not in changed:  # a copy with its own lists (a deep copy costs more)
                incident = incident.model_copy(update={"fingerprints": list(incident.fingerprints),
                                                       "zone_ids": list(incident.zone_ids),
                                                       "timeline": list(incident.timeline)})
            incidents[incident.id] = incident
            changed.add(incident.id)
            if owner.get(t.fingerprint) != incident.id:  # (a dict lookup: an incident may hold thousands)
                owner[t.fingerprint] = incident.id
                incident.fingerprints.append(t.fingerprint)
                if not _zones_of(alert) <= set(incident.zone_ids):
                    incident.zone_ids = sorted(set(incident.zone_ids) | _zones_of(alert))
            incident.updated_at = now
            incident.timeline = (incident.timeline + [{
                "at": now, "change": t.change.value, "alert_id": t.alert_id, "rule": t.rule,
                "severity": t.severity_after.value if t.severity_after else None, "where": alert.where}])[-TIMELINE_MAX:]
    for incident in incidents.values():
        if incident.id not in changed:
            continue
        firing = [alerts[f] for f in incident.fingerprints if f in alerts and alerts[f].state == AlertState.FIRING]
        if not firing:
            incident.state, incident.resolved_at = "resolved", now
            notices.append((incident.id, "resolved"))
            continue
        worst = max(firing, key=lambda a: a.severity.rank)
        previous = before_severity.get(incident.id)
        incident.severity = worst.severity
        if previous is not None and worst.severity.rank > previous.rank:
            notices.append((incident.id, "escalated"))
    notifications = [_notice(incidents[i], change, now) for i, change in notices]
    return IncidentUpdate({i: incidents[i] for i in changed}, notifications)


def _join(alert: Alert, incidents: Mapping[str, Incident], neighbours: Mapping[str, set[str]], window_s: float,
          now: float) -> Incident | None:
    zones = _zones_of(alert)
    near = set(zones)
    for zone in zones:
        near |= neighbours.get(zone, set())
    candidates = [i for i in incidents.values() if now - i.updated_at <= window_s and near & set(i.zone_ids)]
    return max(candidates, key=lambda i: i.updated_at, default=None)


def _notice(incident: Incident, change: str, now: float) -> dict[str, Any]:
    return {"kind": "incident", "change": change, "incident_id": incident.id, "severity": incident.severity.value,
            "zone_ids": list(incident.zone_ids), "title": incident.title, "alerts": len(incident.fingerprints),
            "fingerprints": list(incident.fingerprints), "at": now}
