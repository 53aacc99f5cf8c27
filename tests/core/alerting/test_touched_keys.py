"""After a poll the engine steps only the keys its readings feed (`touched`): the entities it
stored, their zones and the city. For those keys the result must be exactly what a whole-city
evaluation gives; every other alert is left as it was (the timer evaluates them)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from opscentre.core.alerting.engine import evaluate
from opscentre.core.alerting.readings import Readings
from opscentre.core.alerting.rules import Rule

T0 = 1_780_000_000.0
GAUGES = {f"g{i}": {"entity_type": "rain_gauge", "zone_id": f"z{i % 3}", "source": "s"} for i in range(6)}
RIVER = {"r0": {"entity_type": "river_station", "zone_id": "z0", "source": "s"}}
RULES = [
    Rule.model_validate({"id": "rain", "kind": "rain_mm", "levels": {"advisory": 2, "warning": 6}, "for": "5m",
                         "clear": {"advisory": 1, "warning": 5}}),
    Rule.model_validate({"id": "rain_1h", "kind": "rain_mm", "window": "1h", "aggregation": "sum",
                         "levels": {"warning": 10}}),
    Rule.model_validate({"id": "zone_rain", "kind": "rain_mm", "scope": "zone", "combine": "max",
                         "levels": {"warning": 6}}),
    Rule.model_validate({"id": "city_rain", "kind": "rain_mm", "scope": "city", "combine": "mean",
                         "levels": {"advisory": 3}}),
    Rule.model_validate({"id": "flood", "scope": "zone", "levels": {"critical": {"all_of": [
        {"kind": "rain_mm", "op": ">=", "value": 4}, {"kind": "river_level_m", "op": ">=", "value": 2}]}}}),
    Rule.model_validate({"id": "river", "kind": "river_level_m", "levels": {"warning": 2}}),
]


def readings(values: dict[str, float], river: float, t: float, history=None) -> Readings:
    latest = {"rain_mm": {e: (v, t, "s") for e, v in values.items()}, "river_level_m": {"r0": (river, t, "s")}}
    return Readings.build({**GAUGES, **RIVER}, ["z0", "z1", "z2"], latest, history=history)


def history(values: dict[str, float], t: float):
    return {"rain_mm": [(list(values), list(values.values()), [t] * len(values))]}


def test_a_poll_of_one_gauge_steps_that_gauge_its_zone_and_the_city_and_nothing_else():
    wet = {e: 8.0 for e in GAUGES}
    data = readings(wet, 0.0, T0, history(wet, T0))
    result = evaluate(RULES, {}, data, T0, touched={"rain_mm": {"g1"}})
    assert sorted(a.key for a in result.alerts.values()) == ["city", "g1", "zone:z1"]
    assert {a.rule for a in result.alerts.values()} == {"rain", "zone_rain", "city_rain"}
    # the rest is raised by the whole-city evaluation (the timer), not lost
    full = evaluate(RULES, result.alerts, data, T0)
    assert {a.key for a in full.alerts.values() if a.rule == "rain"} == set(GAUGES)


def test_a_kind_touched_as_a_whole_steps_every_key_of_the_rules_reading_it():
    wet = {e: 8.0 for e in GAUGES}
    result = evaluate(RULES, {}, readings(wet, 3.0, T0), T0, touched={"rain_mm": {"g1"}, "river_level_m": None})
    assert {a.key for a in result.alerts.values() if a.rule == "flood"} == {"zone:z0"}  # reads river: all keys
    assert {a.key for a in result.alerts.values() if a.rule == "river"} == {"r0"}
    assert {a.key for a in result.alerts.values() if a.rule == "rain"} == {"g1"}


def test_a_rule_reading_nothing_the_poll_stored_is_not_stepped():
    result = evaluate(RULES, {}, readings({"g1": 0.0}, 3.0, T0), T0, touched={"rain_mm": {"g1"}})
    assert not [a for a in result.alerts.values() if a.rule == "river"]  # the river reading waits for its poll


value = st.floats(min_value=0, max_value=12, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.dictionaries(st.sampled_from(sorted(GAUGES)), value, min_size=1), value,
                          st.sets(st.sampled_from(sorted(GAUGES)), min_size=1)), min_size=1, max_size=8))
def test_a_partial_evaluation_agrees_with_a_full_one_on_the_keys_it_touches_and_leaves_the_rest(steps):
    alerts: dict = {}
    for i, (values, river, touched) in enumerate(steps):
        t = T0 + 180 * i
        data = readings(values, river, t, history(values, t))
        partial = evaluate(RULES, alerts, data, t, touched={"rain_mm": touched})
        full = evaluate(RULES, alerts, data, t)
        zones = {GAUGES[e]["zone_id"] for e in touched}
        in_scope = {*touched, *(f"zone:{z}" for z in zones), "city"}
        for fingerprint in set(partial.alerts) | set(full.alerts) | set(alerts):
            rule, key = fingerprint.split("|", 1)
            if key in in_scope and rule != "river":  # 'river' reads nothing touched: not stepped
                assert partial.alerts.get(fingerprint) == full.alerts.get(fingerprint), fingerprint
            elif fingerprint in alerts and partial.alerts.get(fingerprint) is not None:
                assert partial.alerts[fingerprint] == alerts[fingerprint], fingerprint  # untouched
        alerts = full.alerts
