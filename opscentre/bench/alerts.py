"""`opscentre bench alerts`: the alert engine at city scale, beside a plain-Python baseline.

1. Evaluation cycle. The 30 rules and the city of bench/alert_city.py (N entities in the
   config's zones, `hours` of history every 15 min) are stored in a fresh embedded Redis the
   way the pipeline stores polls. Measured:
   - the full cycle as a worker runs it (`evaluate_city`: read Redis -> evaluate -> store
     alerts, audit, incidents and stage), in a process of its own (bench/alert_worker.py):
     cold (the first, which opens every alert) and warm (the median of the timer evaluations
     that follow, 15 s of data time apart), where a warm cycle's time goes (read_readings,
     evaluate, AlertStore.apply, the rest), and that process's peak resident memory (`worker_*`);
   - the pure `evaluate` on prebuilt Readings: cold (no open alerts) and warm (with them);
   - the baseline (bench/alert_baseline.py) on the same data, checked to hold exactly the
     (rule, key, severity) set of the engine's open alerts.
   `value` is the pure evaluation, warm (what every evaluation pays in steady state); the
   ratio is baseline / value. The full cycle's figures are beside it (`cycle_*`).
2. Latency, stored -> firing, under background ingest (bench/alert_latency.py).
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import redis

from opscentre.bench.alert_baseline import baseline_evaluate, per_entity_series
from opscentre.bench.alert_city import STEP_S, TYPES, bench_settings, make_city, store_city
from opscentre.bench.alert_worker import TIMER_S, run_worker_cycles
from opscentre.core.alerting.engine import evaluate
from opscentre.core.alerting.readings import Readings
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.processes.redis_server import RedisServer
from opscentre.processes.tuning import tune_gc_for_bulk_parsing
from opscentre.workers.evaluation import _display_names, _registry

CYCLE_GOAL_S = 1.0
WORKER_RSS_GOAL_MB = 2048  # issue 14: a worker evaluating the city under 2 GB


def run_alerts_bench(settings: Settings, entities: int = 50_000, hours: float = 24.0, samples: int = 1000,
                     ingest_rate: float = 10_000.0, repeats: int = 5, progress: bool = True,
                     baseline: bool = True) -> dict:
    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    # evaluate_city logs every transition at INFO: thousands of lines on the first cycle
    logging.getLogger("opscentre.alerts").setLevel(logging.WARNING)
    settings = bench_settings(settings)
    say(f"building a city of {entities:,} entities ({', '.join(t for t, *_ in TYPES)}) in "
        f"{len(settings.zones.ids)} zones, {hours:g} h of readings every {STEP_S / 60:g} min, "
        f"{len(settings.rules)} rules")
    city = make_city(settings, entities, hours, now=math.floor(time.time() / STEP_S) * STEP_S)
    with tempfile.TemporaryDirectory(prefix="opscentre-bench-") as tmp:
        server = RedisServer(Path(tmp), persist=False).start()
        try:
            # (a poll of a large city is one script of 250,000 readings: longer than redis-py's 5 s default)
            store = Store(redis.Redis.from_url(server.url, socket_timeout=600))
            t = time.perf_counter()
            stored = store_city(store, city, settings.retention_hours * 3600)
            load_s = time.perf_counter() - t
            say(f"stored {stored:,} observations in {len(city.times)} polls in {load_s:.1f} s "
                f"({stored / load_s:,.0f} obs/s, Store.write_poll)")
            tune_gc_for_bulk_parsing()  # as the worker process does
            result = _cycle(settings, store, server.url, city, repeats, baseline, say)
            result.update(entities=len(city.entities), hours=hours, history_observations=stored,
                          load_s=round(load_s, 2), storm_zones=len(city.storm_zones),
                          redis_used_memory_mb=round(store.redis.info("memory")["used_memory"] / 2**20))
            if samples:
                from opscentre.bench.alert_latency import run_latency

                result.update(run_latency(settings, server.url, city, samples, ingest_rate, say))
        finally:
            server.stop()
    _summarise(result, say)
    return result


def _cycle(settings: Settings, store: Store, url: str, city, repeats: int, baseline: bool, say) -> dict:
    """The full cycle in a worker process of its own, cold and warm, where a warm one's time goes
    and the worker's peak memory; then the pure evaluation and the baseline here."""
    say("full cycle (evaluate_city: read Redis -> evaluate -> store) in a worker process of its own, cold, "
        f"then warm x{repeats} ...")
    load_before = os.getloadavg()
    worker = run_worker_cycles(settings.source_path, url, city.now, repeats)
    say(f"  cold: {worker['cycle_cold_s']:.2f} s ({worker['cycle_cold_cpu_s']:.2f} s CPU), warm "
        f"{worker['cycle_warm_s']:.2f} s ({worker['cycle_warm_cpu_s']:.2f} s CPU; each: "
        f"{', '.join(f'{w:.2f}' for w in worker['cycle_warm_runs_s'])} s); worker peak RSS "
        f"{worker['worker_peak_rss_mb']:,} MB (cold {worker['worker_peak_rss_cold_mb']:,} MB), holding "
        f"{worker['worker_rss_held_mb']:,} MB")
    registry, _stamp = _registry(store.entities(), settings.zones.ids)
    names = _display_names(settings, registry)
    result = _pure_and_baseline(settings, store, city, repeats, names, baseline, say)
    # the worker's cold cycle (reading Redis through its cache) found what the pure evaluation
    # on Readings built from the stored batches found
    ours = set(result.pop("engine_alerts").items())
    theirs = {(rule, key): severity for rule, key, severity in worker.pop("cold_alerts")}
    worker_differ = sorted(ours ^ set(theirs.items()))
    result.update(worker, worker_agrees=not worker_differ, worker_differences=[list(d) for d in worker_differ[:10]])
    result.update(cycle_goal_s=CYCLE_GOAL_S, cycle_goal_met=worker["cycle_warm_s"] <= CYCLE_GOAL_S,
                  worker_rss_goal_mb=WORKER_RSS_GOAL_MB,
                  worker_rss_goal_met=worker["worker_peak_rss_mb"] < WORKER_RSS_GOAL_MB,
                  load_average_during_cycles=[round(x, 2) for x in load_before],
                  load_average_after=[round(x, 2) for x in os.getloadavg()])
    return result


def _pure_and_baseline(settings: Settings, store: Store, city, repeats: int, names: dict, baseline: bool,
                       say) -> dict:
    """The pure evaluation on prebuilt Readings, and the baseline on the same stored data."""
    say("pure evaluate on prebuilt Readings ...")
    rules, kinds, entities = settings.rules, sorted(city.series), store.entities()
    history = {kind: store.history_batches(kind, city.now - len(city.times) * STEP_S) for kind in kinds}
    latest = store.latest_many(kinds)
    readings = Readings.build(entities, settings.zones.ids, latest, history)
    cold, fresh = _timed(3, lambda: evaluate(rules, {}, readings, city.now, names))
    warm, _ = _timed(repeats, lambda: evaluate(rules, fresh.alerts, readings, city.now + TIMER_S, names))

    ours = {(a.rule, a.key): a.severity.value for a in fresh.alerts.values() if a.active}
    differ, baseline_s, prepare_s, expected = [], math.nan, math.nan, None
    if baseline:
        say("baseline: plain Python, rule by rule, entity by entity ...")
        t = time.perf_counter()
        series = per_entity_series(history)
        prepare_s = time.perf_counter() - t
        t = time.perf_counter()
        expected = baseline_evaluate(rules, entities, latest, series, city.now)
        baseline_s = time.perf_counter() - t
        differ = sorted(set(ours.items()) ^ set(expected.items()))
    states = Counter(a.state.value for a in fresh.alerts.values())
    value = statistics.median(warm)
    return {
        "bench": "alerts",
        "value": round(value, 4),
        "unit": f"s per pure evaluation of {len(rules)} rules over {len(entities):,} entities (engine.evaluate on "
                "prebuilt Readings, warm: median, with the open alerts of the previous evaluation)",
        "baseline": "plain Python: per rule, per entity, window aggregates computed from the entity's (t, v) list",
        "baseline_value": round(baseline_s, 3) if baseline else None,
        "ratio": round(baseline_s / value, 2) if baseline else None,
        "ratio_cold": round(baseline_s / statistics.median(cold), 2) if baseline else None,
        "evaluate_cold_s": round(statistics.median(cold), 4),
        "evaluate_warm_s": round(value, 4),
        "rules": len(rules),
        "open_alerts": len(ours),
        "firing": states.get("firing", 0),
        "pending": states.get("pending", 0),
        "rules_with_alerts": len({rule for rule, _key in ours}),
        "alerts_by_rule": dict(sorted(Counter(rule for rule, _key in ours).items())),
        "baseline_alerts": len(expected) if baseline else None,
        "baseline_agrees": not differ if baseline else None,
        "baseline_differences": [list(d) for d in differ[:10]],
        "baseline_prepare_s": round(prepare_s, 3) if baseline else None,
        "engine_alerts": ours,
    }


@contextmanager
def _timing(*functions):
    """Time calls of (owner, name) functions, by name, while inside (restored after)."""
    took: dict[str, float] = {}
    originals = [(owner, name, getattr(owner, name)) for owner, name in functions]

    def timed(name, function):
        def call(*args, **kwargs):
            t = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                took[name] = took.get(name, 0.0) + time.perf_counter() - t
        return call

    for owner, name, function in originals:
        setattr(owner, name, timed(name, function))
    try:
        yield took
    finally:
        for owner, name, function in originals:
            setattr(owner, name, function)


def _timed(times: int, run):
    took, result = [], None
    for _ in range(times):
        t = time.perf_counter()
        result = run()
        took.append(time.perf_counter() - t)
    return took, result


def _summarise(r: dict, say) -> None:
    say(f"cycle (evaluate_city): cold {r['cycle_cold_s']:.2f} s, warm {r['cycle_warm_s']:.2f} s "
        f"(goal {CYCLE_GOAL_S:g} s: {'met' if r['cycle_goal_met'] else 'NOT met'}); warm phases: "
        + ", ".join(f"{k} {v:.2f}" for k, v in r["cycle_phases_s"].items()))
    say(f"pure evaluate: cold {r['evaluate_cold_s']:.3f} s, warm {r['evaluate_warm_s']:.3f} s; "
        f"{r['open_alerts']:,} open alerts ({r['firing']:,} firing, {r['pending']} pending) from "
        f"{r['rules_with_alerts']}/{r['rules']} rules, stage {r['stage']}")
    say(f"worker process: peak RSS {r['worker_peak_rss_mb']:,} MB (goal under {WORKER_RSS_GOAL_MB:,} MB: "
        f"{'met' if r['worker_rss_goal_met'] else 'NOT met'}), reached by the end of the cold cycle "
        f"{r['worker_peak_rss_cold_mb']:,} MB, holding {r['worker_rss_held_mb']:,} MB after the warm ones "
        f"(Redis {r['redis_used_memory_mb']:,} MB); its cold cycle's alerts "
        f"{'agree' if r['worker_agrees'] else 'DISAGREE'} with the pure evaluation's; load average "
        + " ".join(f"{x:.2f}" for x in r["load_average_during_cycles"]))
    if r["baseline_agrees"] is not None:
        say(f"baseline: {r['baseline_value']:.2f} s, {r['baseline_alerts']:,} alerts, "
            f"{'agrees' if r['baseline_agrees'] else 'DISAGREES'} with the engine; ratio {r['ratio']:.1f}x warm, "
            f"{r['ratio_cold']:.1f}x cold")
    if "latency_p50_ms" in r:
        say(f"latency stored -> firing: p50 {r['latency_p50_ms']} ms, p99 {r['latency_p99_ms']} ms over "
            f"{r['latency_seen']}/{r['latency_samples']} alerts (goal p99 500 ms: "
            f"{'met' if r['latency_goal_met'] else 'NOT met'}); background ingest {r['ingest_rate_achieved']:,} obs/s "
            f"(target {r['ingest_rate_target']:,.0f}); {r['evaluation_calls']} evaluate_after_store calls evaluated "
            f"(median {r['evaluation_call_s_median']} s each, up to 5 rounds); a cycle after the run "
            f"{r['cycle_after_ingest_s']:.2f} s")
        if not r["latency_goal_met"]:
            say("  note: a probe's alert appears once an evaluation that read it has finished; with 10 polls/s "
                "arriving, evaluations of what they stored run back to back and a probe waits for the one "
                "running, then its own")
