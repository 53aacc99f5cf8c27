"""`opscentre bench alerts` at a tiny size: the figures' shape and that the benchmark measures
what it says (its rules raise alerts, the baseline computes the same alerts as the engine,
every latency probe fires). Never timings: a benchmark is a command, not a timed test."""

from __future__ import annotations

import orjson
import pytest

from opscentre.bench.alert_city import RULES, bench_rules
from opscentre.bench.alerts import run_alerts_bench
from opscentre.cli import _parser
from opscentre.core.settings import load_settings

SAMPLES = 50


@pytest.fixture(scope="module")
def figures():
    return run_alerts_bench(load_settings(), entities=500, hours=2, samples=SAMPLES, ingest_rate=2000, repeats=2,
                            progress=False)


def test_the_figures_are_one_json_object_in_the_bench_contract_shape(figures):
    line = orjson.loads(orjson.dumps(figures))
    assert line["bench"] == "alerts"
    for key in ("value", "baseline_value", "ratio", "cycle_cold_s", "cycle_warm_s", "evaluate_cold_s",
                "evaluate_warm_s", "latency_p50_ms", "latency_p99_ms", "ingest_rate_achieved"):
        assert isinstance(line[key], (int, float)) and line[key] > 0, key
    assert isinstance(line["unit"], str) and isinstance(line["baseline"], str)
    assert line["entities"] == 500 and line["rules"] == len(RULES) == 30


def test_the_rules_are_a_valid_mix_of_every_kind_of_rule():
    rules = bench_rules()
    assert {r.rule_type for r in rules} == {"threshold", "compound", "staleness"}
    assert {r.scope for r in rules} == {"entity", "zone", "city"}
    aggregations = {a for r in rules for _kind, _window, a in r.metrics()}
    assert aggregations == {"latest", "sum", "mean", "max", "min", "rate"}
    assert {w for r in rules for w in r.windows()} == {900.0, 3600.0, 86400.0}
    assert any(r.levels_from for r in rules) and any(r.for_ > 0 for r in rules)


def test_the_city_raises_alerts_from_most_rules(figures):
    assert figures["open_alerts"] > 50 and figures["firing"] > 0
    assert figures["rules_with_alerts"] >= 20
    assert figures["stage"] >= 2
    # the full cycle (evaluate_city, through Redis) stored the same alerts as the pure evaluation
    assert figures["cycle_open_alerts"] == figures["open_alerts"]


def test_the_worker_process_reports_its_own_peak_memory_and_finds_the_same_alerts(figures):
    # the cycles ran in a spawned process: its peak counts what it decoded, not the benchmark's city
    assert 0 < figures["worker_rss_start_mb"] <= figures["worker_peak_rss_cold_mb"] <= figures["worker_peak_rss_mb"]
    assert figures["worker_rss_held_mb"] > 0 and figures["worker_rss_goal_met"] is True
    assert figures["worker_agrees"], figures["worker_differences"]
    assert figures["cycle_phases_s"]["evaluate"] > 0


def test_the_baseline_finds_exactly_the_alerts_the_engine_opens(figures):
    assert figures["baseline_agrees"], figures["baseline_differences"]
    assert figures["baseline_alerts"] == figures["open_alerts"]


def test_every_latency_probe_fired_while_background_ingest_ran(figures):
    assert figures["latency_seen"] == figures["latency_samples"] == SAMPLES
    assert figures["probe_alerts_firing_at_end"] == SAMPLES
    assert figures["ingest_observations"] > 0
    assert figures["latency_p50_ms"] <= figures["latency_p99_ms"] <= figures["latency_max_ms"]


@pytest.mark.parametrize("argv,name,size", [
    (["bench", "alerts", "--json"], "alerts", None),
    (["bench", "alerts", "-n", "500", "--hours", "2", "--samples", "0"], "alerts", 500),
    (["bench", "alerts", "--entities", "800"], "alerts", 800),
    (["bench", "ingest", "-n", "1000", "--json"], "ingest", 1000),
    (["bench", "ingest", "--observations", "2000"], "ingest", 2000),
])
def test_the_command_line_takes_both_benchmarks_and_their_sizes(argv, name, size):
    args = _parser().parse_args(argv)
    assert (args.name, args.size) == (name, size)
