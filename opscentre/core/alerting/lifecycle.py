"""The alert lifecycle: one str Enum and the one transition function, `step`.

pending -> firing -> resolved, with severity escalation and de-escalation as transitions too.
An alert is identified by its fingerprint (rule + entity, zone or city), so evaluating the
same state again, or after a restart, never opens a second alert for the same thing; each
episode (from pending or firing to resolved) gets its own id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from opscentre.core.alerting.rules import AlertSeverity, Rule


class AlertState(StrEnum):
    PENDING = "pending"  # the condition holds, for less than the rule's `for`
    FIRING = "firing"
    RESOLVED = "resolved"  # kept a while, so the resolution can be shown and notified


ACTIVE_STATES = frozenset((AlertState.PENDING, AlertState.FIRING))


class Change(StrEnum):
    """What a transition did (the audit stream and notifications say this)."""

    PENDING = "pending"
    FIRING = "firing"
    ESCALATED = "escalated"
    DEESCALATED = "de-escalated"
    RESOLVED = "resolved"
    PENDING_CLEARED = "pending-cleared"  # the condition stopped before `for` elapsed: never fired


class Alert(BaseModel):
    # frozen: a decoded alert is shared between evaluations (AlertStore.alerts); changes are copies
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    fingerprint: str
    rule: str
    key: str  # entity id, 'zone:<id>', 'city' or 'feed:<id>'
    state: AlertState
    severity: AlertSeverity
    value: float | None = None
    summary: str = ""
    where: str = ""  # a human name for the key
    zone_id: str | None = None
    entity_id: str | None = None
    labels: dict[str, Any] = Field(default_factory=dict)
    lead_time_s: float | None = None  # forecast rules: how far ahead the condition is forecast
    observed_at: float | None = None  # newest reading behind the value
    started_at: float  # the episode began (pending or firing)
    since: float  # the current state began
    fired_at: float | None = None
    resolved_at: float | None = None
    clear_since: float | None = None  # the first evaluation at which it no longer held (keep_firing_for)
    updated_at: float

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass(frozen=True, slots=True)  # (plain dataclasses: made by the thousand per evaluation, never parsed)
class Transition:
    alert_id: str
    fingerprint: str
    rule: str
    change: Change
    at: float
    state_before: AlertState | None
    state_after: AlertState | None
    severity_before: AlertSeverity | None
    severity_after: AlertSeverity | None
    value: float | None
    zone_id: str | None = None
    entity_id: str | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What the engine measured for one fingerprint now."""

    key: str  # entity id, 'zone:<id>', 'city' or 'feed:<id>'
    value: float | None
    observed_at: float | None = None
    zone_id: str | None = None
    entity_id: str | None = None
    where: str = ""
    lead_time_s: float | None = None


# severity now, given the alert's current severity (None: no open alert) -> None when the
# condition does not hold. Hysteresis lives in this function (see engine.severity_for).
SeverityOf = Callable[[AlertSeverity | None], AlertSeverity | None]


def fingerprint_of(rule_id: str, key: str) -> str:
    return f"{rule_id}|{key}"


def alert_id(fingerprint: str, started_at: float) -> str:
    return "a-" + hashlib.blake2b(f"{fingerprint}@{started_at:.3f}".encode(), digest_size=5).hexdigest()


def step(alert: Alert | None, rule: Rule, measured: Observation | None, severity_of: SeverityOf,
         now: float) -> tuple[Alert | None, list[Transition]]:
    """The one transition function. `measured` None: no data for this key now — the alert is
    left as it is (a silent sensor neither raises nor clears; staleness rules speak for it)."""
    open_alert = alert if alert is not None and alert.active else None
    if measured is None:
        return alert, []
    severity = severity_of(open_alert.severity if open_alert else None)
    if open_alert is None:
        if severity is None:
            return alert, []
        return _open(rule, measured, severity, now)
    if open_alert.state == AlertState.PENDING:
        if severity is None:
            return None, [_transition(open_alert, None, Change.PENDING_CLEARED, now)]
        updated = _refreshed(open_alert, measured, severity is not None, now, severity)
        if now - open_alert.started_at >= rule.for_:
            fired = updated.model_copy(update={"state": AlertState.FIRING, "since": now, "fired_at": now})
            return fired, [_transition(open_alert, fired, Change.FIRING, now)]
        return updated, []
    # firing
    if severity is None:
        clear_since = open_alert.clear_since if open_alert.clear_since is not None else now
        if now - clear_since >= rule.keep_firing_for:
            resolved = _refreshed(open_alert, measured, False, now).model_copy(update={
                "state": AlertState.RESOLVED, "since": now, "resolved_at": now, "updated_at": now,
                "clear_since": clear_since})
            return resolved, [_transition(open_alert, resolved, Change.RESOLVED, now)]
        counting = _refreshed(open_alert, measured, False, now)
        if open_alert.clear_since is None:  # the keep_firing_for countdown starts
            counting = counting.model_copy(update={"clear_since": now, "updated_at": now})
        return counting, []
    if severity != open_alert.severity:
        changed = _refreshed(open_alert, measured, True, now, severity, force=True)
        change = Change.ESCALATED if severity.rank > open_alert.severity.rank else Change.DEESCALATED
        return changed, [_transition(open_alert, changed, change, now)]
    return _refreshed(open_alert, measured, True, now), []


def _refreshed(alert: Alert, measured: Observation, holds: bool, now: float, severity: AlertSeverity | None = None,
               force: bool = False) -> Alert:
    """The alert with the new measurement — or the same object when nothing worth storing moved,
    so a steady firing alert is not rewritten on every evaluation. keep_firing_for counts from
    `clear_since`, the first evaluation at which the condition no longer held: an alert is never
    resolved early, at worst one evaluation late."""
    update: dict[str, Any] = {}
    if (measured.value, measured.observed_at, measured.lead_time_s) != (alert.value, alert.observed_at,
                                                                       alert.lead_time_s):
        update.update(value=measured.value, observed_at=measured.observed_at, lead_time_s=measured.lead_time_s)
    if holds and alert.clear_since is not None:  # holding again: the countdown is off
        update["clear_since"] = None
    if severity is not None and severity != alert.severity:
        update["severity"] = severity
    if not update and not force:
        return alert
    return alert.model_copy(update={**update, "updated_at": now})


def _open(rule: Rule, measured: Observation, severity: AlertSeverity, now: float) -> tuple[Alert, list[Transition]]:
    fingerprint = fingerprint_of(rule.id, measured.key)
    firing = rule.for_ <= 0
    alert = Alert(
        id=alert_id(fingerprint, now), fingerprint=fingerprint, rule=rule.id, key=measured.key,
        state=AlertState.FIRING if firing else AlertState.PENDING, severity=severity, value=measured.value,
        where=measured.where, zone_id=measured.zone_id, entity_id=measured.entity_id, labels=dict(rule.labels),
        lead_time_s=measured.lead_time_s, observed_at=measured.observed_at, started_at=now, since=now,
        fired_at=now if firing else None, updated_at=now)
    return alert, [_transition(None, alert, Change.FIRING if firing else Change.PENDING, now)]


def _transition(before: Alert | None, after: Alert | None, change: Change, now: float) -> Transition:
    ref = after or before
    return Transition(
        alert_id=ref.id, fingerprint=ref.fingerprint, rule=ref.rule, change=change, at=now,
        state_before=before.state if before else None, state_after=after.state if after else None,
        severity_before=before.severity if before else None, severity_after=after.severity if after else None,
        value=ref.value, zone_id=ref.zone_id, entity_id=ref.entity_id)
