"""Part 2 of `opscentre bench alerts`: observation-stored -> alert-firing latency, under
background ingest, on the whole city of part 1 (its N entities, history, rules and open
alerts stay in Redis: the background is not shrunk to make the evaluation cheap).

A data clock (the simulator's clock at speed 1) starts a minute after the city's last reading,
so every process agrees on `now`.

- Background: WORKERS processes, each an RQ-like worker taking poll jobs off one shared
  schedule — a job every TICK_S storing ingest_rate × TICK_S readings of the city's sensors
  through `Store.write_poll` — and running `evaluate_after_store` after each, as `jobs.poll`
  does. Evaluations never overlap (the engine's lock): whichever worker holds it evaluates,
  the others keep polling. Each worker has read the city's history once before measuring,
  as a worker that has been running has (its history cache is warm).
- Foreground: every PROBE_EVERY_S a probe job stores one 30 mm rain reading for a gauge that
  has none yet (a distinct entity each time, so each makes a new `rain_15min` alert, a rule
  with `for: 0`) and runs `evaluate_after_store`, on a thread pool so that an evaluation there
  does not hold up the next probe. A watcher thread reads the alerts hash (HMGET of the
  outstanding fingerprints every POLL_S) and notes when each alert is first there as firing.

Latency = first seen firing - the return of the probe's store call (also given from its start).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import redis

from opscentre.bench.alert_city import SOURCE, City, bench_settings
from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.clock import sim_now
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.settings import Settings, load_settings
from opscentre.core.store import Store
from opscentre.processes.tuning import tune_gc_for_bulk_parsing
from opscentre.workers.evaluation import evaluate_city, read_readings
from opscentre.workers.jobs import evaluate_after_store

WORKERS = 2
TICK_S = 0.1
PROBE_EVERY_S = 0.1
POLL_S = 0.01
DRAIN_S = 120.0  # after the last probe, wait this long for the rest to fire
PROBE_RULE, PROBE_MM = "rain_15min", 30.0
FIRING = b'"state":"firing"'  # as Alert.model_dump_json writes it


def run_latency(settings: Settings, url: str, city: City, samples: int, ingest_rate: float, say) -> dict:
    client = redis.Redis.from_url(url)
    store = Store(client)
    probe_ids = _register_probes(settings, store, samples)
    clock = {"wall_epoch": time.time(), "sim_epoch": city.now + 60, "speed": 1}
    store.set_sim_clock(clock)
    evaluate_city(settings, store)  # the city at the data clock's time, before measuring
    ids_by_kind = {kind: ids for kind, (ids, _values, _silent) in city.series.items()}
    background = _Background(url, settings.source_path, ids_by_kind, ingest_rate)
    say(f"latency: {WORKERS} background workers storing {ingest_rate:,.0f} obs/s (a poll every {TICK_S:g} s, each "
        f"followed by evaluate_after_store); a probe every {PROBE_EVERY_S:g} s, {samples} probes ...")
    probes = _Probes(settings, url, clock, probe_ids)
    began = time.time()
    try:
        background.go(began)
        probes.play(say)
    finally:
        elapsed = time.time() - began
        reports = background.stop()
    firing = {a.fingerprint for a in AlertStore(client).alerts().values() if a.state.value == "firing"}
    t = time.perf_counter()
    evaluate_city(settings, store)
    cycle_after_s = time.perf_counter() - t

    after_store = np.array([probes.seen[f] - s for f, (_b, s) in probes.stored.items() if f in probes.seen]) * 1000
    after_start = np.array([probes.seen[f] - b for f, (b, _s) in probes.stored.items() if f in probes.seen]) * 1000
    written = sum(r["written"] for r in reports)
    calls = [d for r in reports for d in r["evaluations"]] + probes.evaluations
    pct = (lambda a, q: round(float(np.percentile(a, q)), 1) if a.size else None)
    return {
        "latency_samples": samples, "latency_seen": int(after_store.size),
        "latency_p50_ms": pct(after_store, 50), "latency_p99_ms": pct(after_store, 99),
        "latency_max_ms": pct(after_store, 100), "latency_from_store_start_p50_ms": pct(after_start, 50),
        "latency_from_store_start_p99_ms": pct(after_start, 99), "latency_goal_p99_ms": 500,
        "latency_goal_met": bool(after_store.size == samples and pct(after_store, 99) <= 500),
        "latency_measured_from": "the probe's Store.write_poll returning, to its alert first read as firing "
                                 f"from the alerts hash (polled every {POLL_S * 1000:g} ms)",
        "probe_alerts_firing_at_end": len(firing & set(probes.stored)),
        "ingest_rate_target": ingest_rate, "ingest_rate_achieved": round(written / elapsed),
        "ingest_observations": written, "ingest_seconds": round(elapsed, 1),
        # evaluate_after_store calls that ran an evaluation (each runs up to MAX_ROUNDS rounds while
        # data keeps arriving), by the background workers and by the probe jobs
        "evaluation_calls": len(calls), "evaluation_calls_by_probe_jobs": len(probes.evaluations),
        "evaluation_call_s_median": round(float(np.median(calls)), 3) if calls else None,
        "evaluation_seconds_total": round(sum(calls), 1),
        "cycle_after_ingest_s": round(cycle_after_s, 3),
    }


def _register_probes(settings: Settings, store: Store, samples: int) -> list[str]:
    """The probe gauges, registered once before measuring (as a feed registers its sensors)."""
    zones = settings.zones
    points = dict(zip(zones.ids, zones.representative_points))
    entities = []
    for i in range(samples):
        zone_id = zones.ids[i % len(zones.ids)]
        entities.append(Entity(entity_id=f"probe-{i:06d}", entity_type="rain_gauge", name=f"probe {i}",
                               source=SOURCE, zone_id=zone_id,
                               geometry={"type": "Point", "coordinates": list(points[zone_id])}))
    store.write_poll(SOURCE, entities, [], {}, {}, settings.retention_hours * 3600, time.time())
    return [e.entity_id for e in entities]


class _Probes:
    """The foreground: probe jobs on a fixed schedule, and a watcher of the alerts hash."""

    def __init__(self, settings: Settings, url: str, clock: dict, entity_ids: list[str]):
        self.settings, self.url, self.clock, self.entity_ids = settings, url, clock, entity_ids
        self.stored: dict[str, tuple[float, float]] = {}  # fingerprint -> (store started, store returned)
        self.seen: dict[str, float] = {}  # fingerprint -> first read as firing
        self.evaluations: list[float] = []
        self._lock = threading.Lock()
        self.store = Store(redis.Redis.from_url(url))

    def play(self, say) -> None:
        done = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(done,), daemon=True)
        watcher.start()
        total, t0 = len(self.entity_ids), time.perf_counter()
        try:
            with ThreadPoolExecutor(max_workers=3) as pool:
                jobs = []
                for i, entity_id in enumerate(self.entity_ids):
                    time.sleep(max(0.0, t0 + i * PROBE_EVERY_S - time.perf_counter()))
                    jobs.append(pool.submit(self._probe, entity_id))
                    if i and i % max(1, total // 5) == 0:
                        say(f"  {i} probes stored, {len(self.seen)} seen firing")
                deadline = time.perf_counter() + DRAIN_S
                while len(self.seen) < total and time.perf_counter() < deadline:
                    if any(j.done() and j.exception() for j in jobs):
                        break
                    time.sleep(0.05)
                for j in jobs:
                    j.result()  # a probe job that failed fails the benchmark
        finally:
            done.set()
            watcher.join()

    def _probe(self, entity_id: str) -> None:
        store = self.store  # one per process, as in a worker (its decoded registry is shared)
        wall = time.time()
        batch = ObservationBatch(source=SOURCE, kind="rain_mm", entity_ids=[entity_id], values=[PROBE_MM],
                                 observed_at=[sim_now(self.clock, wall)])
        t_start = time.perf_counter()
        store.write_poll(SOURCE, [], [batch], {}, {}, self.settings.retention_hours * 3600, wall)
        t_stored = time.perf_counter()
        with self._lock:
            self.stored[f"{PROBE_RULE}|{entity_id}"] = (t_start, t_stored)
        # what the poll job runs next
        summary = evaluate_after_store(self.settings, store, kinds={"rain_mm"}, entities={"rain_mm": {entity_id}})
        if summary is not None and not summary.skipped:
            self.evaluations.append(time.perf_counter() - t_stored)

    def _watch(self, done: threading.Event) -> None:
        client = redis.Redis.from_url(self.url)
        while not done.is_set():
            with self._lock:
                waiting = [f for f in self.stored if f not in self.seen]
            if waiting:
                raws = client.hmget(keys.ALERTS, waiting)
                now = time.perf_counter()
                for fingerprint, raw in zip(waiting, raws):
                    if raw is not None and FIRING in raw:  # (not decoded: the watcher must not eat the CPU)
                        self.seen[fingerprint] = now
            time.sleep(POLL_S)


class _Background:
    """WORKERS worker processes on one shared poll schedule (spawned: nothing shared but Redis)."""

    def __init__(self, url: str, config: Path | None, ids_by_kind: dict[str, list[str]], rate: float):
        ctx = multiprocessing.get_context("spawn")
        self.start_at, self.started, self.stopping = ctx.Value("d", 0.0), ctx.Event(), ctx.Event()
        self.results = ctx.Queue()
        counter = ctx.Value("q", 0)
        self.processes = [ctx.Process(target=_background_worker, daemon=True, args=(
            url, config, ids_by_kind, rate, counter, self.start_at, self.started, self.stopping, self.results, seed))
            for seed in range(WORKERS)]
        for p in self.processes:
            p.start()
        for _ in self.processes:
            self.results.get(timeout=120)  # "ready": imports, config and registry loaded

    def go(self, at: float) -> None:
        self.start_at.value = at
        self.started.set()

    def stop(self) -> list[dict]:
        self.stopping.set()
        self.started.set()
        reports = []
        try:
            reports = [self.results.get(timeout=300) for _ in self.processes]
        finally:
            for p in self.processes:
                p.join(timeout=10)
                if p.is_alive():
                    p.terminate()
                    p.join()
        return reports


def _background_worker(url: str, config: Path | None, ids_by_kind: dict[str, list[str]], rate: float, counter,
                       start_at, go, stop, results, seed: int) -> None:
    """One worker: take the next poll job off the shared schedule, store it, evaluate after it."""
    logging.getLogger("opscentre.alerts").setLevel(logging.WARNING)
    settings = bench_settings(load_settings(config))
    store = Store(redis.Redis.from_url(url))
    clock = store.sim_clock()
    store.entities()
    tune_gc_for_bulk_parsing()
    read_readings(settings, store, sim_now(clock, time.time()), time.time())  # a worker that has been running
    rng = np.random.default_rng(seed)
    kinds = sorted(ids_by_kind)
    per_job = max(1, int(round(rate * TICK_S)))
    retention_s = settings.retention_hours * 3600
    results.put("ready")
    go.wait()
    written, evaluations = 0, []
    while not stop.is_set():
        with counter.get_lock():
            job = counter.value
            counter.value += 1
        delay = start_at.value + job * TICK_S - time.time()
        if delay > 0 and stop.wait(delay):
            break
        kind = kinds[job % len(kinds)]
        ids = ids_by_kind[kind]
        first = (job // len(kinds)) * per_job
        batch_ids = [ids[i % len(ids)] for i in range(first, first + per_job)]
        wall = time.time()
        batch = ObservationBatch(source=SOURCE, kind=kind, entity_ids=batch_ids, values=_values(kind, rng, per_job),
                                 observed_at=[sim_now(clock, wall)] * per_job)
        store.write_poll("background", [], [batch], {"status": "ok", "last_success_ts": wall}, {"polls": 1},
                         retention_s, wall)
        written += per_job
        t = time.perf_counter()
        summary = evaluate_after_store(settings, store, kinds={kind}, entities={kind: set(batch_ids)})
        if summary is not None and not summary.skipped:
            evaluations.append(time.perf_counter() - t)
    results.put({"written": written, "evaluations": evaluations})


def _values(kind: str, rng: np.random.Generator, n: int) -> list[float]:
    """Ordinary readings: drizzle, free-flowing traffic, a warm day, rivers at their usual level."""
    if kind == "rain_mm":
        v = np.where(rng.random(n) < 0.05, rng.exponential(0.5, n), 0.0)
    elif kind == "traffic_speed_kmh":
        v = np.clip(rng.normal(45, 8, n), 3, 110)
    elif kind == "air_temp_c":
        v = rng.normal(29, 1.5, n)
    else:
        v = rng.uniform(0.8, 1.6, n)
    return np.round(v, 3).tolist()
