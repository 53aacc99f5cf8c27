"""Incidents: alerts grouped by place and time — what gets notified, not each alert (pure).

An alert that starts firing joins an open incident that has one of its zones, or a zone that
touches one (neighbouring bairros), and has moved within `window`; otherwise it opens a new
incident. Alerts with no zone (city-wide, a feed) group under the city. An incident's
severity is its worst firing alert's; it resolves when none of its alerts is firing any more.

Each incident transition — opened, escalated, resolved — is one notification, so a storm that
fires 40 alerts across five neighbouring bairros in an hour notifies a handful of times, not 40.
A notification names the zones whose alerts made it (`trigger_zone_ids`): routing texts those
places, not the incident's whole union (the April 2010 storm's grew to 67 bairros). An incident
remembers the highest severity each zone was told (`notified`), so an alert that takes the
incident into a new bairro, or worsens one below the incident's own severity, is one `spread`
notification for that bairro alone — the people there hear of it once, nobody hears it twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, model_validator

from opscentre.core.alerting.lifecycle import Alert, AlertState, Change, Transition
from opscentre.core.alerting.rules import AlertSeverity

CITY_WIDE = "city"
TIMELINE_MAX = 200
TRIGGER_ALERTS_MAX = 20  # alerts described in one notification (all of them are in `rules`, `trigger_zone_ids`)


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
    notified: dict[str, AlertSeverity] = Field(default_factory=dict)  # zone -> highest severity told

    @model_validator(mode="before")
    @classmethod
    def _told_before_tracking(cls, data: Any) -> Any:
        """An incident stored before `notified` existed had told its zones its severity."""
        if isinstance(data, dict) and "notified" not in data and data.get("severity"):
            data = {**data, "notified": {z: data["severity"] for z in data.get("zone_ids") or ()}}
        return data


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
    opened: set[str] = set()
    moved: dict[str, dict[str, None]] = {}  # incident id -> fingerprints that fired or escalated in it now
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
                opened.add(incident.id)
            elif incident.id not in changed:  # a copy with its own lists (a deep copy costs more)
                incident = incident.model_copy(update={"fingerprints": list(incident.fingerprints),
                                                       "zone_ids": list(incident.zone_ids),
                                                       "timeline": list(incident.timeline),
                                                       "notified": dict(incident.notified)})
            incidents[incident.id] = incident
            changed.add(incident.id)
            if owner.get(t.fingerprint) != incident.id:  # (a dict lookup: an incident may hold thousands)
                owner[t.fingerprint] = incident.id
                incident.fingerprints.append(t.fingerprint)
                if not _zones_of(alert) <= set(incident.zone_ids):
                    incident.zone_ids = sorted(set(incident.zone_ids) | _zones_of(alert))
            incident.updated_at = now
            if t.change in (Change.FIRING, Change.ESCALATED):
                moved.setdefault(incident.id, {})[t.fingerprint] = None
            incident.timeline = (incident.timeline + [{
                "at": now, "change": t.change.value, "alert_id": t.alert_id, "rule": t.rule,
                "severity": t.severity_after.value if t.severity_after else None, "where": alert.where}])[-TIMELINE_MAX:]
    notifications = []
    for incident in incidents.values():
        if incident.id not in changed:
            continue
        firing = [alerts[f] for f in incident.fingerprints if f in alerts and alerts[f].state == AlertState.FIRING]
        if not firing:
            incident.state, incident.resolved_at = "resolved", now
            notifications.append(_resolved_notice(incident, alerts, now))
            continue
        worst = max(firing, key=lambda a: a.severity.rank)
        previous = before_severity.get(incident.id)
        incident.severity = worst.severity
        rising = _rising(incident, [alerts[f] for f in moved.get(incident.id, ())])
        if not rising:  # (an escalation back to a level every zone was already told is not news)
            continue
        if incident.id in opened:
            change = "opened"
        else:
            change = "escalated" if previous is not None and worst.severity.rank > previous.rank else "spread"
        notifications.append(_notice(incident, change, rising, now))
    return IncidentUpdate({i: incidents[i] for i in changed}, notifications)


def _rising(incident: Incident, moved: list[Alert]) -> list[Alert]:
    """The alerts that fired or escalated now past what their zone was told — the news of this
    evaluation — and the zones' new levels recorded as told."""
    told = dict(incident.notified)
    rising = [a for a in moved if a.state == AlertState.FIRING
              and a.severity.rank > max((told[z].rank for z in _zones_of(a) if z in told), default=0)]
    for alert in rising:
        for zone in _zones_of(alert):
            if zone not in incident.notified or alert.severity.rank > incident.notified[zone].rank:
                incident.notified[zone] = alert.severity
    return rising


def _join(alert: Alert, incidents: Mapping[str, Incident], neighbours: Mapping[str, set[str]], window_s: float,
          now: float) -> Incident | None:
    zones = _zones_of(alert)
    near = set(zones)
    for zone in zones:
        near |= neighbours.get(zone, set())
    candidates = [i for i in incidents.values() if now - i.updated_at <= window_s and near & set(i.zone_ids)]
    return max(candidates, key=lambda i: (i.updated_at, i.id), default=None)  # (ids: the same choice every run)


def _by_importance(alert: Alert) -> tuple:
    """Worst first; what is happening now before what is forecast; then by place."""
    return (-alert.severity.rank, alert.lead_time_s is not None, alert.lead_time_s or 0.0, alert.zone_id or "",
            alert.rule)


def _notice(incident: Incident, change: str, triggers: list[Alert], now: float) -> dict[str, Any]:
    """An incident transition, with what made it: the zones to route by and what a message says."""
    triggers = sorted(triggers, key=_by_importance)
    zone_severity: dict[str, str] = {}
    for alert in triggers:
        for zone in _zones_of(alert):
            zone_severity.setdefault(zone, alert.severity.value)  # (the worst first)
    primary = triggers[0]
    return {**_base(incident, change, now),
            "trigger_zone_ids": list(zone_severity), "zone_severity": zone_severity,
            "trigger_severity": primary.severity.value, "rules": list(dict.fromkeys(a.rule for a in triggers)),
            "lead_time_s": primary.lead_time_s, "public": any(a.labels.get("public") is True for a in triggers),
            "domains": sorted({str(a.labels["domain"]) for a in triggers if "domain" in a.labels}),
            "trigger_alerts": [_described(a) for a in triggers[:TRIGGER_ALERTS_MAX]]}


def _resolved_notice(incident: Incident, alerts: Mapping[str, Alert], now: float) -> dict[str, Any]:
    """The end of an incident goes to every zone that was told of it, at the level it was told."""
    told = sorted(incident.notified.items(), key=lambda zs: (-zs[1].rank, zs[0]))
    members = [alerts[f] for f in incident.fingerprints if f in alerts]
    rules = list(dict.fromkeys(f.split("|", 1)[0] for f in incident.fingerprints))  # (fingerprint: rule|key)
    return {**_base(incident, "resolved", now),
            "trigger_zone_ids": [z for z, _ in told], "zone_severity": {z: s.value for z, s in told},
            "trigger_severity": told[0][1].value if told else incident.severity.value, "rules": rules,
            "lead_time_s": None, "public": any(a.labels.get("public") is True for a in members),
            "domains": sorted({str(a.labels["domain"]) for a in members if "domain" in a.labels}),
            "trigger_alerts": []}


def _base(incident: Incident, change: str, now: float) -> dict[str, Any]:
    return {"kind": "incident", "change": change, "incident_id": incident.id, "severity": incident.severity.value,
            "zone_ids": list(incident.zone_ids), "title": incident.title, "alerts": len(incident.fingerprints),
            "fingerprints": list(incident.fingerprints), "at": now}


def _described(alert: Alert) -> dict[str, Any]:
    return {"alert_id": alert.id, "public": alert.labels.get("public") is True, "rule": alert.rule,
            "severity": alert.severity.value, "zone_id": alert.zone_id,
            "where": alert.where, "value": alert.value, "lead_time_s": alert.lead_time_s,
            "summary": alert.summary, "started_at": alert.started_at}
