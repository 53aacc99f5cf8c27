"""`opscentre bench dashboard` at a tiny size (3,000 entities, 4 simulated consoles): the JSON line's
shape, and that it measured what it says — the real `opscentre web` drew the map in Chromium,
the ticks after a change carried the map and were answered, the full figure (every entity a
point) is larger than a tick. Never timings."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from opscentre.bench.dashboard import run_dashboard_bench
from opscentre.cli import _parser
from opscentre.core.settings import load_settings

sys.path.insert(0, str(Path(__file__).parent.parent / "dashboard"))
from browser_pages import needs_chromium  # noqa: E402

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def figures():
    return run_dashboard_bench(load_settings(), entities=3_000, clients=4, changes=1, seconds=1.0, warmup=0.5,
                               progress=False)


def test_the_last_line_is_one_json_object_in_the_bench_contract_shape(figures):
    line = orjson.loads(orjson.dumps(figures))
    assert line["bench"] == "dashboard" and isinstance(line["unit"], str) and isinstance(line["baseline"], str)
    assert line["value"] == line["repaint_s"] > 0
    assert line["baseline_value"] == line["full_repaint_s"] > 0
    assert line["ratio"] == pytest.approx(line["value"] / line["baseline_value"], rel=1e-2)
    for key in ("tick_bytes", "full_bytes", "tick_server_ms", "tick_built_ms", "clients", "p95_ms", "first_map_s",
                "first_bytes"):
        assert isinstance(line[key], (int, float)) and line[key] > 0, key
    assert line["clients"] == 4 and line["entities"] == 3_000
    assert set(line["goals"]) == {"repaint_s", "tick_share", "tick_server_ms", "clients"}
    assert isinstance(line["goals_met"], bool)


def test_it_measured_real_ticks_and_the_full_figure(figures):
    assert figures["tick_bytes"] < figures["full_bytes"]
    for load in (figures["load"], figures["load_full"]):
        assert load["failed"] == 0 and load["errors"] == []
        assert set(load["statuses"]) <= {"200", "204"} and sum(load["statuses"].values()) > 0
    assert figures["change_to_repaint_s"] >= figures["repaint_s"]


def test_it_measured_a_gauges_entity_page_over_a_day_of_history(figures):
    # (the bench raises when the page's read and the decoded baseline disagree on the readings)
    assert figures["entity_readings"] >= 95  # every 15 min for 24 h: 96 (one may leave the window meanwhile)
    for key in ("entity_page_ms", "entity_day_ms", "entity_day_decoded_ms"):
        assert figures[key] > 0, key


def test_the_cli_knows_the_bench():
    args = _parser().parse_args(["bench", "dashboard", "--json", "-n", "1000", "--clients", "8"])
    assert (args.name, args.size, args.clients, args.json) == ("dashboard", 1000, 8, True)
