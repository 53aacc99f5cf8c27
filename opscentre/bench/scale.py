"""`opscentre bench scale`: ingest with 1, 2 and 4 real `opscentre worker` processes on one Redis.

RQ scales out by adding worker processes (on this host or others) against one Redis: this bench
measures how far that goes here. One fresh embedded Redis; for each worker count, that many
`opscentre worker` processes (the Procfile's command, RQ SimpleWorker) take poll jobs from the
feed queue, enqueued with the cron's job options (workers/schedule.py). The polls go to SHARDS
feeds — a city's many sources — so they can run side by side: one feed's polls never do (each
holds its feed's lock, core/locks.py).

The shard feeds are simulator-like: each owns READINGS_PER_POLL air-quality stations placed in the
city's zones, and a poll's payload is one JSON document of their readings, stamped with the
poll's number. A poll runs the real worker path (jobs.poll_feed: the feed's lock, fetch, parse
with orjson, validate, zone join for new stations, Store.write_poll, feed health, the evaluation
of the rules reading the kind — none do for `pm10_ugm3` in the built-in config, so this is
ingest alone). The registry (workers/feeds) does not know the shard feeds: this module's `poll`
job adds them to it in the bench's workers; nothing else ever sees them.

Measured per worker count: observations stored per second (from the first timed poll's start
to the last one's end, RQ's own timestamps), Redis's CPU over that time (INFO cpu: user + sys,
per cent of one core) and the workers' (per cent of one core, summed), so the wall is named:
Redis is one thread; the workers need a core each. Observations per worker CPU-second say
whether a worker's work per observation grew with more workers (contention) or the workers
only got less of the machine (other load: the CPU every other process used over the run, this
bench's own included, the machine's idle CPU, the share a hypervisor stole, and the load average
before and after, are printed beside). Then the history is read back: each poll's
readings must be stored exactly once (a poll that found its feed's previous poll still running
skips, stores nothing, and is counted).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path

import orjson
import psutil
import redis
from rq import Queue
from rq.job import Job
from rq.registry import StartedJobRegistry

from opscentre.core import keys
from opscentre.core.connection import connect
from opscentre.core.models import Entity, EntityType, ObservationBatch, ParseResult
from opscentre.core.settings import Settings, load_settings
from opscentre.core.store import Store
from opscentre.processes.redis_server import RedisServer, die_with_parent
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.schedule import POLL_JOB_TIMEOUT_S, POLL_RESULT_TTL_S

SHARDS = 16
READINGS_PER_POLL = 5000
KIND = "pm10_ugm3"  # a kind no built-in rule reads: ingest alone (bench alerts measures the rules)
WORKER_COUNTS = (1, 2, 4)
PASSES = 3  # interleaved passes over the worker counts; each count's median run is reported
GOAL_TWO_WORKERS = 1.8
STARTUP_TIMEOUT_S = 120
RUN_TIMEOUT_S = 900

_current_poll: dict[str, int] = {}  # feed id -> the number of the poll this worker is running


def shard_id(i: int) -> str:
    return f"scale-{i:02d}"


def _fetch(ctx: FeedContext) -> bytes:
    n = _current_poll.get(ctx.feed_id, 0)
    values = [round((n * 7 + i * 13) % 400 / 4, 2) for i in range(READINGS_PER_POLL)]
    return orjson.dumps({"poll": n, "t": _stamp(n), "v": values})


def _parse(payload: bytes, ctx: FeedContext) -> ParseResult:
    document = orjson.loads(payload)
    entities = _stations(ctx.feed_id, ctx.settings)
    values = document["v"]
    return ParseResult(entities=entities, batches=[ObservationBatch(
        source=ctx.feed_id, kind=KIND, entity_ids=[e.entity_id for e in entities], values=values,
        observed_at=[float(document["t"])] * len(values))])


def _stations(feed_id: str, settings: Settings) -> list[Entity]:
    if feed_id not in _station_lists:
        _station_lists[feed_id] = _place_stations(feed_id, settings)
    return _station_lists[feed_id]


_station_lists: dict[str, list[Entity]] = {}


def _place_stations(feed_id: str, settings: Settings) -> list[Entity]:
    points = settings.zones.representative_points
    return [Entity(entity_id=f"{feed_id}:s{i}", entity_type=EntityType.AIR_QUALITY_STATION, source=feed_id,
                   name=f"{feed_id} station {i}",
                   geometry={"type": "Point", "coordinates": list(points[i % len(points)])})
            for i in range(READINGS_PER_POLL)]


def _stamp(poll_no: int) -> float:
    """A poll's readings' time: its number, counted from an hour ago (inside any retention)."""
    return float(_T0 + poll_no)


_T0 = int(os.environ.get("OPSCENTRE_SCALE_T0") or time.time() - 3600)



def _register_shards() -> None:
    """The shard feeds in this worker's registry (only in a bench worker: never at import, so a
    process that merely imports this module — a test session — keeps the registry as it is)."""
    if shard_id(0) not in FEEDS:
        FEEDS.update({shard_id(i): Feed(feed_id=shard_id(i), title=f"scale bench shard {i}", fetch=_fetch,
                                        parse=_parse, default_interval_s=1) for i in range(SHARDS)})


@lru_cache(maxsize=1)
def _worker_settings() -> Settings:
    return load_settings()


@lru_cache(maxsize=1)
def _worker_store() -> Store:
    return Store(connect(check=False))


def poll(feed_id: str, poll_no: int) -> dict:
    """The job a bench worker runs: the worker's poll of `feed_id` (jobs.poll_feed), its payload
    numbered `poll_no`."""
    from opscentre.workers.jobs import poll_feed

    _register_shards()
    _current_poll[feed_id] = poll_no
    result = poll_feed(feed_id, _worker_settings(), _worker_store())
    return {**result, "poll_no": poll_no}


# ---- the bench ------------------------------------------------------------------------------


def run_scale_bench(settings: Settings, observations: int = 2_000_000, worker_counts=WORKER_COUNTS,
                    passes: int = PASSES, progress: bool = True) -> dict:
    """Each worker count ingests `observations` (rounded up to whole rounds of one poll per shard),
    once per pass; the passes run one after the other over all the counts (1, 2, 4, 1, 2, 4...), so
    a machine that is slower for a while (another process, the hypervisor) weighs on every count
    alike, and each count's median run is its figure."""
    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    rounds = max(1, math.ceil(observations / (SHARDS * READINGS_PER_POLL)))
    load_before = [round(x, 2) for x in os.getloadavg()]
    say(f"scale: {SHARDS} feeds of {READINGS_PER_POLL:,} readings a poll, {rounds} polls each per run "
        f"({rounds * SHARDS * READINGS_PER_POLL:,} observations); worker processes {', '.join(map(str, worker_counts))}, "
        f"{passes} pass{'es' if passes > 1 else ''} over them; {os.cpu_count()} CPUs, load average {load_before}")
    by_pass = []
    with tempfile.TemporaryDirectory(prefix="opscentre-bench-scale-") as tmp:
        server = RedisServer(Path(tmp) / "redis", persist=False).start()
        try:
            for n in range(passes):
                if passes > 1:
                    say(f"  pass {n + 1} of {passes}")
                by_pass.append([_run(settings, server.url, Path(tmp), count, rounds, say) for count in worker_counts])
        finally:
            server.stop()
    return _result(by_pass, rounds, load_before, say)


def _run(settings: Settings, url: str, directory: Path, count: int, rounds: int, say) -> dict:
    client = redis.Redis.from_url(url)
    client.flushall()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "OPSCENTRE_"))}
    env.update(REDIS_URL=url, OPSCENTRE_DATA_DIR=str(directory), OPSCENTRE_SCALE_T0=str(_T0))
    if settings.source_path:
        env["OPSCENTRE_CONFIG"] = str(settings.source_path)
    workers = start_workers(count, env, directory, client)
    try:
        queue = Queue(keys.FEED_QUEUE, connection=client)
        # first polls: the stations' zone join; each worker loads the config and warms its code
        warm_rounds = 2 * count
        warm = _enqueue(queue, range(0, warm_rounds))
        _wait_done(client, warm)
        cpu_before, procs_before, wall = _redis_cpu(client), _cpu_seconds(workers), time.monotonic()
        machine_before = psutil.cpu_times()
        timed = _enqueue(queue, range(warm_rounds, warm_rounds + rounds))
        _wait_done(client, timed)
        wall = time.monotonic() - wall
        redis_cpu, workers_cpu = _redis_cpu(client) - cpu_before, _cpu_seconds(workers) - procs_before
        machine_after = psutil.cpu_times()
        machine_idle = _idle_share(machine_before, machine_after)
        machine_busy = _busy_seconds(machine_before, machine_after)
        jobs = [j for j in Job.fetch_many(timed, connection=client) if j and j.started_at and j.ended_at]
        span = max(j.ended_at for j in jobs).timestamp() - min(j.started_at for j in jobs).timestamp()
        results = [j.return_value() or {} for j in jobs]
        warm_stored = sum(1 for j in Job.fetch_many(warm, connection=client) if j and "stored" in (j.return_value() or {}))
        counted = count_stored(client)
    finally:
        stop_workers(workers)
        client.close()
    by_worker = Counter(j.worker_name for j in jobs)
    stored_polls = [r for r in results if "stored" in r]
    skipped = sum(1 for r in results if "skipped" in r)
    observations = sum(r["stored"] for r in stored_polls)
    rate = observations / span
    run = {"workers": count, "observations_per_s": round(rate), "observations": observations,
           "polls": len(stored_polls), "polls_skipped": skipped, "polls_failed": len(results) - len(stored_polls) - skipped,
           "polls_per_worker": sorted(by_worker.values(), reverse=True), "seconds": round(span, 3), "redis_cpu_pct": round(100 * redis_cpu / wall, 1),
           "workers_cpu_pct": round(100 * workers_cpu / wall, 1),
           "machine_idle_pct": round(100 * machine_idle, 1),
           # everything else the machine ran meanwhile (this bench's own process, other users' work)
           "other_cpu_pct": round(100 * max(0.0, machine_busy - workers_cpu - redis_cpu) / wall, 1),
           "machine_steal_pct": round(100 * _steal_share(machine_before, machine_after), 1),
           "observations_per_worker_cpu_s": round(observations / workers_cpu) if workers_cpu else None,
           "worker_cpu_us_per_observation": round(1e6 * workers_cpu / observations, 2),
           "redis_cpu_us_per_observation": round(1e6 * redis_cpu / observations, 2), **counted,
           "expected_stored": (len(stored_polls) + warm_stored) * READINGS_PER_POLL}
    stolen = f", stolen by the hypervisor {run['machine_steal_pct']:.0f}%" if run["machine_steal_pct"] >= 1 else ""
    say(f"  {count} worker process{'es' if count > 1 else ''}: {rate:>9,.0f} obs/s  ({observations:,} in {span:.2f} s; "
        f"Redis CPU {run['redis_cpu_pct']:.0f}% of a core, workers {run['workers_cpu_pct']:.0f}% "
        f"({run['observations_per_worker_cpu_s'] or 0:,} obs per worker CPU-second), other processes "
        f"{run['other_cpu_pct']:.0f}%; machine idle {run['machine_idle_pct']:.0f}%{stolen}; "
        f"{skipped} polls skipped, {run['duplicated']} duplicated)")
    return run


def start_workers(count: int, env: dict, directory: Path, client: redis.Redis) -> list[subprocess.Popen]:
    """`count` real `opscentre worker` processes, each beating in RQ's place (ready for jobs)."""
    workers = []
    for i in range(count):
        log = (directory / f"worker-{count}-{i + 1}.log").open("w")
        workers.append(subprocess.Popen([sys.executable, "-m", "opscentre", "worker"], env=env,
                                        stdout=subprocess.DEVNULL, stderr=log, preexec_fn=die_with_parent))
        log.close()
    store = Store(client)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not all(any(f".{w.pid}." in name for name in store.heartbeats()) for w in workers):
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            stop_workers(workers)
            raise RuntimeError(f"bench scale: the workers did not start (see {directory}/worker-{count}-*.log)")
        time.sleep(0.1)
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for w in workers:
        if w.poll() is None:
            w.terminate()
    for w in workers:
        try:
            w.wait(30)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()


def _enqueue(queue: Queue, polls: range) -> list[str]:
    """One poll per shard per round, round after round, with the cron's job options."""
    specs = [Queue.prepare_data(poll, args=(shard_id(i), n), timeout=POLL_JOB_TIMEOUT_S, result_ttl=POLL_RESULT_TTL_S * 12,
                                failure_ttl=24 * 3600) for n in polls for i in range(SHARDS)]
    return [job.id for job in queue.enqueue_many(specs)]


def _wait_done(client: redis.Redis, job_ids: list[str]) -> None:
    """Until every job is done. Two cheap reads while work is queued or running (reading every
    job's status meanwhile would load Redis and this process beside the workers measured)."""
    queue = Queue(keys.FEED_QUEUE, connection=client)
    started = StartedJobRegistry(queue=queue)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    pending = list(job_ids)
    while pending:
        if queue.count == 0 and started.count == 0:  # (a job between the two is caught below)
            statuses = [j.get_status(refresh=False) if j else None for j in Job.fetch_many(pending, connection=client)]
            pending = [i for i, s in zip(pending, statuses) if s not in ("finished", "failed", "stopped", "canceled")]
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"bench scale: {len(pending)} polls not done after {RUN_TIMEOUT_S} s")
        if pending:
            time.sleep(0.05)


def _redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _cpu_seconds(processes: list[subprocess.Popen]) -> float:
    total = 0.0
    for p in processes:
        times = psutil.Process(p.pid).cpu_times()
        total += times.user + times.system
    return total


def _busy_seconds(before, after) -> float:
    """CPU-seconds the machine's CPUs spent running its processes between two psutil.cpu_times()
    (not idle, waiting for I/O, or stolen by the hypervisor; Linux counts guest time in user)."""
    def delta(name: str) -> float:
        return getattr(after, name, 0.0) - getattr(before, name, 0.0)

    return max(0.0, sum(delta(f) for f in ("user", "nice", "system", "irq", "softirq")))


def _steal_share(before, after) -> float:
    """The share of the CPUs' time the hypervisor gave to other machines (a virtual machine's steal)."""
    total = sum(after) - sum(before)
    return (getattr(after, "steal", 0.0) - getattr(before, "steal", 0.0)) / total if total > 0 else 0.0


def _idle_share(before, after) -> float:
    """The share of the machine's CPU time (all CPUs) left idle between two psutil.cpu_times()."""
    total = sum(after) - sum(before)
    return (after.idle - before.idle) / total if total > 0 else 0.0


def count_stored(client: redis.Redis) -> dict:
    """What the history holds of the shard feeds: readings by (feed, poll) against one poll's
    worth each — duplicated (stored more than once) and short (a poll's readings missing)."""
    by_poll: Counter = Counter()
    seen: Counter = Counter()
    for _id, fields in client.xrange(keys.history(KIND)):
        source = fields[b"s"].decode()
        columns = orjson.loads(fields[b"d"])
        for entity, t in zip(columns["e"], columns["t"]):
            by_poll[(source, t)] += 1
            seen[(entity, t)] += 1
    return {"stored_readings": sum(seen.values()), "duplicated": sum(n - 1 for n in seen.values()),
            "polls_short": sum(1 for n in by_poll.values() if n < READINGS_PER_POLL),
            "polls_in_history": len(by_poll)}


def _medians(by_pass: list[list[dict]]) -> list[dict]:
    """Each worker count's median run (the lower of the middle two for an even number of passes),
    with every pass's observations/s beside it."""
    runs = []
    for i in range(len(by_pass[0])):
        all_of_count = sorted((p[i] for p in by_pass), key=lambda r: r["observations_per_s"])
        median = dict(all_of_count[(len(all_of_count) - 1) // 2])
        median["observations_per_s_each_pass"] = [p[i]["observations_per_s"] for p in by_pass]
        runs.append(median)
    return runs


def _obs(runs: list[dict], workers: int) -> int | None:
    return next((r["observations_per_s"] for r in runs if r["workers"] == workers), None)


def _result(by_pass: list[list[dict]], rounds: int, load_before: list[float], say) -> dict:
    runs = _medians(by_pass)
    by_count = {r["workers"]: r for r in runs}
    one = by_count.get(1, runs[0])["observations_per_s"]
    for r in runs:
        r["speedup"] = round(r["observations_per_s"] / one, 2)
    two = by_count.get(2, runs[-1])["speedup"]
    # the same ratio within each pass (its runs minutes apart at most): how much the machine moved
    each_pass = [round(_obs(p, 2) / _obs(p, 1), 2) for p in by_pass if _obs(p, 1) and _obs(p, 2)]
    stops = next((r["workers"] for prev, r in zip(runs, runs[1:]) if r["speedup"] < prev["speedup"] * 1.1), None)
    # The CPU wall: what one observation costs a worker and Redis (the 1-worker run), over the CPUs
    first = by_count.get(1, runs[0])
    per_observation_us = first["worker_cpu_us_per_observation"] + first["redis_cpu_us_per_observation"]
    ceiling = (os.cpu_count() or 1) * 1e6 / per_observation_us if per_observation_us else None
    # The same from each run's own CPU per observation, free of other load's share of the wall
    # clock: one worker waits for Redis (at most 1 / (worker + Redis) µs), n share the CPUs (at most
    # CPUs / (worker + Redis)); the ratio names the loss that is not the machine's other load (a
    # worker's or Redis's CPU per observation growing with more workers).
    cpus = os.cpu_count() or 1
    for r in runs:
        us = r["worker_cpu_us_per_observation"] + r["redis_cpu_us_per_observation"]
        r["cpu_bound_observations_per_s"] = round(min(r["workers"], cpus) * 1e6 / us) if us else None
    serial = first["cpu_bound_observations_per_s"] if first["workers"] == 1 else None
    for r in runs:
        r["cpu_bound_speedup"] = round(r["cpu_bound_observations_per_s"] / serial, 2) \
            if serial and r["cpu_bound_observations_per_s"] else None
    exactly_once = all(r["duplicated"] == 0 and r["polls_short"] == 0 and r["stored_readings"] == r["expected_stored"]
                       for p in by_pass for r in p)
    result = {
        "bench": "scale",
        "value": two,
        "unit": "x (observations/s, 2 worker processes / 1)",
        "baseline": "goal: 2 worker processes >= 1.8x one",
        "baseline_value": GOAL_TWO_WORKERS,
        "ratio": round(two / GOAL_TWO_WORKERS, 2),
        "runs": runs,
        "passes": len(by_pass),
        "two_workers_speedup_each_pass": each_pass,
        "stops_scaling_at_workers": stops,
        "cpu_ceiling_observations_per_s": round(ceiling) if ceiling else None,
        "cpu_ceiling_speedup": round(ceiling / one, 2) if ceiling else None,
        "exactly_once": exactly_once,
        "shards": SHARDS, "readings_per_poll": READINGS_PER_POLL, "rounds": rounds,
        "cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    speedups = ", ".join(f"{r['workers']} workers {r['speedup']:.2f}x" for r in runs)
    if len(by_pass) > 1:
        say("  median of the passes: " + ", ".join(
            f"{r['workers']} worker{'s' if r['workers'] > 1 else ''} {r['observations_per_s']:,} obs/s "
            f"(each pass: {', '.join(f'{v:,}' for v in r['observations_per_s_each_pass'])})" for r in runs))
    say(f"  speed-up: {speedups}   "
        f"goal: 2 workers >= {GOAL_TWO_WORKERS}x"
        + (f"; 2 workers / 1 within each pass: {', '.join(f'{x:.2f}x' for x in each_pass)}" if len(each_pass) > 1 else ""))
    if stops:
        say(f"  stops scaling at {stops} worker processes (on {os.cpu_count()} CPUs): "
            f"less than 10% more than with {stops // 2 if stops in (2, 4) else 'fewer'}")
    if ceiling:
        say(f"  CPU per observation (1 worker): worker {first['worker_cpu_us_per_observation']} µs + Redis "
            f"{first['redis_cpu_us_per_observation']} µs: {os.cpu_count()} CPUs, all busy with nothing else, could "
            f"store at most {ceiling:,.0f} obs/s = {ceiling / one:.2f}x one worker")
    if serial:
        bounds = ", ".join(f"{r['workers']} workers {r['cpu_bound_speedup']:.2f}x ({r['worker_cpu_us_per_observation']} + "
                           f"{r['redis_cpu_us_per_observation']} µs)" for r in runs if r["cpu_bound_speedup"])
        say(f"  from each run's CPU per observation (worker + Redis), on {cpus} idle CPUs at most: {bounds}")
    say(f"  every poll's readings stored exactly once: {'yes' if exactly_once else 'NO'}; "
        f"load average {result['loadavg_after']} after")
    return result
