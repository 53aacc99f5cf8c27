"""`opscentre bench notify` at a tiny size: the JSON line's shape, and that the benchmark measures
what it says — one notifier process texted every recipient in the bairro exactly once, counted
by number at the gateway and recorded sent, and each probe storm texted its bairro's one contact
once (the bench raises otherwise). Never timings."""

from __future__ import annotations

import orjson
import pytest

from opscentre.bench.notify import run_notify_bench
from opscentre.cli import _parser
from opscentre.core.settings import load_settings

RECIPIENTS = 300
PROBES = 5
LATENCY_PROBES = 20


@pytest.fixture(scope="module")
def figures():
    return run_notify_bench(load_settings(), recipients=RECIPIENTS, probes=PROBES, progress=False,
                            latency_samples=LATENCY_PROBES, ingest_rate=2000, city_entities=1000, hours=2)


def test_the_figures_are_one_json_object_in_the_bench_contract_shape(figures):
    line = orjson.loads(orjson.dumps(figures))
    assert line["bench"] == "notify"
    for key in ("value", "baseline_value", "ratio", "first_post_after_s", "last_post_after_s", "end_to_end_per_s"):
        assert isinstance(line[key], (int, float)) and line[key] > 0, key
    assert isinstance(line["unit"], str) and isinstance(line["baseline"], str) and "approval_over" in line["approval"]
    assert line["recipients"] == RECIPIENTS
    assert line["firing_to_post_samples"] == PROBES
    assert 0 < line["firing_to_post_p50_ms"] <= line["firing_to_post_p99_ms"] <= line["firing_to_post_max_ms"]


def test_every_latency_probe_under_ingest_is_timed_from_its_store_to_its_own_text(figures):
    assert figures["latency_samples"] == figures["latency_texted"] == LATENCY_PROBES
    assert figures["latency_unnotified"] == figures["latency_untexted"] == 0
    for part in ("latency", "stored_to_firing", "firing_to_post_under_load"):
        assert 0 < figures[f"{part}_p50_ms"] <= figures[f"{part}_p99_ms"], part
    assert figures["latency_p99_ms"] >= figures["stored_to_firing_p50_ms"]
    assert figures["ingest_observations"] > 0 and figures["latency_baseline_p99_ms"] == 1570.0


def test_every_recipient_was_texted_exactly_once_and_recorded_sent(figures):
    assert figures["posts"] == figures["delivered_once"] == RECIPIENTS
    assert figures["duplicates"] == figures["missing"] == figures["strangers"] == 0
    assert figures["exactly_once"]
    assert figures["recorded_sent"] == RECIPIENTS and figures["deliveries_by_state"] == {"sent": RECIPIENTS}


@pytest.mark.parametrize("argv,size,samples", [(["bench", "notify", "--json"], None, 1000),
                                               (["bench", "notify", "-n", "500", "--samples", "0"], 500, 0)])
def test_the_command_line_takes_the_notify_benchmark(argv, size, samples):
    args = _parser().parse_args(argv)
    assert (args.name, args.size, args.samples) == ("notify", size, samples)
