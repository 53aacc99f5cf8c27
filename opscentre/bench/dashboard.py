"""`opscentre bench dashboard`: the operator console's live map at city scale, in a real browser.

Set-up. A fresh embedded Redis (not persisted); the city of `bench alerts` (bench/alert_city.py:
N entities in the config's zones, 40% rain gauges, 30% road sensors, 20% weather stations, 10%
river stations) with 90 minutes of readings, each entity placed at a random spot near its zone's
representative point (the alert city puts them all on the point; a map draws them where they
are); a viewer account. Then the REAL web process, `opscentre web` (granian, as
the Procfile runs it), started as a subprocess.

Measured:
- first map: headless Chromium (SwiftShader WebGL) signs in; seconds from the console's URL to
  the map drawn (plotly's figure with its traces and maplibre's canvas), and the bytes of the
  `_dash-layout` answer (the first figure).
- a tick when 1% changes: new readings for 1% of the entities (every kind) are stored; the
  browser's next tick answer (bytes, and its server time: request sent -> headers, from the
  page; it includes the web worker's rebuild of the city for the new data; beside it, the same
  tick posted again once built, `tick_built_ms`) and the browser's time from that answer's arrival to the repaint
  (plotly's afterplot, then two animation frames). `value` is that repaint time. Beside it, the
  time from the store write to the repaint (it includes waiting for the next tick, every
  TICK_MS). Repeated `changes` times; medians.
- clients: `clients` simulated consoles (bench/dash_load.py) each posting the tick every
  TICK_MS with its own map state, while 1% changes every TICK_MS: ticks answered per second and
  the p95 latency (open loop, from when each tick was due).
- the entity page, last: the city's history is lengthened to 24 h (96 batches a kind) and a rain
  gauge's `/entity/<id>` is asked for: its server time (`entity_page_ms`), and its day read in
  this process as the page reads it (`entity_day_ms`) beside the read it replaced, every batch
  naming the gauge decoded whole (`entity_day_decoded_ms`; the two must give the same readings).

Baselines, in the same run: the full figure — every entity drawn as a point, what the console
sent before level of detail (`layer_traces` of the whole city, `build_figure`) —: its bytes, the
server time to build and serialise it, its repaint in the same browser (`Plotly.react` with it,
to afterplot and two frames); and the clients' load with every client posting an empty map
state, so each tick with news sends its arrays whole.

Goals (issue 13 item 8): repaint <= 1 s, tick bytes <= 5% of the full figure, server time per
tick <= 100 ms, >= 200 clients per web process at p95 <= 100 ms.
"""

from __future__ import annotations

import math
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import redis

from opscentre.bench.alert_city import SOURCE, STEP_S, make_city, store_city
from opscentre.bench.chromium import ARGS, CHROMIUM, MAP_READY
from opscentre.bench.web_process import WebProcess
from opscentre.core import keys
from opscentre.core.models import ObservationBatch
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.processes.redis_server import RedisServer

GOAL_REPAINT_S = 1.0
GOAL_TICK_SHARE = 0.05
GOAL_SERVER_MS = 100.0
GOAL_CLIENTS = 200
GOAL_P95_MS = 100.0
USER = "bench-viewer"
JITTER_DEG = 0.006  # ~600 m around the zone's point
CHANGED_SHARE = 0.01
TICK_S = 2.0

HOOKS = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  window.__paints = [];
  gd.on('plotly_afterplot', () => {
    requestAnimationFrame(() => requestAnimationFrame(() => window.__paints.push(Date.now())));
  });
}"""


def run_dashboard_bench(settings: Settings, entities: int = 50_000, clients: int = GOAL_CLIENTS, changes: int = 3,
                        seconds: float = 10.0, warmup: float = 2.0, progress: bool = True) -> dict:
    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    from opscentre.core import operators
    from opscentre.core.roles import Role

    now = math.floor(time.time() / STEP_S) * STEP_S
    city = make_city(settings, entities, hours=1.5, now=now)
    _scatter(city, settings)
    result: dict = {"entities": len(city.entities)}
    with tempfile.TemporaryDirectory(prefix="opscentre-bench-") as tmp:
        server = RedisServer(Path(tmp), persist=False).start()
        web = None
        try:
            client = redis.Redis.from_url(server.url)
            store = Store(client)
            stored = store_city(store, city, settings.retention_hours * 3600)
            password = secrets.token_urlsafe(16)
            operators.add(client, USER, password, Role.VIEWER)
            say(f"stored a city of {len(city.entities):,} entities ({stored:,} readings); starting `opscentre web`")
            web = WebProcess(settings, server.url, Path(tmp), command=[sys.executable, "-m", "opscentre", "web"],
                             ready_path="/login").start()
            changer = Changer(store, city)
            changer.settings = settings
            result.update(_browser(web.base, password, changer, changes, say))
            result.update(_full_baseline(settings, store, say))
            tick = result.pop("_tick")
            result.update(_clients(web.base, tick, changer, clients, seconds, warmup, say))
            result.update(_entity_page(web.base, tick["cookies"], store, settings, city, say))
        finally:
            if web is not None:
                web.stop()
            server.stop()
    return _summary(result, say)


def _scatter(city, settings: Settings, seed: int = 11) -> None:
    """Each entity at a random spot near its zone's point (in place)."""
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(-JITTER_DEG, JITTER_DEG, (len(city.entities), 2))
    for i, entity in enumerate(city.entities):
        lon, lat = entity.geometry["coordinates"][:2]
        city.entities[i] = entity.model_copy(update={"geometry": {
            "type": "Point", "coordinates": [round(lon + offsets[i, 0], 5), round(lat + offsets[i, 1], 5)]}})


class Changer:
    """New readings for 1% of the entities of every kind, as a poll stores them."""

    def __init__(self, store: Store, city, seed: int = 5):
        self.store, self.city, self.rng, self.n = store, city, np.random.default_rng(seed), 0
        self.settings: Settings | None = None

    def change(self) -> float:
        self.n += 1
        wall = time.time()
        batches = []
        for kind, (ids, values, _silent) in self.city.series.items():
            pick = self.rng.choice(len(ids), size=max(1, int(len(ids) * CHANGED_SHARE)), replace=False)
            last = values[pick, -1]
            new = (last + self.rng.uniform(5, 20, len(pick))) if kind == "rain_mm" else last * self.rng.uniform(
                0.8, 1.2, len(pick))
            values[pick, -1] = np.round(new, 3)
            batches.append(ObservationBatch(source=SOURCE, kind=kind, entity_ids=[ids[i] for i in pick],
                                            values=values[pick, -1].tolist(), observed_at=[wall] * len(pick)))
        self.store.write_poll(SOURCE, [], batches, {"status": "ok", "last_success_ts": wall}, {"polls": 1},
                              24 * 3600, wall)
        return wall


# Every map tick the page sends, recorded as the browser sees it: when sent, when its answer's
# headers came (server time on loopback), its status, the decoded body's bytes, whether it
# changed the map (a tick right after a write may still see the old data and change nothing).
RECORDER = """(() => {
  const original = window.fetch;
  window.__ticks = [];
  window.__layout = null;
  window.fetch = async function (input, init) {
    const url = typeof input === 'string' ? input : input.url;
    const body = init && typeof init.body === 'string' ? init.body : '';
    const sent = Date.now();
    const response = await original.apply(this, arguments);
    const headers = Date.now();
    if (url.includes('_dash-layout')) {
      response.clone().text().then(t => { window.__layout = {bytes: new Blob([t]).size, ms: headers - sent}; });
    } else if (url.includes('_dash-update-component') && body.includes('map-state.data')) {
      // arrived: when its headers came (the body, on loopback, right after): a body read here
      // may finish only after the page has applied and drawn it
      response.clone().text().then(t => window.__ticks.push({sent: sent, server_ms: headers - sent,
        status: response.status, bytes: new Blob([t]).size, arrived: headers, body: body,
        map: t.includes('"city-map"')}));
    }
    return response;
  };
})();"""
FULL_REPAINT = """async ([full, changed]) => {
  const gd = document.querySelector('.js-plotly-plot');
  const frames = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  await Plotly.react(gd, full.data, full.layout);
  await frames();
  const start = Date.now();
  await Plotly.react(gd, changed.data, changed.layout);
  await frames();
  return (Date.now() - start) / 1000;
}"""


def _browser(base: str, password: str, changer: Changer, changes: int, say) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            page.add_init_script(RECORDER)
            page.goto(f"{base}/login")
            page.fill("#username", USER)
            page.fill("#password", password)
            start = time.time()
            page.click("button[type=submit]")
            page.wait_for_function(MAP_READY, timeout=120_000)
            first_map_s = time.time() - start
            layout = page.evaluate("() => window.__layout") or {}
            say(f"first map {first_map_s:.2f} s after sign-in; _dash-layout {layout.get('bytes', 0):,} bytes")
            page.evaluate(HOOKS)
            time.sleep(TICK_S * 1.5)  # the first ticks (status, nothing new)
            repaints, to_paint, tick_bytes, server_ms, again = [], [], [], [], []
            for _ in range(changes):
                written = changer.change() * 1000
                page.wait_for_function(
                    """(w) => { const t = window.__ticks.find(t => t.sent > w && t.map);
                                return t && window.__paints.some(p => p >= t.arrived); }""",
                    arg=written, timeout=60_000)
                tick = page.evaluate("(w) => window.__ticks.find(t => t.sent > w && t.map)", written)
                paint = page.evaluate("(a) => window.__paints.find(p => p >= a)", tick["arrived"])
                repaints.append((paint - tick["arrived"]) / 1000)
                to_paint.append((paint - written) / 1000)
                tick_bytes.append(tick["bytes"])
                server_ms.append(tick["server_ms"])
                cookies = {c["name"]: c["value"] for c in context.cookies()}
                again.append(_replayed(base, tick["body"], cookies))
                say(f"1% changed: tick {tick['bytes']:,} bytes, server {tick['server_ms']} ms "
                    f"(the same tick again, the version built: {again[-1]:.1f} ms), "
                    f"repaint {repaints[-1]:.2f} s after it arrived ({to_paint[-1]:.2f} s after the write)")
                time.sleep(TICK_S)
            tick_body = orjson.loads(tick["body"])
            full, changed = _full_figures(changer)
            full_repaint_s = page.evaluate(FULL_REPAINT, [full, changed])
            say(f"full figure repaint after 1% changed (baseline): {full_repaint_s:.2f} s")
        finally:
            browser.close()
    return {"first_map_s": round(first_map_s, 2), "first_bytes": layout.get("bytes"),
            "first_layout_ms": layout.get("ms"),
            "repaint_s": round(statistics.median(repaints), 3), "repaints_s": [round(r, 3) for r in repaints],
            "change_to_repaint_s": round(statistics.median(to_paint), 3),
            "tick_bytes": int(statistics.median(tick_bytes)), "tick_server_ms": round(statistics.median(server_ms), 1),
            "tick_built_ms": round(statistics.median(again), 1),
            "full_repaint_s": round(full_repaint_s, 3),
            "_tick": {"body": tick_body, "cookies": cookies}}


def _replayed(base: str, body: str, cookies: dict[str, str], times: int = 7) -> float:
    """The median time of the same tick posted again (by then both workers have built the new
    version, mostly): what a tick with news costs once the data is built, request to answer."""
    from urllib.request import Request, urlopen

    headers = {"Content-Type": "application/json", "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    taken = []
    for _ in range(times):
        start = time.perf_counter()
        with urlopen(Request(base + "/_dash-update-component", data=body.encode(), headers=headers), timeout=30) as r:
            r.read()
        taken.append((time.perf_counter() - start) * 1000)
    return statistics.median(taken)


def _full_figures(changer: Changer) -> tuple[dict, dict]:
    """The full figure of the city now, and the same after 1% more changed (baseline repaint)."""
    figure = _full_figure(changer.store, changer.settings)
    changer.change()
    return figure, _full_figure(changer.store, changer.settings)


def _full_figure(store: Store, settings: Settings) -> dict:
    from opscentre.dashboard.city_reading import read_city_data
    from opscentre.dashboard.components.map_figure import build_figure, layer_traces
    from opscentre.dashboard.ops_app import OPS_LAYERS

    return build_figure(layer_traces(read_city_data(store, settings), OPS_LAYERS), settings, OPS_LAYERS)


def _full_baseline(settings: Settings, store: Store, say) -> dict:
    """The full figure's bytes and the server time to read, build and serialise it (median of 3)."""
    times, size = [], 0
    for _ in range(3):
        start = time.perf_counter()
        size = len(orjson.dumps(_full_figure(store, settings)))
        times.append((time.perf_counter() - start) * 1000)
    say(f"full figure (every entity a point): {size:,} bytes, {statistics.median(times):.0f} ms to build")
    return {"full_bytes": size, "full_server_ms": round(statistics.median(times), 1)}


def _clients(base: str, tick: dict, changer: Changer, clients: int, seconds: float, warmup: float, say) -> dict:
    from opscentre.bench.dash_load import run_clients
    from opscentre.dashboard import ids

    body = tick["body"]
    state_index = next(i for i, s in enumerate(body["state"]) if s["id"] == ids.MAP_STATE)
    out = {}
    for name, full in (("clients", False), ("clients_full", True)):
        stop = threading.Event()

        def keep_changing() -> None:
            while not stop.wait(TICK_S):
                changer.change()

        writer = threading.Thread(target=keep_changing, daemon=True)
        writer.start()
        try:
            measured = run_clients(base + "/_dash-update-component", body, state_index, tick["cookies"], clients,
                                   TICK_S, seconds, warmup, full=full)
        finally:
            stop.set()
            writer.join()
        lat = sorted(measured["latencies"])
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None
        figures = {"clients": clients, "ticks_per_s": round(len(lat) / seconds, 1),
                   "p50_ms": round(lat[len(lat) // 2], 1) if lat else None, "p95_ms": round(p95, 1) if lat else None,
                   "statuses": {str(k): v for k, v in measured["statuses"].items()},
                   "mean_bytes": round(sum(measured["sizes"]) / len(measured["sizes"])) if measured["sizes"] else 0,
                   "failed": measured["failures"], "errors": measured["errors"]}
        say(f"{name}: {clients} consoles ticking every {TICK_S:g} s: {figures['ticks_per_s']} ticks/s, "
            f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, {figures['mean_bytes']:,} bytes on average, "
            f"statuses {figures['statuses']}")
        out[name] = figures
    return out


def _entity_page(base: str, cookies: dict[str, str], store: Store, settings: Settings, city, say,
                 views: int = 5) -> dict:
    """A rain gauge's page (`/entity/<id>`) with a day of history: the 22.5 h before the city's
    90 minutes stored as the alert city stores them (every entity in every 15-min poll), then the
    server time of the page's `_dash-layout` (median of `views`, after one), and in this process
    its day read as the page reads it (core/entity_history.py) and as it did before (baseline:
    every batch naming the entity decoded whole)."""
    from urllib.request import Request, urlopen

    from opscentre.core.entity_history import HISTORY_MARGIN_S, WINDOW_S, day_points, entity_day

    older = make_city(settings, len(city.entities), hours=24 - len(city.times) * STEP_S / 3600,
                      now=float(city.times[0]) - STEP_S)
    older.entities = []  # registered already
    store_city(store, older, settings.retention_hours * 3600)
    ids = city.series["rain_mm"][0]
    entity_id = ids[len(ids) // 2]
    entity = {**store.entities()[entity_id], "entity_id": entity_id}
    headers = {"Referer": f"{base}/entity/{entity_id}", "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}

    def page() -> None:
        with urlopen(Request(base + "/_dash-layout", headers=headers), timeout=60) as r:
            assert b"entity-chart" in r.read()

    def decoded(start: float, end: float) -> tuple[list[float], list[float]]:
        named, batches = orjson.dumps(entity_id), []
        since = f"{int((time.time() - WINDOW_S - HISTORY_MARGIN_S) * 1000)}-0"
        for _id, fields in store.redis.xrange(keys.history("rain_mm"), min=since):
            if named in fields[b"d"]:
                columns = orjson.loads(fields[b"d"])
                batches.append((columns["e"], columns["v"], columns["t"]))
        return day_points(batches, entity_id, start, end)

    def timed(f, times: int) -> tuple[float, object]:
        taken, out = [], None
        for _ in range(times):
            start = time.perf_counter()
            out = f()
            taken.append((time.perf_counter() - start) * 1000)
        return statistics.median(taken), out

    page()
    page_ms, _ = timed(page, views)
    day_ms, day = timed(lambda: entity_day(store.redis, entity, settings.rules, time.time()), views)
    before_ms, before = timed(lambda: decoded(day.start, day.end), 3)  # (the same window)
    readings = (day.kinds[0].times, day.kinds[0].values)
    if readings != before:
        raise RuntimeError(f"the entity page read {entity_id}'s day otherwise than decoding its batches")
    say(f"entity page of {entity_id} ({len(readings[0])} readings in 24 h, {store.history_length('rain_mm')} "
        f"batches): server {page_ms:.0f} ms; its day read in {day_ms:.0f} ms (decoding every batch: "
        f"{before_ms:.0f} ms)")
    return {"entity_page_ms": round(page_ms, 1), "entity_day_ms": round(day_ms, 1),
            "entity_day_decoded_ms": round(before_ms, 1), "entity_readings": len(readings[0])}


def _summary(r: dict, say) -> dict:
    load, full_load = r["clients"], r["clients_full"]
    tick_share = r["tick_bytes"] / r["full_bytes"] if r["full_bytes"] else None
    goals = {
        "repaint_s": {"goal": GOAL_REPAINT_S, "met": r["repaint_s"] <= GOAL_REPAINT_S},
        "tick_share": {"goal": GOAL_TICK_SHARE, "value": round(tick_share, 4), "met": tick_share <= GOAL_TICK_SHARE},
        "tick_server_ms": {"goal": GOAL_SERVER_MS, "met": r["tick_server_ms"] <= GOAL_SERVER_MS},
        "clients": {"goal": GOAL_CLIENTS, "goal_p95_ms": GOAL_P95_MS,
                    "met": load["clients"] >= GOAL_CLIENTS and load["p95_ms"] is not None
                    and load["p95_ms"] <= GOAL_P95_MS and set(load["statuses"]) <= {"200", "204"}
                    and not load["failed"]},
    }
    result = {
        "bench": "dashboard",
        "value": r["repaint_s"],
        "unit": "s from a tick's answer (1% of the entities changed) reaching the browser to its repaint",
        "baseline": "the full figure (every entity a point) repainted after 1% changed, Plotly.react in the same "
                    "browser",
        "baseline_value": r["full_repaint_s"],
        "ratio": round(r["repaint_s"] / r["full_repaint_s"], 3) if r["full_repaint_s"] else None,
        "repaint_s": r["repaint_s"],
        "tick_bytes": r["tick_bytes"],
        "full_bytes": r["full_bytes"],
        "tick_server_ms": r["tick_server_ms"],
        "clients": load["clients"],
        "p95_ms": load["p95_ms"],
        **{k: v for k, v in r.items() if k not in ("clients", "clients_full")},
        "load": load,
        "load_full": full_load,
        "goals": goals,
        "goals_met": all(g["met"] for g in goals.values()),
    }
    say(f"repaint {r['repaint_s']:.2f} s (full figure {r['full_repaint_s']:.2f} s); tick {r['tick_bytes']:,} bytes "
        f"= {tick_share:.1%} of the full figure's {r['full_bytes']:,}; server {r['tick_server_ms']} ms per tick "
        f"({r['tick_built_ms']} ms once the version is built) "
        f"(full figure {r['full_server_ms']} ms); {load['clients']} clients p95 {load['p95_ms']} ms "
        f"(every array whole: p95 {full_load['p95_ms']} ms); goals met: {result['goals_met']}")
    return result
