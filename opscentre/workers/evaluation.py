"""Alert evaluation, the thin I/O around the pure engine: read what the rules need, evaluate,
store alerts, transitions and the stage. Run after every stored poll (in the poll job and in
`opscentre ingest`) and by the cron timer (`evaluate` every `alerting.evaluate_every_s`).

Evaluations never overlap: one holds a lock; data that arrives meanwhile leaves what it
stored in a pending set and the holder evaluates that once more before letting go, so no
stored batch goes unevaluated. After a poll only the rules reading what it stored are
evaluated, and only for the keys its readings feed (the entities, their zones, the city), so
a poll of one gauge does not step every open alert of the city (`opscentre bench alerts`
measures what is left: the zone and city aggregates and the Redis reads still grow with it).
The timer evaluates every rule for every key (time alone moves `for`, staleness and forecasts).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from opscentre.core import keys, locks
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.engine import Evaluation, Touched, evaluate
from opscentre.core.alerting.incidents import IncidentUpdate, group
from opscentre.core.alerting.lifecycle import ACTIVE_STATES
from opscentre.core.alerting.readings import CITY, Readings, Registry
from opscentre.core.alerting.reminders import due
from opscentre.core.alerting.silences import silenced_by
from opscentre.core.alerting.stage import derive_stage
from opscentre.core.clock import sim_now
from opscentre.core.settings import Settings
from opscentre.core.state import feeds as feed_views
from opscentre.core.store import Store
from opscentre.workers.readings_cache import ReadingsCache

log = logging.getLogger("opscentre.alerts")

LOCK_S = locks.LEASE_S  # a lease (core/locks.py): a worker killed mid-evaluation holds it this long at most
PENDING_S = 120  # what was left pending for a running evaluation, kept at most this long
MAX_ROUNDS = 5
ALL_RULES = "*"
ENTITY_SEP = "\x1f"  # pending member 'kind<SEP>entity id': that entity's readings of that kind
HISTORY_MARGIN_S = 600
_CACHE = ReadingsCache()  # per worker process: latest values and history decoded once, read incrementally
_REGISTRY: list = [None, None, None, 0]  # per worker process: entities dict, zone ids, Registry, generation
_NAMES: list = [None, {}, None]  # per worker process: (registry, city and zone names), display names


@dataclass
class EvaluationSummary:
    transitions: int
    open_alerts: int
    stage: int | None
    skipped: bool = False

    def line(self) -> str:
        if self.skipped:
            return "alerts: another evaluation is running; it will include this data"
        stage = f", stage {self.stage}" if self.stage is not None else ""
        return f"alerts: {self.transitions} transitions, {self.open_alerts} open{stage}"


def data_now(store: Store, wall_now: float) -> float:
    """The time evaluations measure windows from: the simulator's clock when it runs."""
    clock = store.sim_clock()
    return sim_now(clock, wall_now) if clock else wall_now


def data_speed(store: Store) -> float:
    """How many data seconds pass per wall second (the simulator's --speed; 1 for real feeds)."""
    clock = store.sim_clock()
    return max(1.0, float(clock.get("speed") or 1)) if clock else 1.0


def evaluate_city(settings: Settings, store: Store, now: float | None = None, wall_now: float | None = None,
                  kinds: Iterable[str] | None = None,
                  entities: Mapping[str, Collection[str]] | None = None) -> EvaluationSummary:
    """Evaluate the rules once (again while new data keeps arriving). `now` defaults to the
    data clock (see data_now); `ingest --as-of` passes the replayed time. `kinds`: only the
    rules that read these kinds (after a poll: what it stored); None: every rule (the timer).
    `entities`: of those kinds, the entities whose readings were stored (kind -> ids); only
    their keys are stepped. A kind not in it: every key of the rules reading it. Kinds no
    enabled rule reads are left out: a poll of those alone evaluates nothing (it neither takes
    the evaluation lock, which every worker's evaluation shares, nor leaves them pending)."""
    if kinds is not None:
        kinds = read_kinds(settings) & set(kinds)
    requested = _request(kinds, entities)
    if not requested:
        return EvaluationSummary(0, 0, None)
    total, evaluation, stage, ran = 0, None, None, False
    for _attempt in range(2):  # a request left while we were releasing the lock is taken up once more
        with locks.Lease(store.redis, keys.EVALUATE_LOCK, LOCK_S) as lease:
            if lease.token is None:  # another evaluation is running: it takes up what we leave pending
                if requested:  # (empty on the second attempt: what was left is pending already)
                    pipe = store.redis.pipeline(transaction=True)
                    pipe.sadd(keys.EVALUATE_PENDING, *requested)
                    pipe.expire(keys.EVALUATE_PENDING, PENDING_S)
                    pipe.execute()
                break
            ran = True
            pending = requested | _take_pending(store)
            for _ in range(MAX_ROUNDS if pending else 0):  # (nothing left if another holder took it)
                wall = wall_now if wall_now is not None else time.time()
                at = now if now is not None else data_now(store, wall)
                evaluation, stage = _evaluate_once(settings, store, AlertStore(store.redis), at, wall,
                                                   _touched(pending))
                total += len(evaluation.transitions)
                pending = _take_pending(store)
                if not pending:
                    break
            if pending:  # still busy after MAX_ROUNDS: leave the rest to the next evaluation
                store.redis.sadd(keys.EVALUATE_PENDING, *pending)
        if not store.redis.exists(keys.EVALUATE_PENDING):
            break
        requested = set()
    if not ran:
        return EvaluationSummary(0, 0, None, skipped=True)
    open_alerts = sum(1 for a in evaluation.alerts.values() if a.state in ACTIVE_STATES) if evaluation else 0
    return EvaluationSummary(total, open_alerts, stage)


def _request(kinds: Iterable[str] | None, entities: Mapping[str, Collection[str]] | None) -> set[str]:
    """What to evaluate as pending-set members: '*' (everything), 'kind' (every key of the
    rules reading it) or 'kind<SEP>entity id' (that entity's keys)."""
    if kinds is None:
        return {ALL_RULES}
    entities = entities or {}
    out: set[str] = set()
    for kind in kinds:
        if kind in entities:
            out.update(f"{kind}{ENTITY_SEP}{e}" for e in entities[kind])
        else:
            out.add(kind)
    return out


def _touched(pending: set[str]) -> Touched | None:
    """Pending members as the engine's `touched` (None: evaluate everything)."""
    if ALL_RULES in pending:
        return None
    touched: dict[str, set[str] | None] = {}
    for member in pending:
        kind, sep, entity_id = member.partition(ENTITY_SEP)
        if not sep:
            touched[kind] = None
        elif touched.get(kind, set()) is not None:
            touched.setdefault(kind, set()).add(entity_id)
    return touched


def _take_pending(store: Store) -> set[str]:
    pipe = store.redis.pipeline(transaction=True)
    pipe.smembers(keys.EVALUATE_PENDING)
    pipe.delete(keys.EVALUATE_PENDING)
    members, _ = pipe.execute()
    return {m.decode() for m in members}


def read_kinds(settings: Settings) -> set[str]:
    """The kinds the enabled rules read (their metrics' and forecasts')."""
    return {k for r in settings.rules if r.enabled for k in (*r.kinds(), r.forecast_kind) if k}


def rules_reading(settings: Settings, kinds: set[str] | None) -> list:
    """The enabled rules that read any of these kinds (every enabled rule for None)."""
    rules = [r for r in settings.rules if r.enabled]
    if kinds is None:
        return rules
    return [r for r in rules if (set(r.kinds()) | ({r.forecast_kind} if r.forecast_kind else set())) & kinds]


def _evaluate_once(settings: Settings, store: Store, alert_store: AlertStore, now: float,
                   wall_now: float, touched: Touched | None = None) -> tuple[Evaluation, int]:
    """One evaluation: everything (touched None, the timer) or what a poll stored. Reminders
    and incident pruning go by the wall clock, so only the timer's evaluation does them."""
    everything = touched is None
    rules = rules_reading(settings, None if everything else set(touched))
    readings, names = read_readings(settings, store, now, wall_now, data_speed(store), rules)
    before = alert_store.alerts()
    evaluation = evaluate(rules, before, readings, now, names, touched=touched)
    decision = derive_stage(settings.stage, evaluation.alerts.values(), alert_store.stage_override(), now,
                            alert_store.stage())
    alerting = settings.alerting
    update = IncidentUpdate({}, [])
    if evaluation.transitions:
        update = group(evaluation.transitions, evaluation.alerts, alert_store.incidents(), settings.zones.neighbours,
                       alerting.incident_window, now)
    reminders, reminded, reminded_before = [], None, None
    if everything:
        reminded_before = alert_store.reminded()
        reminders, reminded = due(evaluation.alerts, alert_store.acks(), reminded_before,
                                  alerting.reminder_every, alerting.escalate_after, alerting.reminder_min_severity,
                                  wall_now)
    notifications = mark_silenced(update.notifications + reminders, evaluation.alerts, alert_store.silences(), now)
    alert_store.apply(evaluation, before, decision, now, wall_now, incidents=update.incidents, reminded=reminded,
                      notifications=notifications, reminded_before=reminded_before)
    if everything:
        alert_store.prune_incidents(now)
    for t in evaluation.transitions:
        log.info("alert %s %s: %s %s -> %s", t.alert_id, t.change.value, t.rule, t.severity_before, t.severity_after)
    return evaluation, decision.level


def mark_silenced(notifications: list[dict], alerts: dict, silences: list[dict], now: float) -> list[dict]:
    """A notification whose every alert is silenced is kept out of the outbox (and audited as such)."""
    if not silences:
        return notifications
    by_fingerprint = {a.fingerprint: a for a in alerts.values()}
    out = []
    for notification in notifications:
        matched = [silenced_by(silences, by_fingerprint[f], now) for f in notification.get("fingerprints", [])
                   if f in by_fingerprint]
        if matched and all(matched):
            notification = {**notification, "silenced_by": sorted({s for ids in matched for s in ids})}
        out.append(notification)
    return out


def read_readings(settings: Settings, store: Store, now: float, wall_now: float,
                  speed: float = 1.0, rules: list | None = None) -> tuple[Readings, dict[str, str]]:
    """What the enabled rules read, out of Redis, as a Readings. `speed`: data seconds per wall
    second, so a simulator running 60x fast reads the last 24 data-hours from 24 wall-minutes."""
    rules = rules_reading(settings, None) if rules is None else rules
    kinds = sorted({k for r in rules for k in r.kinds()})
    windows = history_windows(settings)
    entities = store.entities()
    registry, stamp = _registry(entities, settings.zones.ids)
    # History stream ids are write (wall) times: a window of data time was written within
    # window / speed wall seconds (plus a margin for late polls). A replay (`ingest --as-of`)
    # wrote its old data just now, so the same wall window covers it.
    keep = {kind: wall_now - windows[kind] / speed - HISTORY_MARGIN_S if kind in windows else None for kind in kinds}
    latest, history = _CACHE.read(store, keep, registry.index, stamp)
    forecasts = {r.forecast_kind: store.forecasts(r.forecast_kind) for r in rules if r.forecast_kind}
    feeds = feed_views(store, wall_now) if any(r.feeds for r in rules) else {}
    readings = Readings.build(entities, settings.zones.ids, {}, forecasts=forecasts, feeds=feeds,
                              history_arrays=history, registry=registry, latest_arrays=latest)
    return readings, _display_names(settings, registry)


def _display_names(settings: Settings, registry: Registry) -> dict[str, str]:
    """Entity, zone and city names for summaries; built once per registry and city (the registry
    of 50,000 entities is not copied every evaluation)."""
    key = (id(registry), settings.city.name, tuple(settings.zones.name_by_id.items()))
    if _NAMES[0] != key:
        names = dict(registry.names)
        names.update({f"zone:{z}": n for z, n in settings.zones.name_by_id.items()})
        names[CITY] = settings.city.name
        _NAMES[:] = [key, names, registry]  # (the registry is kept so its id is not reused)
    return _NAMES[1]


def history_windows(settings: Settings) -> dict[str, float]:
    """kind -> the longest window any enabled rule aggregates its history over. From every rule,
    not only those an evaluation runs, so the cache keeps one window per kind."""
    windows: dict[str, float] = {}
    for rule in rules_reading(settings, None):
        for kind, window, aggregation in rule.metrics():
            if aggregation != "latest" and window:
                windows[kind] = max(windows.get(kind, 0.0), window)
    return windows


def _registry(entities: dict, zone_ids: list[str]) -> tuple[Registry, int]:
    """The registry's arrays and their generation, rebuilt only when the store decoded a new
    registry (Store.entities returns the same dict while the registry is unchanged)."""
    cached_entities, cached_zones, registry, generation = _REGISTRY
    if cached_entities is not entities or cached_zones != zone_ids:
        registry, generation = Registry.of(entities, zone_ids), generation + 1
        _REGISTRY[:] = [entities, list(zone_ids), registry, generation]
    return registry, generation
