"""The evaluation cycle of `opscentre bench alerts` in a process of its own, as a worker runs it:
spawned (nothing shared with the benchmark but Redis), it loads the config, tunes the GC as the
worker does, then runs `evaluate_city` cold (the first cycle: it decodes every history window
and opens every alert), warm `repeats` times (timer evaluations 15 s of data time apart) and
once more with its steps timed. It reports the times and the process's memory: its peak
resident set (VmHWM: the kernel's high-water mark of this process's own pages; a spawned
child's `ru_maxrss` would include what its parent had resident when it forked) after start-up,
after the cold cycle and at the end, and what it holds resident then; and the CPU time each
cycle took (beside the wall time, which on a loaded machine includes waiting for a core).
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import statistics
import time
from pathlib import Path

import psutil
import redis

from opscentre.bench.alert_city import bench_settings

TIMER_S = 15.0  # the timer evaluation's period (alerting.evaluate_every_s)
MB = 1024 * 1024


def run_worker_cycles(config: Path | None, url: str, now: float, repeats: int, timeout_s: float = 3600) -> dict:
    """Spawn the worker, wait for its report (raises what it raised)."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    process = ctx.Process(target=_worker, args=(config, url, now, repeats, results), daemon=True)
    process.start()
    try:
        report = results.get(timeout=timeout_s)
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()
            process.join()
    if report.get("error"):
        raise RuntimeError(f"the benchmark's worker process failed: {report['error']}")
    return report


def peak_rss_bytes() -> int:
    """This process's peak resident set: VmHWM from /proc (Linux), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # (kB on Linux)


def _worker(config: Path | None, url: str, now: float, repeats: int, results) -> None:
    try:
        report = _cycles(config, url, now, repeats)
    except Exception as exc:  # noqa: BLE001 (reported to the measuring process, which raises it)
        report = {"error": f"{type(exc).__name__}: {exc}"}
    results.put(report)


def _cycles(config: Path | None, url: str, now: float, repeats: int) -> dict:
    from opscentre.bench.alerts import _timing
    from opscentre.core.alert_store import AlertStore
    from opscentre.core.settings import load_settings
    from opscentre.core.store import Store
    from opscentre.processes.tuning import tune_gc_for_bulk_parsing
    from opscentre.workers import evaluation as evaluation_module
    from opscentre.workers.evaluation import evaluate_city

    logging.getLogger("opscentre.alerts").setLevel(logging.WARNING)  # (thousands of transitions at INFO)
    settings = bench_settings(load_settings(config))
    store = Store(redis.Redis.from_url(url, socket_timeout=60))
    tune_gc_for_bulk_parsing()
    me = psutil.Process()
    start_rss = peak_rss_bytes()

    t, cpu = time.perf_counter(), time.process_time()
    first = evaluate_city(settings, store, now=now)
    cold_s, cold_cpu = time.perf_counter() - t, time.process_time() - cpu
    cold_peak, cold_held = peak_rss_bytes(), me.memory_info().rss
    cold_alerts = sorted((a.rule, a.key, a.severity.value) for a in AlertStore(store.redis).alerts().values()
                         if a.active)
    warm, warm_cpu = [], []
    for k in range(1, repeats + 1):
        t, cpu = time.perf_counter(), time.process_time()
        evaluate_city(settings, store, now=now + TIMER_S * k)
        warm.append(time.perf_counter() - t)
        warm_cpu.append(time.process_time() - cpu)
    # One more warm cycle, its steps timed where evaluate_city calls them; "other" is the rest:
    # reading the alerts, the stage, incidents, reminders, silences.
    steps = ((evaluation_module, "read_readings"), (evaluation_module, "evaluate"), (AlertStore, "apply"))
    with _timing(*steps) as phases:
        t = time.perf_counter()
        evaluate_city(settings, store, now=now + TIMER_S * (repeats + 1))
        phases["cycle"] = time.perf_counter() - t
    phases["other"] = phases["cycle"] - phases["read_readings"] - phases["evaluate"] - phases["apply"]
    order = ("cycle", "read_readings", "evaluate", "apply", "other")
    return {
        "cycle_cold_s": round(cold_s, 3),
        "cycle_warm_s": round(statistics.median(warm), 3) if warm else None,
        "cycle_warm_runs_s": [round(w, 3) for w in warm],
        # CPU time of this process (on a loaded machine, what the cycle cost besides waiting for a core)
        "cycle_cold_cpu_s": round(cold_cpu, 3),
        "cycle_warm_cpu_s": round(statistics.median(warm_cpu), 3) if warm_cpu else None,
        "cycle_phases_s": {k: round(phases.get(k, 0.0), 3) for k in order},
        "cycle_open_alerts": first.open_alerts,
        "cold_alerts": cold_alerts,
        "stage": first.stage,
        "worker_rss_start_mb": round(start_rss / MB),
        "worker_peak_rss_cold_mb": round(cold_peak / MB),
        "worker_peak_rss_mb": round(peak_rss_bytes() / MB),
        "worker_rss_after_cold_mb": round(cold_held / MB),
        "worker_rss_held_mb": round(me.memory_info().rss / MB),
        "worker_cpu_s": round(sum(me.cpu_times()[:2]), 1),
    }
