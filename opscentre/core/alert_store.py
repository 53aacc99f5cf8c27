"""The only Redis I/O for alerts: alert records, acknowledgements, silences, the stage and the
audit stream. Layout: docs/data-model.md.

Operator actions (ack, silence, stage override) live in their own keys, never inside the alert
record the engine rewrites, so an acknowledgement can never be lost to a concurrent evaluation.
"""

from __future__ import annotations

import secrets
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import orjson
from redis import Redis

from opscentre.core import keys, locks
from opscentre.core.connection import name_dataset
from opscentre.core.alerting.engine import Evaluation
from opscentre.core.alerting import reminders
from opscentre.core.alerting.incidents import Incident
from opscentre.core.alerting.lifecycle import Alert, AlertState
from opscentre.core.alerting.rules import AlertSeverity
from opscentre.core.alerting.silences import silenced_by
from opscentre.core.alerting.stage import StageDecision
from opscentre.core.notify import outbox
from opscentre.core.write_once import OncePipeline

AUDIT_RETENTION_S = 90 * 86400
STAGE_PENDING_KEPT_S = 3600  # a stage change past its 10 minutes is kept an hour, to say "expired"
ACTOR_ENGINE = "engine"


class UnknownAlert(LookupError):
    pass


SEVERITY_RANK = {s.value: s.rank for s in AlertSeverity}


class _Decoded:
    """Records decoded by this process, by their stored JSON: an evaluation reads every alert
    and incident, and most have not changed since the last one (or were written by this process,
    which remembers what it wrote). Neither is changed in place (the engine and incidents.group
    make copies), so sharing the decoded objects is safe."""

    def __init__(self, model):
        self.model = model
        self.by_raw: dict[bytes, Any] = {}

    def decode_one(self, raw: bytes) -> Any:
        hit = self.by_raw.get(raw)
        return hit if hit is not None else self.model.model_validate_json(raw)

    def decode(self, raw: dict[bytes, bytes]) -> dict[str, Any]:
        known, fresh = self.by_raw, {}
        for v in raw.values():
            hit = known.get(v)
            fresh[v] = hit if hit is not None else self.model.model_validate_json(v)
        self.by_raw = fresh  # only what is stored now
        return {k.decode(): fresh[v] for k, v in raw.items()}

    def encode(self, records: dict[str, Any]) -> dict[str, bytes]:
        out = {}
        for key, record in records.items():
            out[key] = raw = record.model_dump_json().encode()
            self.by_raw[raw] = record
        return out


_ALERTS, _INCIDENTS = _Decoded(Alert), _Decoded(Incident)

CHANGES_KEPT = 1000  # ALERTS_CHANGES entries kept: a reader further behind reads the whole hash
CHANGES_READ = 64  # entries a reader takes in its first round trip (more: the whole hash)


class _AlertsCache:
    """The alerts hash as this process last read it, with its version: an evaluation after a poll
    reads every alert, and a city's thousands of open alerts cost more to fetch and decode than
    the evaluation of one gauge's reading. Every write of the hash bumps ALERTS_VERSION and
    lists the fingerprints it wrote in ALERTS_CHANGES (in the same transaction), so a reader
    that is behind fetches only those; the epoch tells a reused process that Redis was emptied
    or replaced. What it holds is one (epoch, version, alerts) tuple, replaced whole (threads
    and greenlets read it), and the dicts it returns are never changed in place."""

    def __init__(self):
        self.held: tuple[bytes | None, int, dict[str, Alert]] = (None, -1, {})

    def read(self, redis: Redis) -> dict[str, Alert]:
        held = self.held
        pipe = redis.pipeline(transaction=True)
        pipe.get(keys.EPOCH).get(keys.ALERTS_VERSION).xrevrange(keys.ALERTS_CHANGES, count=CHANGES_READ)
        epoch, version, changes = pipe.execute()
        version = int(version or 0)
        if epoch is None:
            name_dataset(redis)
        elif epoch == held[0] and version == held[1]:
            return held[2]
        elif epoch == held[0] and 0 < version - held[1] <= len(changes):
            if (fresh := self._catch_up(redis, held, version, changes[:version - held[1]])) is not None:
                return fresh
        pipe = redis.pipeline(transaction=True)
        pipe.get(keys.EPOCH).get(keys.ALERTS_VERSION).hgetall(keys.ALERTS)
        epoch, version, raw = pipe.execute()
        alerts = _ALERTS.decode(raw)
        if epoch is not None:
            self.held = (epoch, int(version or 0), alerts)
        return alerts

    def _catch_up(self, redis: Redis, held, version: int, changes: list) -> dict[str, Alert] | None:
        """`held` moved on to `version` by the fingerprints `changes` list; None if the hash was
        written again meanwhile."""
        fingerprints = sorted({f for _id, fields in changes for f in fields[b"f"].decode().split("\n") if f})
        pipe = redis.pipeline(transaction=True)
        pipe.get(keys.ALERTS_VERSION).hmget(keys.ALERTS, fingerprints or ["-"])
        now_version, raws = pipe.execute()
        if int(now_version or 0) != version:
            return None
        alerts = dict(held[2])
        for fingerprint, raw in zip(fingerprints, raws):
            if raw is None:
                alerts.pop(fingerprint, None)
            else:
                alerts[fingerprint] = _ALERTS.decode_one(raw)
        self.held = (held[0], version, alerts)
        return alerts

    def wrote(self, before: dict[str, Alert], epoch_version: tuple[bytes | None, int],
              alerts: dict[str, Alert]) -> None:
        """This process changed the hash from `before` (what it read) to `alerts`, and the write
        made the version given: keep that as what is stored, if `before` is what this cache
        holds and no other write came between (the version moved by exactly one)."""
        held_epoch, held_version, held_alerts = self.held
        epoch, version = epoch_version
        if before is held_alerts and epoch is not None and epoch == held_epoch and version == held_version + 1:
            self.held = (epoch, version, alerts)


_ALERTS_CACHE = _AlertsCache()


def record_alert_writes(pipe, fingerprints) -> None:
    """On a transaction that writes the alerts hash: bump its version, list what it wrote, and
    move the store's version (maps and the public documents follow alerts, not only data)."""
    pipe.incr(keys.VERSION)
    pipe.incr(keys.ALERTS_VERSION)
    pipe.xadd(keys.ALERTS_CHANGES, {"f": "\n".join(fingerprints)}, maxlen=CHANGES_KEPT, approximate=True)


def alert_view(alert: Alert, ack: dict[str, Any] | None) -> dict[str, Any]:
    """The contract shape of an alert: {id, rule, severity, state, zone_id, entity_id, value,
    since, acknowledged_by} plus detail (times ISO 8601 UTC)."""
    return {
        "id": alert.id, "rule": alert.rule, "severity": alert.severity.value, "state": alert.state.value,
        "zone_id": alert.zone_id, "entity_id": alert.entity_id, "value": alert.value,
        "since": iso_utc(alert.since), "started_at": iso_utc(alert.started_at),
        "acknowledged_by": ack["by"] if ack else None,
        "acknowledged_at": iso_utc(ack["at"]) if ack else None, "ack_note": ack.get("note") if ack else None,
        "summary": alert.summary, "where": alert.where, "key": alert.key, "fingerprint": alert.fingerprint,
        "labels": alert.labels, "lead_time_s": alert.lead_time_s, "observed_at": iso_utc(alert.observed_at),
    }


def iso_utc(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


class AlertStore:
    def __init__(self, redis: Redis):
        self.redis = redis

    # ---- alerts ---------------------------------------------------------------------------

    def alerts(self) -> dict[str, Alert]:
        """fingerprint -> alert (open ones and recently resolved)."""
        return _ALERTS_CACHE.read(self.redis)

    def find(self, alert_id: str) -> Alert:
        for alert in self.alerts().values():
            if alert.id == alert_id:
                return alert
        raise UnknownAlert(f"no alert {alert_id!r} (see `opscentre alerts`)")

    def active(self, now: float | None = None) -> list[dict[str, Any]]:
        """Open alerts (pending, firing) as `opscentre alerts --json` prints them, most severe
        first, with the silences (wall clock `now`) that mute them."""
        acks = self.acks()
        silences = self.silences()
        now = time.time() if now is None else now
        out = [{**alert_view(a, acks.get(a.id)), "silenced_by": silenced_by(silences, a, now) if silences else []}
               for a in self.alerts().values() if a.active]
        out.sort(key=lambda a: (-SEVERITY_RANK[a["severity"]], a["state"] != "firing", a["id"]))
        return out

    def acks(self) -> dict[str, dict[str, Any]]:
        """alert id -> {by, at, note}"""
        return {k.decode(): orjson.loads(v) for k, v in self.redis.hgetall(keys.ALERT_ACKS).items()}

    def apply(self, evaluation: Evaluation, before: dict[str, Alert], stage: StageDecision | None,
              now: float, wall_now: float | None = None, incidents: dict[str, Incident] | None = None,
              reminded: dict[str, dict[str, Any]] | None = None,
              notifications: list[dict[str, Any]] | None = None,
              reminded_before: dict[str, dict[str, Any]] | None = None) -> None:
        """Store one evaluation in one transaction: changed alerts, their transitions in the audit
        stream, incidents, reminder state, the notifications (outbox) and the stage.
        `now` is the evaluation's (data) time; audit and outbox entries carry the wall clock.
        reminded: the whole reminder state now; with reminded_before (as read), only what moved
        is written."""
        wall_now = wall_now if wall_now is not None else now
        pipe = OncePipeline(self.redis).claim()
        if incidents:
            pipe.hset(keys.INCIDENTS, mapping=_INCIDENTS.encode(incidents))
        if reminded is not None:
            if reminded_before is None:
                pipe.delete(keys.ALERT_REMINDERS)
            elif gone := [a for a in reminded_before if a not in reminded]:
                pipe.hdel(keys.ALERT_REMINDERS, *gone)
            before = reminded_before or {}
            moved = {a: orjson.dumps(r) for a, r in reminded.items() if before.get(a) is not r and before.get(a) != r}
            if moved:
                pipe.hset(keys.ALERT_REMINDERS, mapping=moved)
        for notification in notifications or ():
            if notification.get("silenced_by"):
                self._audit(pipe, wall_now, ACTOR_ENGINE, "notification-silenced",
                            notification.get("incident_id") or notification.get("alert_id", "?"), None, notification)
            else:
                outbox.enqueue(pipe, notification, wall_now)
        changed = {f: evaluation.alerts[f] for f in evaluation.changed if f in evaluation.alerts}
        if changed:
            pipe.hset(keys.ALERTS, mapping={f: a.model_dump_json().encode() for f, a in changed.items()})
        if evaluation.removed:
            pipe.hdel(keys.ALERTS, *evaluation.removed)
            gone = [before[f].id for f in evaluation.removed if f in before]
            if gone:
                pipe.hdel(keys.ALERT_ACKS, *gone)
        for t in evaluation.transitions:
            self._audit(pipe, wall_now, ACTOR_ENGINE, t.change.value, t.alert_id, {
                "rule": t.rule, "fingerprint": t.fingerprint, "state": t.state_before, "severity": t.severity_before},
                {"state": t.state_after, "severity": t.severity_after, "value": t.value, "zone_id": t.zone_id,
                 "entity_id": t.entity_id})
        if stage is not None:
            self._stage(pipe, stage, now, wall_now)
        if not (changed or evaluation.removed):
            pipe.execute()
            return
        record_alert_writes(pipe, [*changed, *evaluation.removed])
        pipe.get(keys.EPOCH)
        *_, version, _entry, epoch = pipe.execute()
        _ALERTS_CACHE.wrote(before, (epoch, int(version)), evaluation.alerts)

    def put(self, alerts: list[Alert]) -> None:
        """Store alert records as they are (an import, a test's set-up): every write of the alerts
        hash goes through this module, which keeps its version."""
        pipe = OncePipeline(self.redis).claim()
        pipe.hset(keys.ALERTS, mapping={a.fingerprint: a.model_dump_json() for a in alerts})
        record_alert_writes(pipe, [a.fingerprint for a in alerts])
        pipe.execute()

    # ---- incidents and reminders -----------------------------------------------------------

    def incidents(self) -> dict[str, Incident]:
        return _INCIDENTS.decode(self.redis.hgetall(keys.INCIDENTS))

    def reminded(self) -> dict[str, dict[str, Any]]:
        return {k.decode(): orjson.loads(v) for k, v in self.redis.hgetall(keys.ALERT_REMINDERS).items()}

    def prune_incidents(self, now: float, keep_resolved_s: float = 86400) -> None:
        old = [i for i, incident in self.incidents().items()
               if incident.state == "resolved" and incident.resolved_at and now - incident.resolved_at > keep_resolved_s]
        if old:
            self.redis.hdel(keys.INCIDENTS, *old)

    # ---- operator actions ---------------------------------------------------------------

    def acknowledge(self, alert_id: str, by: str, note: str, now: float) -> Alert:
        alert = self.find(alert_id)
        before = self.acks().get(alert_id)
        record = {"by": by, "at": now, "note": note}
        pipe = OncePipeline(self.redis).claim()
        pipe.hset(keys.ALERT_ACKS, alert_id, orjson.dumps(record))
        self._audit(pipe, now, by, "acknowledged", alert_id, before, record)
        pipe.execute()
        return alert

    def unacknowledge(self, alert_id: str, by: str, now: float) -> Alert:
        alert = self.find(alert_id)
        before = self.acks().get(alert_id)
        pipe = OncePipeline(self.redis).claim()
        pipe.hdel(keys.ALERT_ACKS, alert_id)
        self._audit(pipe, now, by, "unacknowledged", alert_id, before, None)
        pipe.execute()
        return alert

    @contextmanager
    def _between_evaluations(self, wait_s: float):
        """Hold the evaluation lock: a running evaluation cannot write its (older) view of the
        alerts and their reminders back over what is done here."""
        deadline = time.monotonic() + wait_s
        while (token := locks.acquire(self.redis, keys.EVALUATE_LOCK, 30)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("an evaluation is holding the alerts; try again in a moment")
            time.sleep(0.05)
        try:
            yield
        finally:
            locks.release(self.redis, keys.EVALUATE_LOCK, token)

    def resolve_by_hand(self, alert_id: str, by: str, note: str, now: float, wait_s: float = 10.0) -> Alert:
        """Resolve an open alert now. Done under the evaluation lock, so a running evaluation
        cannot write the alert back over it."""
        with self._between_evaluations(wait_s):
            alert = self.find(alert_id)
            if not alert.active:
                raise UnknownAlert(f"alert {alert_id!r} is already {alert.state.value}")
            resolved = alert.model_copy(update={"state": AlertState.RESOLVED, "since": now, "resolved_at": now,
                                                "updated_at": now})
            pipe = OncePipeline(self.redis).claim()
            pipe.hset(keys.ALERTS, alert.fingerprint, resolved.model_dump_json())
            record_alert_writes(pipe, [alert.fingerprint])
            self._audit(pipe, now, by, "resolved-by-hand", alert_id, {"state": alert.state, "severity": alert.severity},
                        {"state": resolved.state, "note": note[:1000]})
            pipe.execute()
            return resolved

    def escalate_by_hand(self, alert_id: str, by: str, note: str, now: float, wait_s: float = 10.0) -> Alert:
        """Send an open alert to the secondary recipients now, as its escalation would after
        `escalate_after_s` unacknowledged (once: the reminders then count it escalated). Under the
        evaluation lock: an evaluation rewrites the reminders' state."""
        with self._between_evaluations(wait_s):
            return self._escalate(alert_id, by, note, now)

    def _escalate(self, alert_id: str, by: str, note: str, now: float) -> Alert:
        alert = self.find(alert_id)
        if not alert.active:
            raise UnknownAlert(f"alert {alert_id!r} is already {alert.state.value}")
        record = dict(self.reminded().get(alert.id) or {"first_at": now, "last_at": now, "count": 0})
        record["escalated"] = True
        message = {**reminders.notice(alert, "escalation", "secondary", now - alert.started_at, now),
                   "by": by, "note": note[:1000]}
        pipe = OncePipeline(self.redis).claim()
        pipe.hset(keys.ALERT_REMINDERS, alert.id, orjson.dumps(record))
        outbox.enqueue(pipe, message, now)
        self._audit(pipe, now, by, "escalated-by-hand", alert_id, {"severity": alert.severity},
                    {"recipients": "secondary", "note": note[:1000]})
        pipe.execute()
        return alert

    def add_silence(self, silence: dict[str, Any], by: str, now: float) -> str:
        silence_id = "s-" + secrets.token_hex(4)
        record = {**silence, "id": silence_id, "created_by": by, "created_at": now}
        pipe = OncePipeline(self.redis).claim()
        pipe.hset(keys.SILENCES, silence_id, orjson.dumps(record))
        self._audit(pipe, now, by, "silence-created", silence_id, None, record)
        pipe.execute()
        return silence_id

    def silences(self) -> list[dict[str, Any]]:
        return sorted((orjson.loads(v) for v in self.redis.hvals(keys.SILENCES)), key=lambda s: s["created_at"])

    def expire_silence(self, silence_id: str, by: str, now: float) -> None:
        raw = self.redis.hget(keys.SILENCES, silence_id)
        if raw is None:
            raise UnknownAlert(f"no silence {silence_id!r}")
        pipe = OncePipeline(self.redis).claim()
        pipe.hdel(keys.SILENCES, silence_id)
        self._audit(pipe, now, by, "silence-expired", silence_id, orjson.loads(raw), None)
        pipe.execute()

    # ---- stage ------------------------------------------------------------------------------

    def stage(self) -> dict[str, Any] | None:
        raw = self.redis.get(keys.STAGE_RECORD)
        return orjson.loads(raw) if raw else None

    def stage_override(self) -> dict[str, Any] | None:
        raw = self.redis.get(keys.STAGE_OVERRIDE)
        return orjson.loads(raw) if raw else None

    def set_stage_override(self, override: dict[str, Any] | None, by: str, now: float) -> None:
        before = self.stage_override()
        pipe = OncePipeline(self.redis).claim()
        if override is None:
            pipe.delete(keys.STAGE_OVERRIDE)
        else:
            pipe.set(keys.STAGE_OVERRIDE, orjson.dumps(override))
        self._audit(pipe, now, by, "stage-override" if override else "stage-override-cleared", "stage",
                    before, override)
        pipe.execute()

    def stage_pending(self) -> dict[str, Any] | None:
        """The stage change waiting for a second supervisor (core/stage_control.py), expired or not."""
        raw = self.redis.get(keys.STAGE_PENDING)
        return orjson.loads(raw) if raw else None

    def change_stage(self, decide: Callable[[dict[str, Any] | None, dict[str, Any] | None], Any], by: str,
                     now: float) -> Any:
        """Apply a stage_control decision atomically: `decide(override, pending)` -> Outcome, from
        what is stored when the transaction starts (retried if either moves meanwhile); the override,
        the waiting request and the audit entries are written together, or nothing is."""
        from redis.exceptions import WatchError

        while True:
            with OncePipeline(self.redis) as pipe:
                try:
                    pipe.watch(keys.STAGE_OVERRIDE, keys.STAGE_PENDING)
                    override, pending = pipe.get(keys.STAGE_OVERRIDE), pipe.get(keys.STAGE_PENDING)
                    outcome = decide(orjson.loads(override) if override else None,
                                     orjson.loads(pending) if pending else None)
                    pipe.multi()
                    pipe.claim()
                    if outcome.override is not None:
                        verb, record = outcome.override
                        if verb == "set":
                            pipe.set(keys.STAGE_OVERRIDE, orjson.dumps(record))
                        else:
                            pipe.delete(keys.STAGE_OVERRIDE)
                    if outcome.pending is not None:
                        verb, record = outcome.pending
                        if verb == "set":
                            keep_s = float(record["confirm_by"]) - now + STAGE_PENDING_KEPT_S
                            pipe.set(keys.STAGE_PENDING, orjson.dumps(record), px=max(1, int(keep_s * 1000)))
                        else:
                            pipe.delete(keys.STAGE_PENDING)
                    for action, before, after in outcome.audit:
                        self._audit(pipe, now, by, action, "stage", before, after)
                    pipe.execute()
                    return outcome
                except WatchError:
                    continue

    def stage_history(self, count: int = 100) -> list[dict[str, Any]]:
        return [orjson.loads(f[b"d"]) for _id, f in self.redis.xrevrange(keys.STAGE_HISTORY, count=count)]

    def _stage(self, pipe, decision: StageDecision, now: float, wall_now: float) -> None:
        current = self.stage()
        unchanged = current and current.get("level") == decision.level and current.get("manual") == decision.manual
        record = {"level": decision.level, "name": decision.name,
                  "since": current["since"] if unchanged else now, "reasons": decision.reasons,
                  "alert_ids": decision.alert_ids, "manual": decision.manual, "set_by": decision.set_by,
                  "supported_at": decision.supported_at,
                  "previous": current.get("previous") if unchanged else (current.get("level") if current else 1)}
        pipe.set(keys.STAGE_RECORD, orjson.dumps(record))
        if unchanged:
            return  # the reasons may move (which alerts hold the stage); the stage itself did not
        pipe.incr(keys.VERSION)  # (the public documents show the stage: a new one is a new version)
        pipe.xadd(keys.STAGE_HISTORY, {"d": orjson.dumps(record)}, minid=int((wall_now - AUDIT_RETENTION_S) * 1000))
        self._audit(pipe, wall_now, decision.set_by or ACTOR_ENGINE, "stage-changed", "stage",
                    {"level": current.get("level") if current else 1}, record)
        previous = current.get("level") if current else 1
        if decision.level != previous:  # (an override at the same level is history, not news)
            outbox.enqueue(pipe, {"kind": "stage", "level": decision.level, "previous": previous,
                                  "name": decision.name, "manual": decision.manual, "set_by": decision.set_by,
                                  "reasons": decision.reasons[:5], "at": now,
                                  "title": f"stage {decision.level} ({decision.name}), was {previous}"}, wall_now)

    # ---- audit ------------------------------------------------------------------------------

    def record(self, actor: str, action: str, subject: str, details: dict[str, Any], now: float) -> None:
        """An audit entry for something that is not an alert's (sign-ins, sign-outs, passwords):
        `details` goes in `after`. Never pass a secret."""
        pipe = OncePipeline(self.redis).claim()
        self._audit(pipe, now, actor, action, subject, None, details)
        pipe.execute()

    def _audit(self, pipe, now: float, actor: str, action: str, subject: str, before: Any, after: Any) -> None:
        entry = {"at": now, "actor": actor, "action": action, "subject": subject, "before": before, "after": after}
        pipe.xadd(keys.AUDIT, {"d": orjson.dumps(entry)}, minid=int((now - AUDIT_RETENTION_S) * 1000))

    def audit(self, since: float | None = None) -> Iterator[dict[str, Any]]:
        """Every audit entry (oldest first), read in pages."""
        start = f"{int(since * 1000)}-0" if since else "-"
        while True:
            page = self.redis.xrange(keys.AUDIT, min=start, count=1000)
            for entry_id, fields in page:
                yield orjson.loads(fields[b"d"])
            if len(page) < 1000:
                return
            start = "(" + page[-1][0].decode()
