"""Part 2 of `opscentre bench alerts`: observation-stored -> alert-firing latency, under
background ingest, on the whole city of part 1 (its N entities, history, rules and open
alerts stay in Redis: the background is not shrunk to make the evaluation cheap).

A data clock (the simulator's clock at speed 1) starts a minute after the city's last reading,
so every process agrees on `now`.

WORKERS processes stand for RQ workers: each takes the next due job off two shared schedules,
runs it, and after storing runs `evaluate_after_store`, as `jobs.poll` does. Evaluations never
overlap (the engine's lock): whichever worker holds it evaluates, the others keep taking jobs
(what they store waits in the pending set for the holder's next round). Each worker has read
the city's history once before measuring, as a worker that has been running has.
- Background jobs, one every TICK_S: store ingest_rate x TICK_S readings of the city's sensors
  (`Store.write_poll`), round-robin over the kinds and sensors: ordinary readings, each sensor
  near its own current level (white noise around one level for all rivers flipped a tenth of
  the stations across their alert levels on every reading: an alert storm, not background).
- Probe jobs, one every PROBE_EVERY_S: store one 30 mm rain reading for a gauge that has none
  yet (a distinct entity each time, so each makes a new `rain_15min` alert, a rule with
  `for: 0`), noting the wall time before and after the store.
A watcher thread in the measuring process reads the alerts hash (HMGET of the probes due and
not yet seen, every POLL_S) and notes when each alert is first there as firing.

Latency = first seen firing - the return of the probe's store call (also given from its start).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from pathlib import Path

import numpy as np
import redis

from opscentre.bench.alert_city import SOURCE, City, adjusted, bench_settings
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
    fingerprints = [f"{PROBE_RULE}|{e}" for e in probe_ids]
    clock = {"wall_epoch": time.time(), "sim_epoch": city.now + 60, "speed": 1}
    store.set_sim_clock(clock)
    evaluate_city(settings, store)  # the city at the data clock's time, before measuring
    sensors = {kind: (ids, values[:, -1]) for kind, (ids, values, _silent) in city.series.items()}
    workers = _Workers(url, settings.source_path, sensors, ingest_rate, probe_ids)
    say(f"latency: {WORKERS} worker processes; background poll jobs storing {ingest_rate:,.0f} obs/s (one every "
        f"{TICK_S:g} s) and a probe job every {PROBE_EVERY_S:g} s, {samples} probes, each job followed by "
        f"evaluate_after_store ...")
    seen: dict[str, float] = {}
    began = time.time()
    try:
        workers.go(began)
        _watch(client, fingerprints, began, seen, say)
    finally:
        elapsed = time.time() - began
        reports = workers.stop()
    stored = {f: times for r in reports for f, times in r["probes"].items()}
    firing = {a.fingerprint for a in AlertStore(client).alerts().values() if a.state.value == "firing"}
    t = time.perf_counter()
    evaluate_city(settings, store)
    cycle_after_s = time.perf_counter() - t

    after_store = np.array([seen[f] - s for f, (_b, s) in stored.items() if f in seen]) * 1000
    after_start = np.array([seen[f] - b for f, (b, _s) in stored.items() if f in seen]) * 1000
    written = sum(r["written"] for r in reports)
    calls = [d for r in reports for d in r["evaluations"]]
    by_probes = [d for r in reports for d in r["probe_evaluations"]]
    pct = (lambda a, q: round(float(np.percentile(a, q)), 1) if a.size else None)
    return {
        "latency_samples": samples, "latency_seen": int(after_store.size),
        "latency_p50_ms": pct(after_store, 50), "latency_p99_ms": pct(after_store, 99),
        "latency_max_ms": pct(after_store, 100), "latency_from_store_start_p50_ms": pct(after_start, 50),
        "latency_from_store_start_p99_ms": pct(after_start, 99), "latency_goal_p99_ms": 500,
        "latency_goal_met": bool(after_store.size == samples and pct(after_store, 99) <= 500),
        "latency_measured_from": "the probe job's Store.write_poll returning, to its alert first read as firing "
                                 f"from the alerts hash (polled every {POLL_S * 1000:g} ms)",
        "probe_alerts_firing_at_end": len(firing & set(fingerprints)),
        "ingest_rate_target": ingest_rate, "ingest_rate_achieved": round(written / elapsed),
        "ingest_observations": written, "ingest_seconds": round(elapsed, 1),
        # evaluate_after_store calls that ran an evaluation (each runs up to MAX_ROUNDS rounds while
        # data keeps arriving), after background and after probe jobs
        "evaluation_calls": len(calls) + len(by_probes), "evaluation_calls_by_probe_jobs": len(by_probes),
        "evaluation_call_s_median": round(float(np.median(calls + by_probes)), 3) if calls or by_probes else None,
        "evaluation_seconds_total": round(sum(calls) + sum(by_probes), 1),
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


def _watch(client: redis.Redis, fingerprints: list[str], began: float, seen: dict[str, float], say) -> None:
    """Until every probe's alert is seen firing (or DRAIN_S after the last is due): HMGET the
    probes due by now and not yet seen, every POLL_S (not decoded: the watcher must not eat the CPU)."""
    total = len(fingerprints)
    last_due = began + (total - 1) * PROBE_EVERY_S
    reported = 0
    while len(seen) < total and time.time() < last_due + DRAIN_S:
        due = min(total, int((time.time() - began) / PROBE_EVERY_S) + 1)
        waiting = [f for f in fingerprints[:due] if f not in seen]
        if waiting:
            raws = client.hmget(keys.ALERTS, waiting)
            now = time.time()
            for fingerprint, raw in zip(waiting, raws):
                if raw is not None and FIRING in raw:
                    seen[fingerprint] = now
        if due >= reported + max(1, total // 5) and due < total:
            reported = due
            say(f"  {due} probes due, {len(seen)} seen firing")
        time.sleep(POLL_S)


class _Workers:
    """WORKERS worker processes on the shared schedules (spawned: nothing shared but Redis)."""

    def __init__(self, url: str, config: Path | None, sensors: dict[str, tuple[list[str], np.ndarray]], rate: float,
                 probe_ids: list[str], adjust: dict[str, dict] | None = None):
        ctx = multiprocessing.get_context("spawn")
        self.start_at, self.started, self.stopping = ctx.Value("d", 0.0), ctx.Event(), ctx.Event()
        self.results = ctx.Queue()
        schedule = ctx.Array("q", [0, 0])  # the next background job, the next probe job
        self.processes = [ctx.Process(target=_worker, daemon=True, args=(
            url, config, sensors, rate, probe_ids, schedule, self.start_at, self.started, self.stopping,
            self.results, seed, adjust)) for seed in range(WORKERS)]
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
        failed = [r["error"] for r in reports if r.get("error")]
        if failed:  # a job that failed fails the benchmark
            raise RuntimeError(f"a benchmark worker failed: {failed[0]}")
        return reports


def _next_job(schedule, start_at: float, probes: int) -> tuple[str, int, float]:
    """Take the job due first off the two schedules: ('poll' | 'probe', its number, when due)."""
    with schedule.get_lock():
        poll_due = start_at + schedule[0] * TICK_S
        probe_due = start_at + schedule[1] * PROBE_EVERY_S if schedule[1] < probes else float("inf")
        which = 1 if probe_due <= poll_due else 0
        number = schedule[which]
        schedule[which] += 1
    return ("probe", number, probe_due) if which else ("poll", number, poll_due)


def _worker(url: str, config: Path | None, sensors: dict[str, tuple[list[str], np.ndarray]], rate: float,
            probe_ids: list[str],
            schedule, start_at, go, stop, results, seed: int, adjust: dict[str, dict] | None = None) -> None:
    """One worker: take the next due job, store what it polled, evaluate after it."""
    report: dict = {"written": 0, "evaluations": [], "probe_evaluations": [], "probes": {}}
    try:
        _work(url, config, sensors, rate, probe_ids, schedule, start_at, go, stop, results, seed, report, adjust)
    except Exception as exc:  # noqa: BLE001 (reported to the measuring process, which raises it)
        report["error"] = f"{type(exc).__name__}: {exc}"
    results.put(report)


def _work(url, config, sensors, rate, probe_ids, schedule, start_at, go, stop, results, seed, report,
          adjust) -> None:
    logging.getLogger("opscentre.alerts").setLevel(logging.WARNING)
    settings = adjusted(bench_settings(load_settings(config)), adjust)
    store = Store(redis.Redis.from_url(url))
    clock = store.sim_clock()
    store.entities()
    tune_gc_for_bulk_parsing()
    read_readings(settings, store, sim_now(clock, time.time()), time.time())  # a worker that has been running
    rng = np.random.default_rng(seed)
    kinds = sorted(sensors)
    per_job = max(1, int(round(rate * TICK_S)))
    retention_s = settings.retention_hours * 3600
    results.put("ready")
    go.wait()
    while not stop.is_set():
        job, number, due = _next_job(schedule, start_at.value, len(probe_ids))
        delay = due - time.time()
        if delay > 0 and stop.wait(delay):
            break
        wall = time.time()
        if job == "probe":
            entity_id = probe_ids[number]
            kind, batch_ids, values = "rain_mm", [entity_id], [PROBE_MM]
        else:
            kind = kinds[number % len(kinds)]
            ids, levels = sensors[kind]
            first = (number // len(kinds)) * per_job
            rows = [i % len(ids) for i in range(first, first + per_job)]
            batch_ids = [ids[i] for i in rows]
            values = _values(kind, rng, levels[rows])
        batch = ObservationBatch(source=SOURCE, kind=kind, entity_ids=batch_ids, values=values,
                                 observed_at=[sim_now(clock, wall)] * len(batch_ids))
        if job == "probe":
            store.write_poll(SOURCE, [], [batch], {}, {}, retention_s, wall)
        else:
            store.write_poll("background", [], [batch], {"status": "ok", "last_success_ts": wall}, {"polls": 1},
                             retention_s, wall)
        stored = time.time()
        if job == "probe":
            report["probes"][f"{PROBE_RULE}|{entity_id}"] = (wall, stored)
        else:
            report["written"] += len(batch_ids)
        t = time.perf_counter()
        summary = evaluate_after_store(settings, store, kinds={kind}, entities={kind: set(batch_ids)})
        if summary is not None and not summary.skipped:
            report["probe_evaluations" if job == "probe" else "evaluations"].append(time.perf_counter() - t)


def _values(kind: str, rng: np.random.Generator, levels: np.ndarray) -> list[float]:
    """Ordinary readings: drizzle, and each other sensor near its own current reading (its
    river's level, its street's speed, its station's temperature), as the next poll brings."""
    n = len(levels)
    if kind == "rain_mm":
        v = np.where(rng.random(n) < 0.05, rng.exponential(0.5, n), 0.0)
    elif kind == "traffic_speed_kmh":
        v = np.clip(levels + rng.normal(0, 2, n), 3, 110)
    elif kind == "air_temp_c":
        v = levels + rng.normal(0, 0.3, n)
    else:
        v = levels + rng.normal(0, 0.02, n)
    return np.round(v, 3).tolist()
