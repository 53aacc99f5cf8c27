"""Evaluation as one pure function: (rules, alerts, readings, now) -> (alerts, transitions).

Each rule's metric is computed for all its scope keys at once (numpy); only the keys whose
condition holds, or that already have an open alert, go through the per-alert `step` — except
steady alerts: firing at the severity the value still holds, with the value and time they
already carry, which `step` would return unchanged (`_unchanged`, in arrays).

After a poll only the keys its readings feed need a step (`touched`): the entities it stored,
their zones and the city. The timer evaluation steps every key (time alone moves `for`,
`keep_firing_for`, sliding windows, staleness and forecasts).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from opscentre.core.alerting.lifecycle import (ACTIVE_STATES, Alert, AlertState, Observation, Transition,
                                               fingerprint_of, step)
from opscentre.core.alerting.metrics import Measured, MetricCache
from opscentre.core.alerting.readings import CITY, Readings
from opscentre.core.alerting.rules import SEVERITY_ORDER, AlertSeverity, CompoundLevel, Rule

OPS: dict[str, Callable] = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
# A resolved alert is kept this long (for the map, the public feed and its notification).
RESOLVED_KEEP_S = 3600.0


@dataclass
class Evaluation:
    alerts: dict[str, Alert]  # fingerprint -> alert (open ones and recently resolved)
    transitions: list[Transition] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # fingerprints no longer kept
    changed: set[str] = field(default_factory=set)  # fingerprints whose alert record changed


Touched = Mapping[str, Collection[str] | None]  # kind -> entity ids stored (None: every entity)


@dataclass(frozen=True)
class KeyScope:
    """The keys one evaluation steps for a rule: touched entities, their zones, the city."""

    entities: np.ndarray  # bool per entity index
    zones: np.ndarray  # bool per zone index
    city: bool
    _in_zones: list = field(default_factory=list, repr=False)

    def needed(self, rule_scope: str, readings: Readings) -> np.ndarray | None:
        """The entities a rule of this scope must measure to value its keys in scope (a zone's
        value needs all its entities); None: every entity (a city-wide rule)."""
        if rule_scope == "entity":
            return self.entities
        if rule_scope == "city":
            return None
        if not self._in_zones:
            self._in_zones.append((readings.zone_of >= 0) & self.zones[np.maximum(readings.zone_of, 0)])
        return self._in_zones[0]

    def mask(self, m: Measured) -> np.ndarray:
        """Which of the measured keys are in scope."""
        if not len(m.keys):
            return np.zeros(0, dtype=bool)
        if m.entity_index[0] >= 0:
            return self.entities[m.entity_index]
        if m.zone_index[0] >= 0:
            return self.zones[m.zone_index]
        return np.full(len(m.keys), self.city)

    def holds(self, scope: str, entity: int, zone: int) -> bool:
        """Is the key of this rule scope ('entity', 'zone', 'city') for this entity in scope?"""
        if scope == "entity":
            return bool(self.entities[entity])
        return self.city if scope == "city" else zone >= 0 and bool(self.zones[zone])


def key_scopes(rules: list[Rule], readings: Readings, touched: Touched | None) -> dict[str, KeyScope | None]:
    """rule id -> the keys to step (None: all); a rule left out reads nothing touched and is
    not stepped. A rule reading a kind touched as a whole, or reading no kind at all (feed
    staleness), is stepped everywhere."""
    if touched is None:
        return {rule.id: None for rule in rules}
    by_kind: dict[str, np.ndarray] = {}
    for kind, entity_ids in touched.items():
        if entity_ids is not None:
            mask = np.zeros(len(readings), dtype=bool)
            mask[[i for i in (readings.index.get(e) for e in entity_ids) if i is not None]] = True
            by_kind[kind] = mask
    scopes: dict[str, KeyScope | None] = {}
    shared: dict[tuple[str, ...], KeyScope] = {}  # rules reading the same kinds share one (and its metrics)
    for rule in rules:
        reads = {k for k in (*rule.kinds(), rule.forecast_kind) if k}
        kinds = tuple(sorted(reads & set(touched)))
        if reads and not kinds:
            continue
        if not kinds or any(touched[k] is None for k in kinds):
            scopes[rule.id] = None
            continue
        if kinds not in shared:
            entities = np.logical_or.reduce([by_kind[k] for k in kinds])
            zones = np.zeros(len(readings.zone_ids), dtype=bool)
            zoned = readings.zone_of[entities]
            zones[zoned[zoned >= 0]] = True
            shared[kinds] = KeyScope(entities, zones, bool(entities.any()))
        scopes[rule.id] = shared[kinds]
    return scopes


def evaluate(rules: list[Rule], alerts: Mapping[str, Alert], readings: Readings, now: float,
             names: Mapping[str, str] | None = None, touched: Touched | None = None) -> Evaluation:
    """names: display names of entities and zones ('zone:<id>' keys) for summaries.
    touched: what a poll stored (kind -> entity ids, None for all of a kind); only the keys
    those readings feed are stepped. None: every key of every rule."""
    cache = MetricCache(readings, now, rules)
    result = Evaluation(alerts=dict(alerts))
    names = names or {}
    open_by_rule: dict[str, dict[str, Alert]] = {}  # rule -> key -> its open alert
    old_resolved: list[str] = []  # resolved long ago: they leave at the timer's evaluation, not after a poll
    for fingerprint, alert in alerts.items():  # (every alert, every evaluation: kept to one plain pass)
        if alert.state in ACTIVE_STATES:
            open_by_rule.setdefault(alert.rule, {})[alert.key] = alert
        elif touched is None and alert.resolved_at is not None and now - alert.resolved_at > RESOLVED_KEEP_S:
            old_resolved.append(fingerprint)
    scopes = key_scopes(rules, readings, touched)
    for rule in rules:
        if not rule.enabled or rule.id not in scopes:
            continue
        open_keys = OpenAlerts(open_by_rule.get(rule.id, {}), readings)
        for key, measured, severity_of in _candidates(rule, cache, open_keys, now, names, scopes[rule.id]):
            fingerprint = fingerprint_of(rule.id, key)
            before = result.alerts.get(fingerprint)
            after, transitions = step(before, rule, measured, severity_of, now)
            if after is None:
                result.alerts.pop(fingerprint, None)
                result.removed.append(fingerprint)
            elif after is not before:
                result.alerts[fingerprint] = after.model_copy(update={"summary": summary(rule, after)})
                result.changed.add(fingerprint)
            result.transitions.extend(transitions)
    for fingerprint in old_resolved:
        if result.alerts.get(fingerprint) is alerts[fingerprint]:  # (not opened again by this evaluation)
            del result.alerts[fingerprint]
            result.removed.append(fingerprint)
    return result


class OpenAlerts(Mapping[str, Alert]):
    """One rule's open alerts by key, and what the engine reads of them in arrays, at most once
    per evaluation: which entity's alert each is (every metric of the rule asks; from the keys
    alone), and the state, severity, value and time of the alerts the steady check asks about
    (after a poll a few; at the timer all of them, in one pass: at city scale the pass over the
    alerts, not the arithmetic, is the cost)."""

    def __init__(self, by_key: dict[str, Alert], readings: Readings):
        self._by_key, self._readings = by_key, readings
        self._alerts = list(by_key.values())
        self._entity_rows: np.ndarray | None = None
        self._key_rows: dict[str, int] | None = None

    def __getitem__(self, key: str) -> Alert:
        return self._by_key[key]

    def __iter__(self):
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def entity_rows(self) -> np.ndarray:
        """Per entity: the row of its open alert (-1: none)."""
        if self._entity_rows is None:
            rows = np.full(len(self._readings), -1, dtype=np.int64)
            index = self._readings.index
            entity = np.array([index.get(key, -1) for key in self._by_key], dtype=np.int64)
            found = np.flatnonzero(entity >= 0)
            rows[entity[found]] = found
            self._entity_rows = rows
        return self._entity_rows

    def rows(self, keys: Iterable[str]) -> np.ndarray:
        """The rows of these keys' alerts."""
        if self._key_rows is None:
            self._key_rows = {key: row for row, key in enumerate(self._by_key)}
        return np.array([self._key_rows[k] for k in keys], dtype=np.int64)

    def columns(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """At these rows: (firing and not counting down, severity rank, value, observed_at)."""
        firing, alerts = AlertState.FIRING, self._alerts
        at = np.array([(a.state is firing and a.clear_since is None and a.lead_time_s is None, a.severity.rank,
                        a.value, a.observed_at) for a in (alerts[r] for r in rows)], dtype=float).reshape(-1, 4)
        return at[:, 0] > 0, at[:, 1].astype(np.int8), at[:, 2], at[:, 3]  # (None -> NaN)


def _candidates(rule: Rule, cache: MetricCache, open_keys: OpenAlerts, now: float,
                names: Mapping[str, str], scope: KeyScope | None):
    """(key, Observation, severity function) for every key in scope worth a step. open_keys:
    the rule's open alerts by key."""
    kind = rule.rule_type
    if kind == "threshold":
        yield from _threshold(rule, cache, open_keys, names, scope)
    elif kind == "compound":
        yield from _compound(rule, cache, open_keys, names, scope)
    elif kind == "forecast":
        yield from _forecast(rule, cache, open_keys, now, names, scope)
    elif kind == "staleness":
        yield from _staleness(rule, cache, open_keys, now, names, scope)
    elif kind == "feed_staleness":
        yield from _feed_staleness(rule, cache, open_keys)


def _observation(m: Measured, i: int, readings: Readings, names: Mapping[str, str], **extra) -> Observation:
    key = m.keys[i]
    entity = int(m.entity_index[i])
    zone = int(m.zone_index[i])
    value = float(m.values[i])
    return Observation(
        key=key, value=value if math.isfinite(value) else None,
        observed_at=float(m.times[i]) if math.isfinite(m.times[i]) else None,
        entity_id=readings.entity_ids[entity] if entity >= 0 else None,
        zone_id=readings.zone_ids[zone] if zone >= 0 else None,
        where=names.get(key, key), **extra)


def severity_for(value: float, op: str, raise_at: Mapping[AlertSeverity, float],
                 clear_at: Mapping[AlertSeverity, float], current: AlertSeverity | None) -> AlertSeverity | None:
    """The severity a value holds. Levels at or below the current severity are held until the
    value passes their clear level (hysteresis); levels above it need their raise level."""
    compare = OPS[op]
    held = None
    current_rank = current.rank if current is not None else 0
    for rank, severity in enumerate(SEVERITY_ORDER, 1):  # (once per open alert per evaluation: kept lean)
        level = raise_at.get(severity)
        if level is None or level != level:  # (NaN: no level for this entity)
            continue
        if rank <= current_rank:
            level = clear_at.get(severity, level)
        if compare(value, level):
            held = severity
    return held


def _threshold(rule: Rule, cache: MetricCache, open_keys: OpenAlerts, names: Mapping[str, str],
               scope: KeyScope | None):
    readings = cache.readings
    if rule.forecast_kind:
        return
    m = cache.measure(rule, only=scope.needed(rule.scope, readings) if scope is not None else None)
    levels = _level_arrays(rule, m, readings)
    compare = OPS[rule.op]
    holds = np.zeros(len(m.keys), dtype=bool)
    for level in levels.values():
        with np.errstate(invalid="ignore"):
            holds |= compare(m.values, level)
    has_open = _has_open(m, open_keys)
    selected = holds | has_open
    if scope is not None:
        selected &= scope.mask(m)
        has_open &= selected
    selected[has_open] &= ~_steady(rule, m, np.flatnonzero(has_open), levels, open_keys)
    for i in np.flatnonzero(selected):
        raise_at = {s: float(arr[i]) for s, arr in levels.items()}
        value = float(m.values[i])
        yield m.keys[i], _observation(m, i, readings, names), (
            lambda current, v=value, r=raise_at: severity_for(v, rule.op, r, rule.clear, current))


def _steady(rule: Rule, m: Measured, where: np.ndarray, levels: dict[AlertSeverity, np.ndarray],
            open_alerts: OpenAlerts) -> np.ndarray:
    """Of a threshold's keys at `where` (each with an open alert): which alerts are steady
    (`_unchanged`) at the severity their value holds (severity_for, hysteresis included)?"""
    rows = (open_alerts.entity_rows()[m.entity_index[where]] if len(where) and m.entity_index[0] >= 0
            else open_alerts.rows(m.keys[i] for i in where))
    eligible, rank, before_value, before_time = open_alerts.columns(rows)
    values = m.values[where]
    compare = OPS[rule.op]
    held = np.zeros(len(where), dtype=np.int8)
    with np.errstate(invalid="ignore"):
        for level_rank, severity in enumerate(SEVERITY_ORDER, 1):
            if severity not in levels:
                continue
            level = levels[severity][where]
            if severity in rule.clear:  # hysteresis: a level at or below the alert's severity clears lower
                level = np.where(np.isnan(level), np.nan, np.where(level_rank <= rank, rule.clear[severity], level))
            held[compare(values, level)] = level_rank
    return _unchanged(eligible, rank, before_value, before_time, held, values, m.times[where])


def _unchanged(eligible: np.ndarray, rank: np.ndarray, before_value: np.ndarray, before_time: np.ndarray,
               held: np.ndarray, values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Per open alert (eligible: firing, not counting down to clear; its severity's rank, value
    and time): is it steady — holding the severity of rank `held` with the value and time
    measured now? `step` would return such an alert unchanged with no transition, so it needs
    no step: at city scale most open alerts are steady at every timer evaluation, and stepping
    them one by one was most of its time."""
    return eligible & (held == rank) & _same(values, before_value) & _same(times, before_time)


def _same(now: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Measured now equals what the alert holds (a value that is not finite is held as None)."""
    finite = np.isfinite(now)
    with np.errstate(invalid="ignore"):
        return np.where(finite, now == before, np.isnan(before))


def _has_open(m: Measured, open_keys: OpenAlerts) -> np.ndarray:
    """Which of the measured keys already have an open alert."""
    if not open_keys:
        return np.zeros(len(m.keys), dtype=bool)
    if len(m.keys) and m.entity_index[0] >= 0:  # entity keys: look them up by entity index
        return open_keys.entity_rows()[m.entity_index] >= 0
    return np.fromiter((k in open_keys for k in m.keys), dtype=bool, count=len(m.keys))


def _level_arrays(rule: Rule, m: Measured, readings: Readings) -> dict[AlertSeverity, np.ndarray]:
    levels = {s: np.full(len(m.keys), float(v)) for s, v in rule.levels.items() if isinstance(v, (int, float))}
    for severity, prop in rule.levels_from.items():
        per_entity = readings.property_values(prop)
        levels[severity] = np.where(m.entity_index >= 0, per_entity[np.maximum(m.entity_index, 0)], np.nan)
    return levels


def _compound(rule: Rule, cache: MetricCache, open_keys: OpenAlerts, names: Mapping[str, str],
              scope: KeyScope | None):
    """Per scope key, in arrays on the rule's slots (entity, zone or the city): the highest level
    whose conditions hold, shown with the value of the first condition that holds there."""
    readings = cache.readings
    size = {"entity": len(readings), "zone": len(readings.zone_ids)}.get(rule.scope, 1)
    held = np.zeros(size, dtype=np.int8)  # per slot: the rank of the highest level held (0: none)
    measured: list[Measured] = []
    shown = np.full(size, -1, dtype=np.int32)  # per slot: which measured shows its value (-1: none)
    shown_at = np.zeros(size, dtype=np.int64)  # ... at which of its positions
    for severity, level in rule.levels.items():
        assert isinstance(level, CompoundLevel)
        level_holds = None
        for condition in level.conditions:
            m = cache.measure(rule, condition, only=scope.needed(rule.scope, readings) if scope is not None else None)
            measured.append(m)
            with np.errstate(invalid="ignore"):
                ok = OPS[condition.op](m.values, condition.value)
            if scope is not None:
                ok &= scope.mask(m)
            where = np.flatnonzero(ok)
            slots = _slots(rule.scope, m)[where]
            first_here = shown[slots] == -1
            shown[slots[first_here]], shown_at[slots[first_here]] = len(measured) - 1, where[first_here]
            holds = np.zeros(size, dtype=bool)
            holds[slots] = True
            level_holds = holds if level_holds is None else (
                level_holds | holds if level.any_of else level_holds & holds)
        held[level_holds & (held < severity.rank)] = severity.rank
    open_slots = _open_slots(rule.scope, open_keys, readings)
    if open_slots.any() and measured:  # open alerts whose conditions no longer hold: show the first's value
        first = measured[0]
        in_scope = scope.mask(first) if scope is not None else np.ones(len(first.keys), dtype=bool)
        positions = np.flatnonzero(in_scope)
        slots = _slots(rule.scope, first)[positions]
        missing = open_slots[slots] & (shown[slots] == -1)
        shown[slots[missing]], shown_at[slots[missing]] = 0, positions[missing]
    candidates = np.flatnonzero((held > 0) | (open_slots & (shown >= 0)))
    values = np.array([measured[shown[s]].values[shown_at[s]] for s in candidates], dtype=float)
    times = np.array([measured[shown[s]].times[shown_at[s]] for s in candidates], dtype=float)
    keys = [measured[shown[s]].keys[shown_at[s]] for s in candidates]
    steady = np.zeros(len(candidates), dtype=bool)
    stepped_open = np.flatnonzero(open_slots[candidates])
    if len(stepped_open):
        rows = (open_keys.entity_rows()[candidates[stepped_open]] if rule.scope == "entity"
                else open_keys.rows(keys[j] for j in stepped_open))
        eligible, rank, before_value, before_time = open_keys.columns(rows)
        steady[stepped_open] = _unchanged(eligible, rank, before_value, before_time, held[candidates[stepped_open]],
                                          values[stepped_open], times[stepped_open])
    by_severity = {s.rank: s for s in rule.levels}
    for j in sorted(np.flatnonzero(~steady), key=keys.__getitem__):
        m, i = measured[shown[candidates[j]]], int(shown_at[candidates[j]])
        top = by_severity.get(int(held[candidates[j]]))
        yield keys[j], _observation(m, i, readings, names), (lambda current, s=top: s)


def _open_slots(rule_scope: str, open_keys: OpenAlerts, readings: Readings) -> np.ndarray:
    """Per slot of the rule's scope: does its key have an open alert?"""
    if rule_scope == "entity":
        return open_keys.entity_rows() >= 0
    if rule_scope == "zone":
        return np.array([f"zone:{z}" in open_keys for z in readings.zone_ids], dtype=bool)
    return np.array([CITY in open_keys])


def _slots(rule_scope: str, m: Measured) -> np.ndarray:
    """Each measured key's slot: its entity, its zone, or 0 for the city."""
    if rule_scope == "entity":
        return m.entity_index.astype(np.int64)
    if rule_scope == "zone":
        return m.zone_index.astype(np.int64)
    return np.zeros(len(m.keys), dtype=np.int64)


def _forecast(rule: Rule, cache: MetricCache, open_keys: OpenAlerts, now: float, names: Mapping[str, str],
              scope: KeyScope | None):
    """Per entity (or zone) with a stored forecast: the largest sum over `window` of forecast
    steps starting within `horizon`; the lead time is how soon the first window reaching the
    alert's level begins."""
    readings = cache.readings
    series_by_entity = readings.forecasts.get(rule.forecast_kind) or {}
    mask = cache.entity_mask(rule)
    per_key: dict[str, tuple[float, dict[AlertSeverity, float], int, str]] = {}
    for entity_id, series in series_by_entity.items():
        i = readings.index.get(entity_id)
        if i is None or not mask[i]:
            continue
        starts, sums = _window_sums(series["t"], series["v"], rule.window, now, rule.horizon)
        if not len(sums):
            continue
        lead = {}
        for severity, level in rule.levels.items():
            hit = np.flatnonzero(OPS[rule.op](sums, level))
            if hit.size:
                lead[severity] = max(0.0, float(starts[hit[0]]) - now)
        zone = int(readings.zone_of[i])
        key = entity_id if rule.scope == "entity" else (f"zone:{readings.zone_ids[zone]}" if zone >= 0 else None)
        if rule.scope == "city":
            key = "city"
        if key is None:
            continue
        peak = float(np.max(sums))
        if key not in per_key or peak > per_key[key][0]:
            per_key[key] = (peak, lead, i, series.get("s", ""))
    for key, (peak, lead, i, _source) in sorted(per_key.items()):
        if not lead and key not in open_keys:
            continue
        zone = int(readings.zone_of[i])
        if scope is not None and not scope.holds(rule.scope, i, zone):
            continue
        top = max(lead, key=lambda s: s.rank, default=None)
        observation = Observation(
            key=key, value=peak, entity_id=readings.entity_ids[i] if rule.scope == "entity" else None,
            zone_id=readings.zone_ids[zone] if zone >= 0 and rule.scope != "city" else None,
            where=names.get(key, key), lead_time_s=lead.get(top) if top else None)
        yield key, observation, (lambda current, s=top: s)


def _window_sums(times: list[float], values: list[float], window: float, now: float,
                 horizon: float) -> tuple[np.ndarray, np.ndarray]:
    t, v = np.asarray(times, dtype=float), np.asarray(values, dtype=float)
    ahead = (t + window > now) & (t < now + horizon)  # steps not yet over and starting within the horizon
    t, v = t[ahead], v[ahead]
    if not t.size:
        return t, v
    step_s = float(np.median(np.diff(t))) if t.size > 1 else window
    width = max(1, int(round(window / step_s)))
    if t.size < width:
        return t[:1], np.array([v.sum()])
    sums = np.convolve(v, np.ones(width), mode="valid")
    return t[: sums.size], sums


def _staleness(rule: Rule, cache: MetricCache, open_keys: OpenAlerts, now: float, names: Mapping[str, str],
               scope: KeyScope | None):
    readings = cache.readings
    _values, times = readings.latest(rule.kind)
    mask = cache.entity_mask(rule) & np.isfinite(times)
    if scope is not None:
        mask &= scope.entities
    ages = np.where(mask, now - times, np.nan)
    severity = rule.fixed_severity
    with np.errstate(invalid="ignore"):
        stale = ages > rule.stale_after
    for i in np.flatnonzero(stale | (mask & (open_keys.entity_rows() >= 0))):
        zone = int(readings.zone_of[i])
        key = readings.entity_ids[i]
        observation = Observation(key=key, value=float(ages[i]), observed_at=float(times[i]), entity_id=key,
                                  zone_id=readings.zone_ids[zone] if zone >= 0 else None, where=names.get(key, key))
        yield key, observation, (lambda current, s=bool(stale[i]): severity if s else None)


def _feed_staleness(rule: Rule, cache: MetricCache, open_keys: OpenAlerts):
    severity = rule.fixed_severity
    for feed_id in rule.feeds:
        view = cache.readings.feeds.get(feed_id)
        key = f"feed:{feed_id}"
        if view is None and key not in open_keys:
            continue
        stale = bool(view) and view.get("status") == "stale"
        since = (view or {}).get("last_success_ts")
        observation = Observation(key=key, value=None if since is None else cache.now - float(since),
                                  observed_at=since, where=f"feed {feed_id}")
        yield key, observation, (lambda current, s=stale: severity if s else None)


def format_lead(seconds: float | None) -> str:
    """A lead time as people say it: 'now', 'in 40 min', 'in 3 h', 'in 13 h 15 min'."""
    if not seconds or seconds < 60:
        return "now"
    minutes = int(round(seconds / 300) * 5) if seconds >= 3600 else int(round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"in {minutes} min"
    return f"in {hours} h" + (f" {minutes} min" if minutes else "")


def summary(rule: Rule, alert: Alert) -> str:
    """The rule's summary template filled in; a broken template falls back to a plain line."""
    fields = {"rule": rule.id, "severity": alert.severity.value, "where": alert.where or alert.key,
              "value": alert.value if alert.value is not None else float("nan"),
              "zone": alert.zone_id or "", "entity": alert.entity_id or "",
              "lead": format_lead(alert.lead_time_s)}
    try:
        return rule.summary.format(**fields)
    except (KeyError, ValueError, IndexError, AttributeError):
        return f"{rule.id}: {alert.severity.value} at {fields['where']} ({alert.value})"
