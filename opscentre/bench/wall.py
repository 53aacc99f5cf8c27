"""`opscentre bench wall [--minutes N] [--json]`: does wall mode (`/wall`) run for days without
growing the browser's memory?

Set-up: `opscentre up --speed 60 --scenario storm-2010-04` (an embedded Redis, the workers, the
cron, the notifier, the web — what a control room runs; an hour of wall time is 60 simulated
hours of storm, so the map, the stage and the panels keep changing) in a temporary data
directory on a free port, and a viewer account. Headless Chromium (SwiftShader WebGL, as the
other benches) signs in and opens /wall with its default cycle (the side panel turns every
CYCLE_S).

Every SAMPLE_S, through Chromium's DevTools protocol: HEAP_READINGS times a full garbage
collection (HeapProfiler.collectGarbage) then the JS heap in use (Runtime.getHeapUsage), the least
kept (a reading taken while a tick's patch is drawn holds its transient objects: ±3 MB); the DOM
counters (Memory.getDOMCounters: nodes, listeners, documents — nodes include detached ones not yet
collected), the elements in the document, the figure's data (what the map holds: it grows with the
storm), the entries of Dash's undo history (unbounded in Dash: one per dcc.Interval tick;
assets/wall.js cuts it — this bench found it), and the resident memory of Chromium's renderers
(the page's heap plus maplibre's Web Workers, which the page's heap leaves out) and GPU process.
Beside them, the page's Dash callbacks answered (map ticks, and those that carried a map Patch)
and its errors.

Figures: the heap at the start (first sample) and the end, its slope (least squares, MB per hour)
after the first WARMUP_S (a shorter run: after its first third) — and the slope of the first
reading of each sample, as the bench took it before it kept the least of three — the renderers'
RSS and its slope, the figure's data, and the DOM's nodes and listeners at the start and the end. `value` is the heap slope. A run of LONG_RUN_MINUTES or more is judged
against GOAL_SLOPE_MB_PER_H (days at that slope stay within a browser's means); a shorter one
reports the slope without judging it (it is the warm-up's).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import redis

from opscentre.bench.chromium import ARGS, CHROMIUM, MAP_READY
from opscentre.bench.chromium_memory import memory_breakdown
from opscentre.core.connection import EMBEDDED_URL_FILE
from opscentre.core.settings import Settings
from opscentre.drills.soak import SCENARIO, SPEED, _stop, _tail, slope_per_hour
from opscentre.processes.redis_server import free_port

DEFAULT_MINUTES = 60.0
SAMPLE_S = 30.0
SHORT_SAMPLE_S = 5.0  # runs under 5 minutes
WARMUP_S = 300.0
LONG_RUN_MINUTES = 30.0
GOAL_SLOPE_MB_PER_H = 2.0
START_TIMEOUT_S = 180.0
USER = "wall-bench"
MB = 2**20
DOM_ELEMENTS = "() => document.getElementsByTagName('*').length"
SIDE_CLASS = "() => (document.getElementById('wall-side') || {}).className || ''"
# the figure's data as JSON: what the map holds (it grows with the storm's alerts and incidents)
FIGURE_KB = "() => { const gd = document.querySelector('.js-plotly-plot'); return gd ? JSON.stringify(gd.data).length / 1024 : 0; }"
DUMP_EVERY = 10  # samples between two memory-infra dumps (bench/chromium_memory.py): where the RSS is
HEAP_READINGS = 3  # a GC then a reading, this many times HEAP_READING_GAP_MS apart: the least is kept
HEAP_READING_GAP_MS = 500  # (a reading taken while a tick's patch is being drawn holds its transient objects)
# Dash's undo history (entries kept in the renderer's store): unbounded in Dash, cut by assets/wall.js
DASH_HISTORY = "() => (window.dash_stores || []).reduce((n, s) => n + ((s.getState().history || {}).past || []).length, 0)"


def run_wall_bench(settings: Settings, minutes: float = DEFAULT_MINUTES, progress: bool = True) -> dict:
    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    sample_s = SHORT_SAMPLE_S if minutes < 5 else SAMPLE_S
    say(f"bench wall: `opscentre up --speed {SPEED:g} --scenario {SCENARIO}`, /wall in headless Chromium for "
        f"{minutes:g} min, the browser's heap after a GC every {sample_s:g} s")
    with tempfile.TemporaryDirectory(prefix="opscentre-bench-wall-") as tmp:
        up, base = _start_up(settings, Path(tmp))
        try:
            client = redis.Redis.from_url((Path(tmp) / "var" / EMBEDDED_URL_FILE).read_text().strip())
            from opscentre.core import operators
            from opscentre.core.roles import Role

            password = secrets.token_urlsafe(16)
            operators.add(client, USER, password, Role.VIEWER)
            samples, counts = _watch(base, password, up, minutes * 60, sample_s, say)
        finally:
            _stop(up)
    return _summary(samples, counts, minutes, sample_s, say)


def _start_up(settings: Settings, tmp: Path) -> tuple[subprocess.Popen, str]:
    """`opscentre up` in its own session and data directory, on a free port; (the process, its URL)
    once /healthz answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "OPSCENTRE_", "PORT"))}
    env.update(OPSCENTRE_DATA_DIR=str(tmp / "var"), PORT=str(port), OPSCENTRE_LOG_LEVEL="WARNING")
    if settings.source_path:
        env["OPSCENTRE_CONFIG"] = str(settings.source_path)
    log = open(tmp / "up.log", "wb")  # noqa: SIM115 (closed with the process, in soak._stop)
    up = subprocess.Popen([sys.executable, "-m", "opscentre", "up", "--speed", f"{SPEED:g}", "--scenario", SCENARIO],
                          env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    up.log, up.log_path = log, tmp / "up.log"
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if up.poll() is not None:
            up.log.close()
            raise RuntimeError(f"opscentre up exited at start: {_tail(up.log_path)}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return up, base
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    _stop(up)
    raise RuntimeError(f"opscentre up was not healthy within {START_TIMEOUT_S:g} s: {_tail(up.log_path)}")


def _watch(base: str, password: str, up: subprocess.Popen, seconds: float, sample_s: float,
           say) -> tuple[list[dict], dict]:
    from playwright.sync_api import sync_playwright

    counts = {"ticks": 0, "map_patches": 0, "errors": 0, "error_texts": [], "cycles": 0, "failed": 0}

    def answered(response) -> None:
        if "_dash-update-component" not in response.url:
            return
        if response.status >= 400:
            counts["failed"] += 1
        body = response.request.post_data or ""
        if "map-state.data" in body:
            counts["ticks"] += 1
            if response.status == 200:
                try:
                    counts["map_patches"] += b'"city-map"' in response.body()
                except Exception:  # noqa: BLE001 (a body the page has already let go of)
                    pass

    def failed(error) -> None:
        counts["errors"] += 1
        if len(counts["error_texts"]) < 5:
            counts["error_texts"].append(str(error)[:300])

    samples = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1920, "height": 1080})
            page = context.new_page()
            page.on("response", answered)
            page.on("pageerror", failed)
            page.goto(f"{base}/login")
            page.fill("#username", USER)
            page.fill("#password", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            page.goto(f"{base}/wall")
            page.wait_for_function(MAP_READY, timeout=120_000)
            cdp = context.new_cdp_session(page)
            cdp.send("HeapProfiler.enable")
            start = time.monotonic()
            last_side = None
            while True:
                if up.poll() is not None:
                    raise RuntimeError(f"opscentre up exited during the bench: {_tail(up.log_path)}")
                t = time.monotonic() - start
                readings = []
                for i in range(HEAP_READINGS):
                    if i:
                        page.wait_for_timeout(HEAP_READING_GAP_MS)
                    cdp.send("HeapProfiler.collectGarbage")
                    readings.append(cdp.send("Runtime.getHeapUsage"))
                heap = min(readings, key=lambda r: r["usedSize"])
                dom = cdp.send("Memory.getDOMCounters")
                side = page.evaluate(SIDE_CLASS)
                sample = {"t": t, "heap_mb": heap["usedSize"] / MB, "heap_first_mb": readings[0]["usedSize"] / MB,
                          "heap_total_mb": heap["totalSize"] / MB, "nodes": dom["nodes"],
                          "listeners": dom["jsEventListeners"], "documents": dom["documents"],
                          "elements": page.evaluate(DOM_ELEMENTS), "dash_history": page.evaluate(DASH_HISTORY),
                          "figure_kb": page.evaluate(FIGURE_KB), **_chromium_rss_mb()}
                if len(samples) % DUMP_EVERY == 0 or sample["t"] >= seconds:
                    sample["memory"] = memory_breakdown(browser, page)
                counts["cycles"] += side != last_side and last_side is not None
                last_side = side
                samples.append(sample)
                say(f"  {sample['t']:6.0f} s  heap {sample['heap_mb']:.2f} MB (of {sample['heap_total_mb']:.1f}; "
                    f"figure data {sample['figure_kb']:,.0f} kB; renderer RSS {sample['renderer_rss_mb']:.0f} MB, "
                    f"GPU process {sample['gpu_rss_mb']:.0f} MB), "
                    f"DOM {sample['nodes']:,} nodes / {sample['elements']:,} elements, "
                    f"{sample['listeners']:,} listeners, Dash history {sample['dash_history']:,}; "
                    f"{counts['ticks']} ticks ({counts['map_patches']} "
                    f"with a map patch), {counts['errors']} page errors")
                if sample["t"] >= seconds:
                    break
                # wait in the page's own loop (its timers and network keep running)
                page.wait_for_timeout(max(0.0, sample_s - (time.monotonic() - start - sample["t"])) * 1000)
        finally:
            browser.close()
    return samples, counts


def _chromium_rss_mb() -> dict[str, float]:
    """Resident memory of this bench's Chromium: its renderers (the page, its workers: maplibre
    parses GeoJSON in Web Workers, whose heaps are not the page's) and its GPU process (SwiftShader)."""
    import psutil

    rss = {"renderer_rss_mb": 0.0, "gpu_rss_mb": 0.0}
    for process in psutil.Process().children(recursive=True):
        try:
            line = " ".join(process.cmdline())
            if "chromium" not in line:
                continue
            key = ("renderer_rss_mb" if "--type=renderer" in line else "gpu_rss_mb" if "--type=gpu-process" in line
                   else None)
            if key:
                rss[key] += process.memory_info().rss / MB
        except psutil.Error:
            continue
    return rss


def _summary(samples: list[dict], counts: dict, minutes: float, sample_s: float, say) -> dict:
    warmup_s = min(WARMUP_S, minutes * 60 / 3)
    late = [s for s in samples if s["t"] >= warmup_s] or samples
    slope = slope_per_hour([s["t"] for s in late], [s["heap_mb"] for s in late])
    node_slope = slope_per_hour([s["t"] for s in late], [s["nodes"] for s in late])
    renderer_slope = slope_per_hour([s["t"] for s in late], [s["renderer_rss_mb"] for s in late])
    first_slope = slope_per_hour([s["t"] for s in late], [s["heap_first_mb"] for s in late])
    first, last = samples[0], samples[-1]
    judged = minutes >= LONG_RUN_MINUTES
    memory = _memory_slopes([s for s in late if "memory" in s] or [s for s in samples if "memory" in s])
    result = {
        "bench": "wall",
        "value": round(slope, 3),
        "unit": f"MB/h: the browser's JS heap (after a GC) on /wall, least-squares slope after the first "
                f"{warmup_s / 60:.3g} min",
        "minutes": minutes,
        "speed": SPEED,
        "scenario": SCENARIO,
        "samples": len(samples),
        "sample_s": sample_s,
        "heap_start_mb": round(first["heap_mb"], 2),
        "heap_end_mb": round(last["heap_mb"], 2),
        "heap_max_mb": round(max(s["heap_mb"] for s in samples), 2),
        "heap_at_warmup_mb": round(late[0]["heap_mb"], 2),
        "slope_mb_per_h": round(slope, 3),
        "slope_first_reading_mb_per_h": round(first_slope, 3),
        "figure_kb_start": round(first["figure_kb"], 1),
        "figure_kb_end": round(last["figure_kb"], 1),
        "renderer_rss_start_mb": round(first["renderer_rss_mb"], 1),
        "renderer_rss_end_mb": round(last["renderer_rss_mb"], 1),
        "renderer_rss_slope_mb_per_h": round(renderer_slope, 2),
        "memory_infra": memory,
        "gpu_rss_start_mb": round(first["gpu_rss_mb"], 1),
        "gpu_rss_end_mb": round(last["gpu_rss_mb"], 1),
        "dom_nodes_start": first["nodes"],
        "dom_nodes_end": last["nodes"],
        "dom_nodes_slope_per_h": round(node_slope, 1),
        "dom_elements_start": first["elements"],
        "dom_elements_end": last["elements"],
        "listeners_start": first["listeners"],
        "listeners_end": last["listeners"],
        "dash_history_max": max(s["dash_history"] for s in samples),
        "dash_history_end": last["dash_history"],
        "ticks": counts["ticks"],
        "map_patches": counts["map_patches"],
        "panel_turns": counts["cycles"],
        "failed_requests": counts["failed"],
        "page_errors": counts["errors"],
        "page_error_texts": counts["error_texts"],
        "goal_slope_mb_per_h": GOAL_SLOPE_MB_PER_H,
        "goal_met": slope <= GOAL_SLOPE_MB_PER_H if judged else None,
        "series": [{k: round(v, 3) if isinstance(v, float) else v for k, v in s.items()} for s in samples],
    }
    say(f"heap {result['heap_start_mb']} MB at the start, {result['heap_end_mb']} MB at the end "
        f"(max {result['heap_max_mb']}); slope after {warmup_s / 60:.3g} min {slope:+.3f} MB/h "
        f"(renderer RSS {renderer_slope:+.1f} MB/h; figure data {first['figure_kb']:,.0f} -> {last['figure_kb']:,.0f} kB)"
        f"{'' if judged else ' (a short run: not judged)'}; DOM nodes {first['nodes']:,} -> {last['nodes']:,}, "
        f"elements {first['elements']:,} -> {last['elements']:,}; {counts['ticks']} ticks, "
        f"{counts['map_patches']} map patches, {counts['cycles']} panel turns seen, {counts['errors']} page errors"
        + ("" if result["goal_met"] is None else f"; goal (<= {GOAL_SLOPE_MB_PER_H:g} MB/h) met: {result['goal_met']}"))
    for kind, rows in memory.items():
        say(f"{kind} memory (memory-infra, MB: first dump after the warm-up -> last, slope per hour): " + "; ".join(
            f"{name} {row['start']:.1f} -> {row['end']:.1f} ({row['slope_mb_per_h']:+.1f}/h)"
            for name, row in rows.items() if max(row["start"], row["end"]) >= 1))
    return result


def _memory_slopes(dumped: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Per process kind and allocator: the first and last dump's MB and the least-squares slope."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    if not dumped:
        return out
    for kind in ("renderer", "gpu"):
        names = sorted({name for s in dumped for name in s["memory"].get(kind, {})})
        out[kind] = {}
        for name in names:
            ts = [s["t"] for s in dumped]
            values = [s["memory"].get(kind, {}).get(name, 0.0) for s in dumped]
            slope = slope_per_hour(ts, values) if len(dumped) > 1 else 0.0
            out[kind][name] = {"start": round(values[0], 2), "end": round(values[-1], 2),
                               "slope_mb_per_h": round(slope, 2)}
    return out
