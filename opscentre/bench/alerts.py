"""`opscentre bench alerts`: the alert engine at city scale, beside a plain-Python baseline.

1. Evaluation cycle. The 30 rules and the city of bench/alert_city.py (N entities in the
   config's zones, `hours` of history every 15 min) are stored in a fresh embedded Redis the
   way the pipeline stores polls. Measured:
   - the full cycle as a worker runs it (`evaluate_city`: read Redis -> evaluate -> store
     alerts, audit, incidents and stage): cold (the first, which opens every alert) and warm
     (the median of the timer evaluations that follow, 15 s of data time apart), and where a
     warm cycle's time goes (read_readings, evaluate, AlertStore.apply, the rest);
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
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.engine import evaluate
from opscentre.core.alerting.readings import Readings
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.processes.redis_server import RedisServer
from opscentre.processes.tuning import tune_gc_for_bulk_parsing
from opscentre.workers import evaluation as evaluation_module
from opscentre.workers.evaluation import evaluate_city, read_readings

CYCLE_GOAL_S = 1.0
TIMER_S = 15.0  # the timer evaluation's period (alerting.evaluate_every_s)


def run_alerts_bench(settings: Settings, entities: int = 50_000, hours: float = 24.0, samples: int = 1000,
                     ingest_rate: float = 10_000.0, repeats: int = 5, progress: bool = True) -> dict:
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
            store = Store(redis.Redis.from_url(server.url))
            t = time.perf_counter()
            stored = store_city(store, city, settings.retention_hours * 3600)
            load_s = time.perf_counter() - t
            say(f"stored {stored:,} observations in {len(city.times)} polls in {load_s:.1f} s "
                f"({stored / load_s:,.0f} obs/s, Store.write_poll)")
            tune_gc_for_bulk_parsing()  # as the worker process does
            result = _cycle(settings, store, city, repeats, say)
            result.update(entities=len(city.entities), hours=hours, history_observations=stored,
                          load_s=round(load_s, 2), storm_zones=len(city.storm_zones))
            if samples:
                from opscentre.bench.alert_latency import run_latency

                result.update(run_latency(settings, server.url, city, samples, ingest_rate, say))
        finally:
            server.stop()
    _summarise(result, say)
    return result


def _cycle(settings: Settings, store: Store, city, repeats: int, say) -> dict:
    """The full cycle, as the worker runs it, cold and warm; and where a warm one's time goes."""
    say("full cycle (evaluate_city: read Redis -> evaluate -> store), cold ...")
    t = time.perf_counter()
    first = evaluate_city(settings, store, now=city.now)
    cold_s = time.perf_counter() - t
    say(f"  cold: {cold_s:.2f} s, {first.transitions:,} transitions, stage {first.stage}; warm x{repeats} ...")
    warm = []
    for k in range(1, repeats + 1):
        t = time.perf_counter()
        evaluate_city(settings, store, now=city.now + TIMER_S * k)
        warm.append(time.perf_counter() - t)
    # One more warm cycle, its steps timed where evaluate_city calls them; "other" is the rest:
    # reading the alerts, the stage, incidents, reminders, silences.
    steps = ((evaluation_module, "read_readings"), (evaluation_module, "evaluate"), (AlertStore, "apply"))
    with _timing(*steps) as phases:
        t = time.perf_counter()
        evaluate_city(settings, store, now=city.now + TIMER_S * (repeats + 1))
        phases["cycle"] = time.perf_counter() - t
    phases["other"] = phases["cycle"] - phases["read_readings"] - phases["evaluate"] - phases["apply"]
    _readings, names = read_readings(settings, store, city.now, time.time())
    result = _pure_and_baseline(settings, store, city, repeats, names, say)
    order = ("cycle", "read_readings", "evaluate", "apply", "other")
    result["cycle_phases_s"] = {k: round(phases[k], 3) for k in order}
    result.update(cycle_cold_s=round(cold_s, 3), cycle_warm_s=round(statistics.median(warm), 3),
                  cycle_warm_runs_s=[round(w, 3) for w in warm], cycle_goal_s=CYCLE_GOAL_S,
                  cycle_goal_met=statistics.median(warm) <= CYCLE_GOAL_S, stage=first.stage,
                  cycle_open_alerts=first.open_alerts)
    return result


def _pure_and_baseline(settings: Settings, store: Store, city, repeats: int, names: dict, say) -> dict:
    """The pure evaluation on prebuilt Readings, and the baseline on the same stored data."""
    say("pure evaluate on prebuilt Readings ...")
    rules, kinds, entities = settings.rules, sorted(city.series), store.entities()
    history = {kind: store.history_batches(kind, city.now - len(city.times) * STEP_S) for kind in kinds}
    latest = store.latest_many(kinds)
    readings = Readings.build(entities, settings.zones.ids, latest, history)
    cold, fresh = _timed(3, lambda: evaluate(rules, {}, readings, city.now, names))
    warm, _ = _timed(repeats, lambda: evaluate(rules, fresh.alerts, readings, city.now + TIMER_S, names))

    say("baseline: plain Python, rule by rule, entity by entity ...")
    t = time.perf_counter()
    series = per_entity_series(history)
    prepare_s = time.perf_counter() - t
    t = time.perf_counter()
    expected = baseline_evaluate(rules, entities, latest, series, city.now)
    baseline_s = time.perf_counter() - t
    ours = {(a.rule, a.key): a.severity.value for a in fresh.alerts.values() if a.active}
    differ = sorted(set(ours.items()) ^ set(expected.items()))
    states = Counter(a.state.value for a in fresh.alerts.values())
    value = statistics.median(warm)
    return {
        "bench": "alerts",
        "value": round(value, 4),
        "unit": f"s per pure evaluation of {len(rules)} rules over {len(entities):,} entities (engine.evaluate on "
                "prebuilt Readings, warm: median, with the open alerts of the previous evaluation)",
        "baseline": "plain Python: per rule, per entity, window aggregates computed from the entity's (t, v) list",
        "baseline_value": round(baseline_s, 3),
        "ratio": round(baseline_s / value, 2),
        "ratio_cold": round(baseline_s / statistics.median(cold), 2),
        "evaluate_cold_s": round(statistics.median(cold), 4),
        "evaluate_warm_s": round(value, 4),
        "rules": len(rules),
        "open_alerts": len(ours),
        "firing": states.get("firing", 0),
        "pending": states.get("pending", 0),
        "rules_with_alerts": len({rule for rule, _key in ours}),
        "alerts_by_rule": dict(sorted(Counter(rule for rule, _key in ours).items())),
        "baseline_alerts": len(expected),
        "baseline_agrees": not differ,
        "baseline_differences": [list(d) for d in differ[:10]],
        "baseline_prepare_s": round(prepare_s, 3),
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
