"""The alert engine as a pure function: table-driven transitions, each kind of rule, and the
properties that must hold for any input (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opscentre.core.alerting.engine import evaluate, severity_for
from opscentre.core.alerting.lifecycle import AlertState
from opscentre.core.alerting.readings import Readings
from opscentre.core.alerting.rules import AlertSeverity, Rule

T0 = 1_780_000_000.0
GAUGES = {
    "g1": {"entity_type": "rain_gauge", "zone_id": "z1", "source": "s", "name": "Tijuca"},
    "g2": {"entity_type": "rain_gauge", "zone_id": "z1", "source": "s", "name": "Grajaú"},
    "g3": {"entity_type": "rain_gauge", "zone_id": "z2", "source": "s", "name": "Centro"},
    "r1": {"entity_type": "river_station", "zone_id": "z2", "source": "s", "name": "Rio Maracanã",
           "properties": {"attention_m": 2.0, "alert_m": 3.0, "overflow_m": 4.0}},
}
RAIN = {"id": "rain", "kind": "rain_mm", "entity_type": "rain_gauge",
        "levels": {"advisory": 1.25, "warning": 6.25, "critical": 12.5},
        "clear": {"advisory": 1.0, "warning": 5.0, "critical": 10.0},
        "summary": "{severity} rain at {where}: {value:.1f} mm"}


def rule(**fields) -> Rule:
    return Rule.model_validate({**RAIN, **fields})


def readings(values: dict[str, dict[str, float]], t: float, history=None, forecasts=None, feeds=None) -> Readings:
    latest = {kind: {e: (v, t, "s") for e, v in by_entity.items()} for kind, by_entity in values.items()}
    return Readings.build(GAUGES, ["z1", "z2"], latest, history, forecasts, feeds)


def run(rules: list[Rule], steps: list[tuple[float, dict]], alerts=None):
    """Evaluate each (time, {kind: {entity: value}}); return every step's changes and the alerts."""
    alerts = dict(alerts or {})
    changes = []
    for t, values in steps:
        result = evaluate(rules, alerts, readings(values, t), t, names={"g1": "Tijuca"})
        alerts = result.alerts
        changes.append([(tr.rule, tr.change.value, tr.severity_after and tr.severity_after.value)
                        for tr in result.transitions])
    return changes, alerts


# ---- table-driven: one gauge through a storm --------------------------------------------


@pytest.mark.parametrize("fields,values,expected", [
    ({}, [0.5, 7.0, 7.0, 13.0, 11.0, 9.0, 4.0, 0.9],
     [[], [("rain", "firing", "warning")], [], [("rain", "escalated", "critical")],
      [], [("rain", "de-escalated", "warning")], [("rain", "de-escalated", "advisory")],
      [("rain", "resolved", "advisory")]]),
    ({"for": "10m"}, [7.0, 7.0, 7.0, 0.0],
     [[("rain", "pending", "warning")], [], [("rain", "firing", "warning")], [("rain", "resolved", "warning")]]),
    ({"for": "10m"}, [7.0, 0.0, 0.0],
     [[("rain", "pending", "warning")], [("rain", "pending-cleared", None)], []]),
    ({"keep_firing_for": "10m"}, [7.0, 0.0, 0.0, 0.0],  # 10 min after the first dry reading
     [[("rain", "firing", "warning")], [], [], [("rain", "resolved", "warning")]]),
    ({"keep_firing_for": "10m"}, [7.0, 0.0, 7.0, 0.0, 0.0, 0.0, 0.0],  # counts from the first dry reading
     [[("rain", "firing", "warning")], [], [], [], [], [("rain", "resolved", "warning")], []]),
])
def test_a_gauge_through_a_storm_gives_these_transitions(fields, values, expected):
    steps = [(T0 + 300 * i, {"rain_mm": {"g1": v}}) for i, v in enumerate(values)]
    changes, _ = run([rule(**fields)], steps)
    assert changes == expected


def test_the_alert_carries_its_summary_place_and_value():
    _, alerts = run([rule()], [(T0, {"rain_mm": {"g1": 7.04}})])
    (alert,) = alerts.values()
    assert alert.fingerprint == "rain|g1" and alert.zone_id == "z1" and alert.entity_id == "g1"
    assert alert.summary == "warning rain at Tijuca: 7.0 mm" and alert.state == AlertState.FIRING


def test_a_silent_sensor_neither_raises_nor_clears_its_alert():
    changes, alerts = run([rule()], [(T0, {"rain_mm": {"g1": 7.0}}), (T0 + 300, {"rain_mm": {}})])
    assert changes == [[("rain", "firing", "warning")], []]
    assert next(iter(alerts.values())).state == AlertState.FIRING


def test_a_resolved_alert_is_kept_an_hour_then_forgotten_and_a_new_episode_gets_a_new_id():
    changes, alerts = run([rule()], [(T0, {"rain_mm": {"g1": 7.0}}), (T0 + 300, {"rain_mm": {"g1": 0.0}})])
    first_id = alerts["rain|g1"].id
    _, later = run([rule()], [(T0 + 300 + 3700, {"rain_mm": {"g1": 0.0}})], alerts)
    assert later == {}
    _, again = run([rule()], [(T0 + 900, {"rain_mm": {"g1": 8.0}})], alerts)
    assert again["rain|g1"].id != first_id and again["rain|g1"].state == AlertState.FIRING


# ---- each kind of rule -------------------------------------------------------------------


def test_a_zone_rule_combines_its_entities_and_knows_its_zone():
    zone_rule = rule(id="zone_rain", scope="zone", combine="max")
    _, alerts = run([zone_rule], [(T0, {"rain_mm": {"g1": 0.5, "g2": 8.0, "g3": 0.1}})])
    (alert,) = alerts.values()
    assert alert.key == "zone:z1" and alert.zone_id == "z1" and alert.entity_id is None and alert.value == 8.0


def test_a_window_sum_reads_the_stored_history():
    sum_rule = Rule.model_validate({"id": "rain_1h_sum", "kind": "rain_mm", "window": "1h", "aggregation": "sum",
                                    "entity_type": "rain_gauge", "levels": {"warning": 20}})
    history = {"rain_mm": [(["g1", "g2"], [6.0, 1.0], [T0 - 3000, T0 - 3000]),
                           (["g1", "g2"], [8.0, 1.0], [T0 - 1500, T0 - 1500]),
                           (["g1"], [7.0], [T0 - 4000])]}  # older than the window: not counted
    result = evaluate([sum_rule], {}, readings({"rain_mm": {"g1": 7.0}}, T0, history={
        "rain_mm": history["rain_mm"] + [(["g1"], [7.0], [T0])]}), T0)
    (alert,) = result.alerts.values()
    assert alert.key == "g1" and alert.value == 21.0


def test_a_rate_of_change_is_per_hour_between_the_first_and_last_reading_in_the_window():
    rate_rule = Rule.model_validate({"id": "river_rise", "kind": "river_level_m", "window": "1h",
                                     "aggregation": "rate", "levels": {"warning": 0.5}})
    history = {"river_level_m": [(["r1"], [1.0], [T0 - 1800]), (["r1"], [1.4], [T0])]}
    result = evaluate([rate_rule], {}, readings({}, T0, history=history), T0)
    assert result.alerts["river_rise|r1"].value == pytest.approx(0.8)


def test_compound_any_of_fires_on_either_condition():
    siren = Rule.model_validate({"id": "siren", "scope": "zone", "entity_type": "rain_gauge", "levels": {
        "critical": {"any_of": [{"kind": "rain_1h_mm", "value": 40}, {"kind": "rain_24h_mm", "value": 125}]}}})
    changes, alerts = run([siren], [
        (T0, {"rain_1h_mm": {"g1": 30}, "rain_24h_mm": {"g1": 100}}),
        (T0 + 300, {"rain_1h_mm": {"g1": 30}, "rain_24h_mm": {"g3": 130}}),
        (T0 + 600, {"rain_1h_mm": {"g1": 45}, "rain_24h_mm": {"g3": 130}}),
    ])
    assert changes == [[], [("siren", "firing", "critical")], [("siren", "firing", "critical")]]
    assert set(alerts) == {"siren|zone:z1", "siren|zone:z2"}


def test_compound_all_of_needs_both():
    stage4 = Rule.model_validate({"id": "stage4", "entity_type": "rain_gauge", "levels": {"critical": {
        "all_of": [{"kind": "rain_mm", "op": ">", "value": 25}, {"kind": "rain_1h_mm", "op": ">", "value": 60}]}}})
    changes, _ = run([stage4], [(T0, {"rain_mm": {"g1": 30}, "rain_1h_mm": {"g1": 50}}),
                                (T0 + 300, {"rain_mm": {"g1": 30}, "rain_1h_mm": {"g1": 61}})])
    assert changes == [[], [("stage4", "firing", "critical")]]


def test_per_entity_levels_come_from_the_stations_own_thresholds():
    river = Rule.model_validate({"id": "river", "kind": "river_level_m", "entity_type": "river_station",
                                 "levels_from": {"warning": "attention_m", "critical": "alert_m",
                                                 "emergency": "overflow_m"}})
    changes, alerts = run([river], [(T0, {"river_level_m": {"r1": 2.5}}), (T0 + 300, {"river_level_m": {"r1": 4.2}})])
    assert changes == [[("river", "firing", "warning")], [("river", "escalated", "emergency")]]


def test_a_forecast_rule_fires_before_the_rain_with_its_lead_time():
    early = Rule.model_validate({"id": "early", "forecast_kind": "rain_forecast_mm", "scope": "zone",
                                 "window": "1h", "horizon": "48h", "levels": {"warning": 25, "critical": 50},
                                 "summary": "{value:.0f} mm {lead}"})
    hours = [T0 + 3600 * h for h in range(48)]
    values = [0.0] * 48
    values[5], values[6] = 30.0, 55.0
    forecasts = {"rain_forecast_mm": {"g3": {"s": "om", "i": T0, "t": hours, "v": values}}}
    result = evaluate([early], {}, readings({}, T0, forecasts=forecasts), T0)
    (alert,) = result.alerts.values()
    assert alert.severity == AlertSeverity.CRITICAL and alert.key == "zone:z2"
    assert alert.lead_time_s == 6 * 3600 and alert.summary == "55 mm in 6 h"
    assert result.transitions[0].change.value == "firing"
    # once the rain has passed, the forecast no longer shows it: resolved
    later = evaluate([early], result.alerts, readings({}, T0 + 8 * 3600, forecasts=forecasts), T0 + 8 * 3600)
    assert [t.change.value for t in later.transitions] == ["resolved"]


def test_staleness_rules_fire_for_silent_entities_and_stale_feeds():
    silent = Rule.model_validate({"id": "silent", "kind": "rain_mm", "stale_after": "30m",
                                  "labels": {"severity": "warning"}})
    feed = Rule.model_validate({"id": "feed_stale", "feeds": ["alerta_rio"], "labels": {"severity": "critical"}})
    data = Readings.build(GAUGES, ["z1", "z2"], {"rain_mm": {"g1": (0.0, T0 - 3600, "s"), "g2": (0.0, T0, "s")}},
                          feeds={"alerta_rio": {"status": "stale", "last_success_ts": T0 - 7200}})
    result = evaluate([silent, feed], {}, data, T0)
    assert set(result.alerts) == {"silent|g1", "feed_stale|feed:alerta_rio"}
    assert result.alerts["feed_stale|feed:alerta_rio"].severity == AlertSeverity.CRITICAL
    assert result.alerts["silent|g1"].value == 3600


# ---- properties ----------------------------------------------------------------------------

values_in_band = st.lists(st.floats(min_value=5.0, max_value=6.2499, allow_nan=False), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(values_in_band)
def test_readings_oscillating_inside_the_hysteresis_band_never_flap(values):
    steps = [(T0, {"rain_mm": {"g1": 7.0}})] + [(T0 + 60 * (i + 1), {"rain_mm": {"g1": v}})
                                                for i, v in enumerate(values)]
    changes, alerts = run([rule()], steps)
    assert changes[0] == [("rain", "firing", "warning")]
    assert all(step == [] for step in changes[1:])
    assert alerts["rain|g1"].severity == AlertSeverity.WARNING


reading = st.one_of(st.none(), st.floats(min_value=0, max_value=40, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(reading, reading), min_size=1, max_size=25), st.sampled_from(["0s", "5m"]),
       st.sampled_from(["0s", "10m"]))
def test_any_sequence_keeps_one_alert_per_fingerprint_and_a_repeat_evaluation_changes_nothing(seq, for_, keep):
    rules = [rule(**{"for": for_, "keep_firing_for": keep}), rule(id="zone_rain", scope="zone")]
    alerts: dict = {}
    open_ids: dict[str, str] = {}
    for i, (a, b) in enumerate(seq):
        t = T0 + 300 * i
        values = {"rain_mm": {k: v for k, v in (("g1", a), ("g2", b)) if v is not None}}
        result = evaluate(rules, alerts, readings(values, t), t)
        # the same state and time again: nothing moves
        again = evaluate(rules, result.alerts, readings(values, t), t)
        assert again.transitions == []
        alerts = result.alerts
        for fingerprint, alert in alerts.items():
            assert fingerprint == alert.fingerprint
            if alert.active:  # an open episode keeps its id until it ends
                assert open_ids.setdefault(fingerprint, alert.id) == alert.id
            else:
                open_ids.pop(fingerprint, None)
        for transition in result.transitions:
            if transition.change.value in ("resolved", "pending-cleared"):
                open_ids.pop(transition.fingerprint, None)


@given(st.floats(min_value=0, max_value=30, allow_nan=False), st.sampled_from([None, *AlertSeverity]))
def test_severity_for_is_monotonic_in_the_value(value, current):
    raise_at = {AlertSeverity.ADVISORY: 1.25, AlertSeverity.WARNING: 6.25, AlertSeverity.CRITICAL: 12.5}
    clear = {AlertSeverity.ADVISORY: 1.0, AlertSeverity.WARNING: 5.0, AlertSeverity.CRITICAL: 10.0}
    lower = severity_for(value, ">=", raise_at, clear, current)
    higher = severity_for(value + 1.0, ">=", raise_at, clear, current)
    rank = (lambda s: 0 if s is None else s.rank)
    assert rank(higher) >= rank(lower)
    assert not math.isnan(value)


# ---- steady alerts: the engine does not step them, and that changes nothing ------------------

def test_a_firing_alert_whose_value_time_and_severity_hold_is_left_as_it_is_by_the_timer():
    # 5.5 mm is below warning's raise level (6.25) but above its clear level (5.0): held at warning
    first = evaluate([rule()], {}, readings({"rain_mm": {"g1": 7.0}}, T0), T0)
    held = evaluate([rule()], first.alerts, readings({"rain_mm": {"g1": 5.5}}, T0 + 300), T0 + 300)
    assert held.transitions == [] and held.alerts["rain|g1"].value == 5.5
    from unittest import mock

    from opscentre.core.alerting import engine

    for later in (T0 + 315, T0 + 330):  # timer evaluations, no new reading
        with mock.patch.object(engine, "step", wraps=engine.step) as stepped:
            again = evaluate([rule()], held.alerts, readings({"rain_mm": {"g1": 5.5}}, T0 + 300), later)
        assert stepped.call_count == 0
        assert again.transitions == [] and again.changed == set()
        assert again.alerts["rain|g1"] is held.alerts["rain|g1"]


RIVER = {"id": "river", "kind": "river_level_m", "entity_type": "river_station",
         "levels_from": {"warning": "attention_m", "critical": "alert_m", "emergency": "overflow_m"}}
level = st.one_of(st.none(), st.floats(min_value=0, max_value=40, allow_nan=False),
                  st.sampled_from([1.0, 1.25, 5.0, 6.25, 10.0, 12.5, 2.0, 3.0, 4.0, math.inf]))


COMPOUND = [
    {"id": "wet", "entity_type": "rain_gauge", "levels": {
        "warning": {"any_of": [{"kind": "rain_mm", "op": ">=", "value": 5}, {"kind": "rain_1h_mm", "op": ">=", "value": 10}]},
        "critical": {"all_of": [{"kind": "rain_mm", "op": ">", "value": 12}, {"kind": "rain_1h_mm", "op": ">", "value": 20}]}}},
    {"id": "zone_flood", "scope": "zone", "levels": {"critical": {"all_of": [
        {"kind": "river_level_m", "op": ">=", "value": 2.5}, {"kind": "rain_mm", "op": ">=", "value": 6}]}}},
    {"id": "city_wet", "scope": "city", "levels": {"advisory": {"any_of": [{"kind": "rain_mm", "op": ">=", "value": 3}]}}},
]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["new", "timer", "corrected"]), level, level, level, level), min_size=1,
                max_size=20), st.sampled_from(["0s", "5m"]), st.sampled_from(["0s", "10m"]))
def test_skipping_steady_alerts_gives_what_stepping_every_open_alert_gives(seq, for_, keep):
    """Any sequence of new readings, timer evaluations (the same readings, later) and corrected
    readings (new values, the same time): the evaluation equals one where no alert counts as
    steady, so every open alert is stepped."""
    from unittest import mock

    from opscentre.core.alerting import engine

    rules = [rule(**{"for": for_, "keep_firing_for": keep}), rule(id="zone_rain", scope="zone"),
             Rule.model_validate({**RIVER, "keep_firing_for": keep}),
             *(Rule.model_validate({**c, "for": for_, "keep_firing_for": keep}) for c in COMPOUND)]
    alerts: dict = {}
    values, observed = {}, T0
    for i, (what, g1, g2, r1, h1) in enumerate(seq):
        now = T0 + 300 * i
        if what != "timer" or not values:
            observed = now if what == "new" or not values else observed
            values = {"rain_mm": {k: v for k, v in (("g1", g1), ("g2", g2)) if v is not None},
                      "river_level_m": {} if r1 is None else {"r1": r1},
                      "rain_1h_mm": {} if h1 is None else {"g1": h1}}
        city = readings(values, observed)
        result = evaluate(rules, alerts, city, now)
        with mock.patch.object(engine, "_unchanged", lambda eligible, *a: np.zeros(len(eligible), dtype=bool)):
            stepped = evaluate(rules, alerts, city, now)
        assert result.alerts == stepped.alerts
        assert result.transitions == stepped.transitions
        assert (result.changed, result.removed) == (stepped.changed, stepped.removed)
        alerts = result.alerts
