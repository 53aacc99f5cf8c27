"""`opscentre bench public` at a tiny size: the JSON line's shape, and that the benchmark measured
what it says — the real `opscentre public` process answered the full documents 200 and
gzip-compressed (the full 166 bairros, the OGC page of 100, an Atom entry per public alert), the
If-None-Match requests 304 with no body, and the static baseline files from the same server; and
that an answer of another status is counted as an error that fails its goal. Never timings."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from opscentre.bench.public import PUBLIC_ALERTS, _figures, _judge, run_public_bench, steady_rate
from opscentre.cli import _parser
from opscentre.core.settings import load_settings

ENDPOINT_CASES = ["status.json", "zones.geojson", "alerts.atom", "ogc items"]


@pytest.fixture(scope="module")
def figures():
    return run_public_bench(load_settings(), seconds=0.4, warmup=0.2, connections=4, clients=1, progress=False)


def test_the_figures_are_one_json_object_in_the_bench_contract_shape(figures):
    line = orjson.loads(orjson.dumps(figures))
    assert line["bench"] == "public"
    assert line["value"] == line["cases"]["status.json 304"]["requests_per_s"] > 0
    assert line["baseline_value"] == line["cases"]["static small 304"]["requests_per_s"] > 0
    assert line["ratio"] == pytest.approx(line["value"] / line["baseline_value"], rel=1e-2)
    assert isinstance(line["unit"], str) and line["static_small"]["path"] in line["baseline"]
    expected = {f"{n} {k}" for n in ENDPOINT_CASES for k in ("full", "304")}
    expected |= {f"static {s} {k}" for s in ("big", "small") for k in ("full", "304")}
    assert set(line["cases"]) == expected
    assert set(line["goals"]) == {f"{n} {k}" for n in ENDPOINT_CASES for k in ("full", "304")}
    assert isinstance(line["goals_met"], bool)
    for name, case in line["cases"].items():
        assert case["answers"] > 0, name
        assert 0 < case["p50_ms"] <= case["p99_ms"] <= case["max_ms"], name
        if not name.startswith("static"):
            assert case["baseline"] in line["cases"] and case["baseline_requests_per_s"] > 0, name


def test_every_answer_had_the_status_its_case_expects(figures):
    for name, case in figures["cases"].items():
        expect = "304" if name.endswith("304") else "200"
        assert case["statuses"] == {expect: case["answers"]}, (name, case)
        assert case["errors"] == 0 and case["client_errors"] == {} and case["unexpected"] == [], (name, case)
        assert case["if_none_match"] == name.endswith("304"), name


def test_the_full_documents_were_served_whole_and_gzip_compressed_when_asked(figures):
    cases = figures["cases"]
    for name in ("status.json", "zones.geojson", "alerts.atom"):
        full = cases[f"{name} full"]
        assert full["encodings"] == {"gzip": full["answers"]} and full["compressed"] is True, name
        assert figures["goals"][f"{name} full"]["checks"]["compressed"] is True
    assert cases["zones.geojson full"]["items"] == 166  # every Rio bairro
    assert cases["ogc items full"]["items"] == 100  # ?limit=100
    assert cases["alerts.atom full"]["items"] == PUBLIC_ALERTS
    assert cases["zones.geojson full"]["bytes"] > 10 * cases["status.json full"]["bytes"]
    ogc = cases["ogc items full"]  # judged by what it answered, whatever that is
    assert ogc["compressed"] == (set(ogc["encodings"]) <= {"gzip", "br"})
    assert figures["goals"]["ogc items full"]["checks"]["compressed"] is ogc["compressed"]


def test_the_304s_carried_no_body(figures):
    for name, case in figures["cases"].items():
        if name.endswith("304"):
            assert case["bytes"] == 0 and case["encodings"] == {"identity": case["answers"]}, name


def test_the_static_baselines_are_files_the_same_server_serves(figures):
    big, small = figures["static_big"], figures["static_small"]
    assert big["path"].startswith("/public/_dash-component-suites/") and big["bytes"] > 10_000
    assert small["path"].startswith("/public/assets/") and 0 < small["bytes"] < 10_000
    assert figures["cases"]["static big full"]["bytes"] == big["bytes"]
    assert figures["cases"]["static small full"]["path"] == small["path"]


def test_the_ceiling_is_an_empty_app_answering_304_under_the_same_server(figures):
    ceiling = figures["ceiling"]
    assert ceiling["path"] == "/" and ceiling["statuses"] == {"304": ceiling["answers"]} and ceiling["answers"] > 0
    assert ceiling["errors"] == 0 and "granian" in ceiling["what"]


def test_the_goals_are_the_issues(figures):
    goals = figures["goals"]
    assert goals["zones.geojson full"]["goal_per_s"] == 1000
    assert goals["status.json full"]["goal_per_s"] == 2000
    for name in ENDPOINT_CASES:
        assert goals[f"{name} 304"]["goal_per_s"] == 2000
        assert goals[f"{name} 304"]["goal_p99_ms"] == 50
    for name, goal in goals.items():
        assert goal["met"] == all(goal["checks"].values()), name


def test_an_answer_of_another_status_is_an_error_not_speed():
    case = {"path": "/api/public/status.json", "expect": 304, "bytes": 0, "headers": {"If-None-Match": "x"}}
    measured = {"latencies": [1.0] * 10, "statuses": Counter({304: 6, 200: 3, 500: 1}),
                "encodings": Counter({"identity": 10}), "bytes": Counter({0: 10}),
                "errors": Counter({"ClientOSError": 2})}
    f = _figures("status.json 304", case, measured, seconds=1.0)
    assert f["requests_per_s"] == 6  # only the 304s
    assert f["errors"] == 4 + 2
    judged = _judge("status.json 304", {**f, "requests_per_s": 10_000, "p99_ms": 1.0})
    assert judged["checks"]["no_errors"] is False and judged["met"] is False


def test_the_command_line_runs_it():
    args = _parser().parse_args(["bench", "public", "--json", "--seconds", "2", "-n", "8"])
    assert (args.name, args.json, args.seconds, args.size) == ("public", True, 2.0, 8)


def test_each_case_is_also_measured_open_loop_at_its_goal_rate_and_its_p99_judged_there(figures):
    for name, case in figures["cases"].items():
        steady = case["at_rate"]
        assert steady["offered_per_s"] == steady_rate(name) and steady["answers"] > 0, name
        assert steady["errors"] == 0 and set(steady["statuses"]) == set(case["statuses"]), name
    assert steady_rate("status.json 304") == 2000 and steady_rate("zones.geojson full") == 1000
    assert steady_rate("alerts.atom full") == 1000  # no rate goal of its own: the full document's
    assert figures["ceiling"]["at_rate"]["offered_per_s"] == 2000
    for name, goal in figures["goals"].items():
        assert goal["p99_at_per_s"] == steady_rate(name)
        assert goal["checks"]["p99"] == (figures["cases"][name]["at_rate"]["p99_ms"] <= 50), name


def test_a_fast_closed_loop_p99_does_not_pass_when_the_p99_at_the_goal_rate_is_slow():
    f = {"errors": 0, "answers": 10, "requests_per_s": 10_000, "p99_ms": 1.0,
         "at_rate": {"offered_per_s": 2000, "p99_ms": 80.0, "errors": 0}}
    judged = _judge("status.json 304", f)
    assert judged["checks"]["p99"] is False and judged["met"] is False


def test_open_loop_latency_counts_from_when_a_request_was_due_not_when_it_was_sent():
    """One connection offered twice what a 20 ms server answers (100/s): requests fall behind
    their schedule, and their latency says so."""
    import asyncio
    import threading
    import time

    from aiohttp import web

    from opscentre.bench.http_load import _load

    async def slow(_request):
        await asyncio.sleep(0.02)
        return web.Response(text="ok")

    ready, box = threading.Event(), {}

    def serve():
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/", slow)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        box["port"], box["loop"] = site._server.sockets[0].getsockname()[1], loop
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)
    try:
        url = f"http://127.0.0.1:{box['port']}/"
        closed = asyncio.run(_load(url, {}, 1, time.time(), 0.0, 0.5, 200))
        opened = asyncio.run(_load(url, {}, 1, time.time(), 0.0, 0.5, 200, rate=100.0))
    finally:
        box["loop"].call_soon_threadsafe(box["loop"].stop)
    assert min(closed["latencies"]) >= 20 and min(opened["latencies"]) >= 20
    # ~25 answered of ~50 due: the last answered was due ~0.25 s before it could be sent (closed: ~20 ms each)
    assert max(opened["latencies"]) > 100
