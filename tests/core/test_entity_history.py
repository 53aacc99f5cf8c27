"""An entity's last day: its readings of 24 h of data time out of the history streams (real
Redis), and the rule levels that judge them — fixed levels, compound conditions, a station's own
thresholds — with the levels of aggregates (sums) named, not drawn."""

from __future__ import annotations

import json
import random
import time

import orjson
import pytest

from opscentre.core import entity_history, keys
from opscentre.core.alerting.rules import Rule
from opscentre.core.entity_history import (
    Level,
    applies,
    batch_readings,
    day_points,
    entity_day,
    rule_levels,
)
from opscentre.core.models import ObservationBatch
from opscentre.core.store import Store

GAUGE = {"entity_id": "g1", "entity_type": "rain_gauge", "source": "s", "name": "Tijuca", "properties": {}}
STATION = {"entity_id": "r1", "entity_type": "river_station", "source": "s", "name": "Rio Maracanã",
           "properties": {"attention_m": 1.5, "alert_m": 2.0, "overflow_m": 2.6}}
RULES = [Rule.model_validate(r) for r in (
    {"id": "rain_15min", "kind": "rain_mm", "entity_type": "rain_gauge", "levels": {"advisory": 1.25, "warning": 6.25}},
    {"id": "rain_sum", "kind": "rain_mm", "entity_type": "rain_gauge", "window": "1h", "aggregation": "sum",
     "levels": {"warning": 30}},
    {"id": "rain_stage", "entity_type": "rain_gauge",
     "levels": {"critical": {"all_of": [{"kind": "rain_mm", "op": ">", "value": 25},
                                        {"kind": "rain_1h_mm", "op": ">", "value": 60}]}}},
    {"id": "siren", "scope": "zone", "entity_type": "rain_gauge",
     "levels": {"critical": {"any_of": [{"kind": "rain_mm", "value": 40}]}}},
    {"id": "river_level", "kind": "river_level_m", "entity_type": "river_station",
     "levels_from": {"warning": "attention_m", "critical": "alert_m", "emergency": "overflow_m"}},
    {"id": "wind", "kind": "wind_speed_ms", "levels": {"advisory": 11.1}},
)]


def test_a_gauges_levels_are_its_rules_levels_on_the_readings_and_sums_are_named_not_drawn():
    levels, not_drawn = rule_levels(RULES, GAUGE, "rain_mm")
    assert levels == [Level("rain_15min", "advisory", 1.25), Level("rain_15min", "warning", 6.25),
                      Level("rain_stage", "critical", 25.0, ">")]
    assert not_drawn == ["rain_sum"]  # a 1 h sum is not a 15-min reading
    assert rule_levels(RULES, GAUGE, "rain_1h_mm")[0] == [Level("rain_stage", "critical", 60.0, ">")]
    assert not any(level.rule == "siren" for level in levels)  # a zone's rule combines many gauges


def test_a_river_stations_levels_come_from_its_own_thresholds():
    levels, _ = rule_levels(RULES, STATION, "river_level_m")
    assert [(lv.severity, lv.value) for lv in levels] == [("warning", 1.5), ("critical", 2.0), ("emergency", 2.6)]
    without = {**STATION, "properties": {"alert_m": 2.0}}
    assert [lv.value for lv in rule_levels(RULES, without, "river_level_m")[0]] == [2.0]
    assert not applies(RULES[0], STATION) and rule_levels(RULES, STATION, "rain_mm") == ([], [])


def test_the_days_points_are_the_entitys_inside_the_window_oldest_first_once_per_time():
    batches = [(["g1", "g2"], [1.0, 9.0], [100.0, 100.0]), (["g2"], [5.0], [200.0]),
               (["g1"], [3.0], [300.0]), (["g1"], [4.0], [300.0]), (["g1", "g2"], [2.0, 2.0], [50.0, 50.0])]
    assert day_points(batches, "g1", 50.0, 300.0) == ([100.0, 300.0], [1.0, 4.0])  # 50 is outside: start < t


def poll(store: Store, kind: str, values: dict[str, float], observed_at: float) -> None:
    now = time.time()
    store.write_poll("s", [], [ObservationBatch(source="s", kind=kind, entity_ids=list(values),
                                                values=list(values.values()), observed_at=[observed_at] * len(values))],
                     {"status": "ok", "last_success_ts": now}, {"polls": 1}, 48 * 3600, now)


def test_the_day_is_read_from_the_history_streams_in_data_time(redis_client):
    store = Store(redis_client)
    now = time.time()
    for hours_ago, value in ((30, 7.0), (23, 1.0), (10, 2.5), (0.1, 0.5)):
        poll(store, "rain_mm", {"g1": value, "g2": 99.0}, now - hours_ago * 3600)
    poll(store, "rain_1h_mm", {"g2": 5.0}, now - 60)
    day = entity_day(redis_client, GAUGE, RULES, now)
    assert [k.kind for k in day.kinds] == ["rain_mm"]  # g1 has no rain_1h_mm reading
    rain = day.kinds[0]
    assert rain.values == [1.0, 2.5, 0.5] and rain.unit == "mm"  # 30 h ago is outside the day
    assert rain.times == sorted(rain.times) and day.end - day.start == 24 * 3600
    assert [lv.value for lv in rain.levels] == [1.25, 6.25, 25.0]
    # the simulator's clock 2 h ahead at speed 60: the day ends at its now, and only what was written
    # in the last 24 wall minutes is read (everything here was, just now)
    redis_client.hset(keys.SIM_CLOCK, mapping={"wall_epoch": now, "sim_epoch": now + 7200, "speed": 60})
    ahead = entity_day(redis_client, GAUGE, RULES, now)
    assert abs(ahead.end - (now + 7200)) < 1 and ahead.kinds[0].values == [2.5, 0.5]


def decoded_whole(raw: bytes, entity_id: str) -> tuple[list, list]:
    """What decoding a batch whole gives for one entity: its times and values, in the batch's order."""
    columns = orjson.loads(raw)
    found = [i for i, e in enumerate(columns["e"]) if e == entity_id]
    return [columns["t"][i] for i in found], [columns["v"][i] for i in found]


def batch_json(ids: list[str], values: list, times: list) -> bytes:
    return orjson.dumps({"e": ids, "v": values, "t": times})  # as Store.write_poll stores a batch


THOUSANDS = [f"g-{i:05d}" for i in range(5000)]


def test_a_batchs_readings_are_found_in_its_json_without_decoding_it_and_are_what_decoding_gives(monkeypatch):
    rng = random.Random(3)
    ids = THOUSANDS + ["g-00042", ",", "v", "t", "]", "a,b", "[1]", "São Cristóvão", "x,y"]  # g-00042 twice
    rng.shuffle(ids)
    values = [rng.choice([0.0, 1, 12.345, 1e-07, 123456789.125, -3.5]) for _ in ids]
    times = [1_800_000_000.0 + rng.choice([0, 0.25, 900]) for _ in ids]
    raw = batch_json(ids, values, times)
    wanted = {e: decoded_whole(raw, e) for e in ["g-00042", "g-00000", "g-04999", ids[0], ids[-1], ",", "v", "t",
                                                 "]", "a,b", "[1]", "São Cristóvão", "x,y", "absent", "g-0004", "e"]}
    monkeypatch.setattr(entity_history, "_whole", lambda *_: pytest.fail("decoded whole"))
    for entity_id, readings in wanted.items():
        assert batch_readings(raw, entity_id) == readings, entity_id
    assert len(wanted["g-00042"][0]) == 2 and wanted["absent"] == ([], []) and wanted["g-0004"] == ([], [])
    assert wanted["e"] == ([], [])  # absent, though the JSON begins {"e":
    assert wanted[","][0] and wanted["v"][0] and wanted["t"][0]  # an id spelt like the JSON's own punctuation


def test_a_batch_of_another_shape_or_with_escaped_ids_is_decoded_whole_with_the_same_readings():
    ids = THOUSANDS[:2000] + ['q"uote', "back\\slash", "g-00001"]
    values, times = [float(i) for i in range(len(ids))], [1_800_000_000.0] * len(ids)
    escaped = batch_json(ids, values, times)
    spaced = json.dumps({"e": ids[:50], "v": values[:50], "t": times[:50]}).encode()
    other_order = orjson.dumps({"t": times, "v": values, "e": ids})
    for raw in (escaped, spaced, other_order):
        for entity_id in ('q"uote', "back\\slash", "g-00001", "g-00007", "absent"):
            assert batch_readings(raw, entity_id) == decoded_whole(raw, entity_id), entity_id
    assert batch_readings(escaped, 'q"uote') == ([1_800_000_000.0], [2000.0])


def test_the_day_read_from_batches_of_thousands_is_what_decoding_every_batch_gives(redis_client, monkeypatch):
    monkeypatch.setattr(entity_history, "PAGE", 3)  # the stream read a few entries at a time
    store = Store(redis_client)
    now = time.time()
    rng = random.Random(5)
    for step in range(13):  # every 2 h; the gauge is missing from every third poll, stored twice in one
        present = [e for e in THOUSANDS if not (e == "g-02500" and step % 3 == 0)]
        poll(store, "rain_mm", {e: round(rng.uniform(0, 30), 3) for e in present}, now - step * 2 * 3600 - 60)
    poll(store, "rain_mm", {"g-02500": 99.0, "g-00001": 1.0}, now - 2 * 3600 - 60)  # a later store of the same time
    gauge = {**GAUGE, "entity_id": "g-02500"}
    day = entity_day(redis_client, gauge, RULES, now)
    batches = [(c["e"], c["v"], c["t"]) for c in (orjson.loads(f[b"d"]) for _id, f in
                                                      redis_client.xrange(keys.history("rain_mm")))]
    assert (day.kinds[0].times, day.kinds[0].values) == day_points(batches, "g-02500", day.start, day.end)
    assert len(day.kinds[0].values) == 8 and 99.0 in day.kinds[0].values  # 13 polls, 5 without it (1 outside)
