"""`opscentre bench wall --minutes 0.5 --json` as a user runs it: progress on stderr, the last line
of stdout one JSON object in the benches' shape ({bench, value, unit, ...}: the heap's slope in
MB/h), and figures that say it measured a live /wall — the heap and the DOM sampled, map ticks
answered with Patches, no page errors. A short run is not judged (goal_met null). Never timings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from opscentre.cli import _parser

sys.path.insert(0, str(Path(__file__).parent.parent / "dashboard"))
from browser_pages import needs_chromium  # noqa: E402

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def run():
    done = subprocess.run([sys.executable, "-m", "opscentre", "bench", "wall", "--minutes", "0.5", "--json"],
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done


def test_the_last_line_is_the_heap_slope_in_the_bench_contract_shape(run):
    line = orjson.loads(run.stdout.decode().strip().splitlines()[-1])
    assert line["bench"] == "wall" and "MB/h" in line["unit"]
    assert isinstance(line["value"], float) and line["value"] == line["slope_mb_per_h"]
    assert line["minutes"] == 0.5 and line["speed"] == 60
    assert line["samples"] == len(line["series"]) >= 3
    for key in ("heap_start_mb", "heap_end_mb", "heap_max_mb", "dom_nodes_start", "dom_nodes_end",
                "dom_elements_start", "dom_elements_end", "listeners_end", "figure_kb_start", "figure_kb_end",
                "renderer_rss_start_mb", "renderer_rss_end_mb", "gpu_rss_end_mb", "dash_history_max"):
        assert isinstance(line[key], (int, float)) and line[key] > 0, key
    assert line["heap_max_mb"] >= max(line["heap_start_mb"], line["heap_end_mb"])
    for sample in line["series"]:  # (the least of the sample's readings is kept)
        assert sample["heap_mb"] <= sample["heap_first_mb"]
    assert line["goal_met"] is None  # (a 30 s run is the warm-up's: reported, not judged)


def test_it_says_where_the_renderers_memory_is(run):
    """memory-infra dumps of the renderers and the GPU process, by allocator: the page's JS heap
    (v8/main) is there, beside what the page's heap leaves out."""
    line = orjson.loads(run.stdout.decode().strip().splitlines()[-1])
    renderer = line["memory_infra"]["renderer"]
    assert renderer["v8/main"]["end"] > 1 and renderer["private_footprint_bytes"]["end"] > renderer["v8/main"]["end"]
    assert {"malloc", "partition_alloc", "blink_gc"} <= renderer.keys()
    assert line["memory_infra"]["gpu"]["private_footprint_bytes"]["end"] > 0
    assert sum("memory" in s for s in line["series"]) >= 2
    assert "renderer memory (memory-infra" in run.stderr.decode()


def test_it_watched_a_live_wall(run):
    line = orjson.loads(run.stdout.decode().strip().splitlines()[-1])
    assert line["ticks"] > 0 and line["map_patches"] > 0  # the storm moved the map while it was watched
    assert line["page_errors"] == 0 and line["failed_requests"] == 0, line["page_error_texts"]
    assert [s["t"] for s in line["series"]] == sorted(s["t"] for s in line["series"])
    progress = run.stderr.decode()
    assert "bench wall" in progress and "heap" in progress and "slope" in progress


def test_the_cli_knows_the_bench_and_refuses_a_run_of_no_minutes():
    args = _parser().parse_args(["bench", "wall", "--minutes", "90", "--json"])
    assert (args.name, args.minutes, args.json) == ("wall", 90.0, True)
    refused = subprocess.run([sys.executable, "-m", "opscentre", "bench", "wall", "--minutes", "0"],
                             capture_output=True, timeout=60)
    assert refused.returncode == 2 and b"--minutes" in refused.stderr
