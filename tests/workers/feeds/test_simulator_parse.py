"""Parsing the simulator's payload, and the simulator's options as the config loader sees them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from opscentre.core.errors import ConfigError, FetchError, ParseError
from opscentre.core.settings import load_settings
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.simulator import FEED, SimulatorOptions
from opscentre.workers.feeds.simulator.parse import decode_payload

CITIES = Path(__file__).resolve().parents[3] / "opscentre" / "cities"
NOW = datetime(2024, 2, 6, 19, 0, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def rio():
    return load_settings(CITIES / "rio" / "demo.yaml")


def gauge(entity_id: str) -> dict:
    return {"entity_id": entity_id, "entity_type": "rain_gauge", "name": entity_id,
            "geometry": {"type": "Point", "coordinates": [-43.2, -22.9]}}


def series(kind: str, ids: list[str], values: list, observed_at: list | None = None) -> dict:
    return {"kind": kind, "entity_ids": ids, "values": values,
            "observed_at": observed_at if observed_at is not None else [NOW] * len(ids)}


def payload(entities: list, all_series: list, **extra) -> bytes:
    return orjson.dumps({"simulated": True, "seed": 1, "scenario": None, "generated_for": NOW,
                         "entities": entities, "series": all_series, **extra})


# ---- whole-payload failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"[1, 2, 3]", "JSON object"),
        (orjson.dumps({"entities": [], "series": []}), '"simulated": true'),
        (orjson.dumps({"simulated": "yes", "entities": [], "series": []}), '"simulated": true'),
        (orjson.dumps({"simulated": True, "entities": []}), "'series'"),
        (orjson.dumps({"simulated": True, "entities": {}, "series": []}), "'entities'"),
    ],
)
def test_a_payload_that_is_not_a_simulated_object_is_refused_with_the_reason(raw, reason):
    with pytest.raises(ParseError, match=reason.replace("[", r"\[")):
        FEED.parse(raw, None)


# ---- item-level failures ----------------------------------------------------------------------


def test_a_series_of_unknown_kind_becomes_one_rejection_per_entity_while_others_survive():
    raw = payload([gauge("g1"), gauge("g2")], [
        series("rain_mm", ["g1", "g2"], [1.0, 2.0]),
        series("snow_depth_cm", ["g1", "g2"], [5.0, 6.0]),
    ])
    result = FEED.parse(raw, None)
    assert [(b.kind, b.entity_ids, b.values) for b in result.batches] == [("rain_mm", ["g1", "g2"], [1.0, 2.0])]
    assert [(r.entity_id, r.kind) for r in result.rejected] == [("g1", "snow_depth_cm"), ("g2", "snow_depth_cm")]
    assert all("unknown kind" in r.reason for r in result.rejected)


def test_a_series_whose_columns_do_not_line_up_is_rejected_entity_by_entity():
    raw = payload([gauge("g1"), gauge("g2")], [
        series("rain_1h_mm", ["g1", "g2"], [1.0]),
        series("rain_mm", ["g1", "g2"], [0.5, 0.0]),
    ])
    result = FEED.parse(raw, None)
    assert [b.kind for b in result.batches] == ["rain_mm"]
    assert {(r.entity_id, r.kind) for r in result.rejected} == {("g1", "rain_1h_mm"), ("g2", "rain_1h_mm")}
    assert all("line up" in r.reason for r in result.rejected)


def test_an_unusable_value_costs_only_its_own_reading():
    raw = payload([gauge("g1"), gauge("g2"), gauge("g3")], [
        series("rain_mm", ["g1", "g2", "g3"], [1.0, None, 3.0]),
    ])
    result = FEED.parse(raw, None)
    assert [(b.entity_ids, b.values) for b in result.batches] == [(["g1", "g3"], [1.0, 3.0])]
    assert [(r.entity_id, r.kind) for r in result.rejected] == [("g2", "rain_mm")]


def test_an_invalid_entity_is_skipped_and_its_readings_rejected_with_the_reason():
    # an id no earlier test described: entity descriptions are validated once per id
    bad = {**gauge("g-never-seen"), "entity_type": "spaceship"}
    raw = payload([gauge("g1"), bad], [series("rain_mm", ["g1", "g-never-seen"], [1.0, 2.0])])
    result = FEED.parse(raw, None)
    assert [e.entity_id for e in result.entities] == ["g1"]
    assert [(b.entity_ids, b.values) for b in result.batches] == [(["g1"], [1.0])]
    assert [r.entity_id for r in result.rejected] == ["g-never-seen"]
    assert "entity_type" in result.rejected[0].reason


def test_a_series_that_is_not_an_object_is_rejected_without_losing_the_rest():
    raw = payload([gauge("g1")], ["garbage", series("rain_mm", ["g1"], [1.0])])
    result = FEED.parse(raw, None)
    assert [b.kind for b in result.batches] == ["rain_mm"]
    assert len(result.rejected) == 1 and "series[0]" in result.rejected[0].reason


def test_a_real_payload_parses_completely_into_simulated_batches(rio):
    options = SimulatorOptions(seed=2010, gauges="alerta_rio_gauges.json", road_segments=300)
    context = FeedContext("simulator", options, rio, datetime.fromtimestamp(NOW, UTC))
    raw = FEED.fetch(context)
    result = FEED.parse(raw, context)
    data = decode_payload(raw)
    assert result.rejected == []
    assert len(result.entities) == len(data["entities"]) == 33 + 300 + 10 + 2 * len(rio.zones.ids)
    assert all(e.source == "simulator" for e in result.entities)
    assert all(b.simulated and b.source == "simulator" for b in result.batches)
    assert {b.kind for b in result.batches} == {s["kind"] for s in data["series"]}
    tijuca = next(e for e in result.entities if e.entity_id == "rio-tijuca-3")
    assert tijuca.entity_type == "rain_gauge" and tijuca.zone_id is not None
    outage = next(e for e in result.entities if e.entity_id.startswith("outage-area:"))
    assert outage.geometry is None and outage.zone_id == outage.entity_id.removeprefix("outage-area:")
    (forecast_kind,) = {f.kind for f in result.forecasts}
    assert forecast_kind == "rain_forecast_mm" and len(result.forecasts) == len(rio.zones.ids)
    assert all(len(f.values) == 48 and f.entity_id.startswith("forecast-area:") for f in result.forecasts)


# ---- options ----------------------------------------------------------------------------------


def test_options_refuse_an_unknown_scenario_and_unknown_keys():
    with pytest.raises(ValidationError, match="storm-2010-04"):
        SimulatorOptions(scenario="tsunami")
    with pytest.raises(ValidationError):
        SimulatorOptions(sead=3)
    with pytest.raises(ValidationError):
        SimulatorOptions(road_segments=5)
    assert SimulatorOptions(scenario="storm-2010-04").scenario == "storm-2010-04"


def test_options_check_reports_a_missing_or_malformed_gauges_file(rio, tmp_path):
    missing = SimulatorOptions(gauges=str(tmp_path / "nope.json")).check(rio)
    assert len(missing) == 1 and "no such file" in missing[0]
    (tmp_path / "bad.json").write_text("{not json")
    assert "not valid JSON" in SimulatorOptions(gauges=str(tmp_path / "bad.json")).check(rio)[0]
    (tmp_path / "empty.json").write_text('{"pluviometros": []}')
    assert "pluviometros" in SimulatorOptions(gauges=str(tmp_path / "empty.json")).check(rio)[0]
    (tmp_path / "swapped.json").write_text(
        '{"pluviometros": [{"id": "x", "nome": "X", "latitude": -43.2, "longitude": -22.9}]}'
    )
    assert "swapped" in SimulatorOptions(gauges=str(tmp_path / "swapped.json")).check(rio)[0]
    assert SimulatorOptions(gauges="alerta_rio_gauges.json").check(rio) == []
    assert SimulatorOptions(gauges=None).check(rio) == []


def test_the_config_loader_reports_a_bad_gauges_file_with_its_line(tmp_path):
    (tmp_path / "gauges.json").write_text('{"pluviometros": [{"id": "a"}]}')
    config = (CITIES / "rio" / "demo.yaml").read_text().replace(
        "zones: bairros.geojson", f"zones: {CITIES / 'rio' / 'bairros.geojson'}"
    ).replace("gauges: alerta_rio_gauges.json", "gauges: gauges.json").replace(
        "rules_file: rules.yaml", f"rules_file: {CITIES / 'rio' / 'rules.yaml'}")
    (tmp_path / "city.yaml").write_text(config)
    with pytest.raises(ConfigError) as failure:
        load_settings(tmp_path / "city.yaml")
    assert len(failure.value.problems) == 1
    assert "feeds.simulator.options: gauges:" in failure.value.problems[0]
    assert "latitude" in failure.value.problems[0]


def test_a_gauges_file_broken_after_the_config_was_checked_fails_the_fetch_with_the_reason(tmp_path):
    (tmp_path / "gauges.json").write_bytes((CITIES / "rio" / "alerta_rio_gauges.json").read_bytes())
    config = (CITIES / "rio" / "demo.yaml").read_text().replace(
        "zones: bairros.geojson", f"zones: {CITIES / 'rio' / 'bairros.geojson'}"
    ).replace("gauges: alerta_rio_gauges.json", "gauges: gauges.json").replace(
        "rules_file: rules.yaml", f"rules_file: {CITIES / 'rio' / 'rules.yaml'}")
    (tmp_path / "city.yaml").write_text(config)
    settings = load_settings(tmp_path / "city.yaml")
    options = SimulatorOptions(gauges="gauges.json", road_segments=20)
    context = FeedContext("simulator", options, settings, datetime.fromtimestamp(NOW, UTC))
    assert FEED.parse(FEED.fetch(context), context).rejected == []
    (tmp_path / "gauges.json").write_text("{truncated")
    with pytest.raises(FetchError, match="gauges file unusable"):
        FEED.fetch(context)


def test_a_payload_cut_inside_its_entity_list_is_refused_whole(rio):
    options = SimulatorOptions(seed=99, gauges="alerta_rio_gauges.json", road_segments=137)  # an entity list no other test parsed
    context = FeedContext("simulator", options, rio, datetime.fromtimestamp(NOW, UTC))
    raw = FEED.fetch(context)
    with pytest.raises(ParseError, match="digest"):
        FEED.parse(raw[: len(raw) - 100], context)
    with pytest.raises(ParseError, match="no entity list"):
        FEED.parse(raw.partition(b"\n")[0], context)


def test_the_one_document_form_with_inline_entities_still_parses(rio):
    options = SimulatorOptions(seed=98, gauges="alerta_rio_gauges.json", road_segments=138)
    context = FeedContext("simulator", options, rio, datetime.fromtimestamp(NOW, UTC))
    inline = orjson.dumps(decode_payload(FEED.fetch(context)))
    result = FEED.parse(inline, context)
    assert result.rejected == [] and result.observation_count > 0
