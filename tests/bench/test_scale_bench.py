"""`opscentre bench scale` at a tiny size (one round of polls, 1 and 2 worker processes, two
passes over them): the figures' shape, and that every poll enqueued ran on a real worker and stored its readings exactly
once. Never timings: a benchmark is a command, not a timed test."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from opscentre.bench.scale import READINGS_PER_POLL, SHARDS, run_scale_bench
from opscentre.cli import _parser
from opscentre.core.settings import load_settings


@pytest.fixture(scope="module")
def figures():
    return run_scale_bench(load_settings(), observations=SHARDS * READINGS_PER_POLL, worker_counts=(1, 2),
                           passes=2, progress=False)


def test_the_figures_are_one_json_object_in_the_bench_contract_shape(figures):
    line = orjson.loads(orjson.dumps(figures))
    assert line["bench"] == "scale"
    for key in ("value", "baseline_value", "ratio"):
        assert isinstance(line[key], (int, float)) and line[key] > 0, key
    assert isinstance(line["unit"], str) and isinstance(line["baseline"], str)
    assert [run["workers"] for run in line["runs"]] == [1, 2]
    for run in line["runs"]:
        assert run["observations_per_s"] > 0 and run["seconds"] > 0
        assert run["redis_cpu_pct"] >= 0 and run["workers_cpu_pct"] > 0
        assert run["other_cpu_pct"] >= 0 and 0 <= run["machine_steal_pct"] <= 100
    assert line["runs"][0]["speedup"] == 1.0 and line["value"] == line["runs"][1]["speedup"]
    assert line["runs"][0]["cpu_bound_speedup"] == 1.0 and line["runs"][1]["cpu_bound_speedup"] > 0


def test_each_worker_count_reports_its_median_pass_with_every_pass_beside_it(figures):
    assert figures["passes"] == 2 and len(figures["two_workers_speedup_each_pass"]) == 2
    for run in figures["runs"]:
        each = run["observations_per_s_each_pass"]
        assert len(each) == 2 and run["observations_per_s"] == min(each)  # (of two: the lower middle)


def test_every_poll_enqueued_ran_on_a_worker_and_none_failed(figures):
    for run in figures["runs"]:
        assert run["polls"] + run["polls_skipped"] == SHARDS * figures["rounds"]
        assert run["polls_failed"] == 0
        assert sum(run["polls_per_worker"]) == SHARDS * figures["rounds"]
        assert len(run["polls_per_worker"]) <= run["workers"]


def test_every_observation_of_a_poll_that_ran_was_stored_exactly_once(figures):
    for run in figures["runs"]:
        assert run["duplicated"] == 0
        assert run["polls_short"] == 0
        assert run["stored_readings"] == run["expected_stored"] > 0
        assert run["observations"] == run["polls"] * READINGS_PER_POLL
    assert figures["exactly_once"] is True


def test_the_command_line_takes_the_scale_bench_its_size_and_passes_and_refuses_no_passes():
    args = _parser().parse_args(["bench", "scale", "-n", "80000", "--passes", "5", "--json"])
    assert (args.name, args.size, args.passes, args.json) == ("scale", 80000, 5, True)
    refused = subprocess.run([sys.executable, "-m", "opscentre", "bench", "scale", "--passes", "0"],
                             capture_output=True, timeout=60)
    assert refused.returncode == 2 and b"--passes" in refused.stderr


def test_importing_the_bench_leaves_the_feed_registry_alone():
    from opscentre.workers.feeds import FEEDS

    assert not any(feed_id.startswith("scale-") for feed_id in FEEDS)
