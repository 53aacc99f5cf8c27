"""`opscentre drill worker-kill`: a real `opscentre worker` (RQ) SIGKILLed mid-poll and
mid-evaluation; a new worker process, started after the kill as `opscentre up`'s supervisor
does, must pick the work up.

A real redis-server on loopback, the simulator playing the storm scenario at 60× (alerts open
and move), and the drill in the cron's place: it enqueues the poll and evaluation jobs on the
feed queue as `opscentre cron` does. Before each kill the storm's clock moves on an hour (alerts to open, raise or end: at stake).
Kills, in turn:
  - `poll-evaluate`: after the poll stored its readings, while it evaluates the alerts (the
    first kill: the first poll's evaluation, opening the storm's alerts),
  - `evaluation`: during the timer's evaluation (holding the evaluation lock),
  - `poll-fetch`: as soon as the poll holds its feed's lock (fetching, parsing).
After each kill a new worker starts, and the drill enqueues the same job every second until
one does the work (a poll stores; an evaluation runs instead of finding another running).

A killed job is not re-run: the next poll or evaluation supersedes it (re-running a poll would
fetch again anyway). RQ keeps the killed job as started until its heartbeat lapses (job
monitoring interval + 60 s), then its cleanup moves it to the failed registry as abandoned
(`AbandonedJobError`), or re-enqueues it where the job has retries; the drill reports the
killed jobs' states at its end. What the kill must not do: store anything twice, record an
alert's transition twice, or keep the work from resuming — a lock left by the dead worker is
a lease that lapses within LEASE_S (core/locks.py), not the poll's whole time budget.

Figures: duplicated (observations stored twice: same kind, entity and time), alert
transitions recorded twice, lost (polls whose write was acknowledged to a worker — it counted
them — against history entries), recovery_s (from the new worker's start to the work done,
max over the kills; includes its start-up, reported apart as worker_start_s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson
import redis
from rq import Queue
from rq.job import Job

from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.clock import new_clock, sim_now
from opscentre.core.connection import connect
from opscentre.core.locks import LEASE_S
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.drills.waiting import wait_for
from opscentre.processes.redis_server import RedisServer, die_with_parent
from opscentre.workers.schedule import POLL_JOB_TIMEOUT_S

FEED_ID = "simulator"
SCENARIO = "storm-2010-04"
SPEED = 60
KILLS = ("poll-evaluate", "evaluation", "poll-fetch")
ADVANCE_S = 3600  # the storm's clock moved on before each kill: alerts to open, raise or end (at stake)
WORKER_START_TIMEOUT_S = 90
RESUBMIT_EVERY_S = 1.0
KILL_ATTEMPTS = 5  # a kill that finds the job already done is tried again with new work, this often


def run(settings: Settings, short: bool = False, progress: bool = True) -> dict:
    kills = KILLS if short else KILLS * 3

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    say(f"worker-kill: a real `opscentre worker` SIGKILLed {len(kills)} times (mid-poll, mid-evaluation); "
        "a new worker started after each kill; simulator storm at 60x")
    with tempfile.TemporaryDirectory(prefix="opscentre-drill-") as tmp:
        server = RedisServer(Path(tmp) / "redis", persist=False).start()
        rig = Rig(server.url, Path(tmp), settings)
        try:
            figures = rig.drill(kills, say)
        finally:
            rig.close()
            server.stop()
    recovery_bound = LEASE_S + 2 * RESUBMIT_EVERY_S + WORKER_START_TIMEOUT_S
    lock_bound = LEASE_S + 1  # (the drill looks every 20 ms)
    expected = {"lost": 0, "duplicated": 0, "alert_transitions_duplicated": 0, "counter_mismatch": 0,
                "recovery_s_max": recovery_bound, "lock_after_kill_s_max": lock_bound}
    ok = (figures["lost"] == 0 and figures["duplicated"] == 0 and figures["alert_transitions_duplicated"] == 0
          and figures["counter_mismatch"] == 0 and figures["recovery_s"] <= recovery_bound
          and figures["kills_done"] == len(kills) and figures["lock_after_kill_s_max"] <= lock_bound)
    result = {"drill": "worker-kill", "lost": figures.pop("lost"), "duplicated": figures.pop("duplicated"),
              "recovery_s": figures.pop("recovery_s"), "expected": expected, "ok": ok, **figures, "short": short}
    say(f"  kills:               {result['kills_done']} of {len(kills)} at the intended moment "
        f"({', '.join(f'{k} {n}' for k, n in result['kills_by_moment'].items())})")
    say(f"  polls stored:        {result['polls_stored']} ({result['observations_stored']:,} observations); "
        f"alert transitions: {result['alert_transitions']}, open alerts: {result['open_alerts']}")
    say(f"  duplicated:          {result['duplicated']} observations   expected: 0")
    say(f"  alert transitions recorded twice: {result['alert_transitions_duplicated']}   expected: 0")
    say(f"  lost:                {result['lost']} polls counted but missing from the history   expected: 0")
    say(f"  counters off:        {result['counter_mismatch']}   expected: 0")
    say(f"  recovery:            max {result['recovery_s']:.2f} s from the new worker's start to the work done "
        f"(its start-up: max {result['worker_start_s_max']:.2f} s)")
    say(f"  the dead worker's lock: free again max {result['lock_after_kill_s_max']:.2f} s after the kill   "
        f"expected: ≤ {lock_bound:g} s (its lease, {LEASE_S} s)")
    say(f"  killed jobs in RQ:   {result['killed_jobs']}  (abandoned when their heartbeat lapses; superseded by the "
        "next poll / evaluation)")
    say("  " + ("ok" if ok else "NOT OK: outside the expected bounds"))
    return result


class Rig:
    def __init__(self, url: str, directory: Path, settings: Settings):
        self.url, self.directory = url, directory
        self.client = connect(url)
        self.store = Store(self.client)
        self.queue = Queue(keys.FEED_QUEUE, connection=self.client)
        self.worker: subprocess.Popen | None = None
        self.dead_lock: bytes | None = None
        self.logs = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "OPSCENTRE_"))}
        self.env.update(REDIS_URL=url, OPSCENTRE_DATA_DIR=str(directory))
        if settings.source_path:
            self.env["OPSCENTRE_CONFIG"] = str(settings.source_path)
        self.store.set_sim_clock(new_clock(None, time.time(), SPEED, SCENARIO, 1))

    def start_worker(self) -> float:
        """A new worker process; the seconds until it beats (took its place in RQ)."""
        log = (self.directory / f"worker-{len(self.logs) + 1}.log").open("w")
        self.logs.append(log)
        started = time.monotonic()
        self.worker = subprocess.Popen([sys.executable, "-m", "opscentre", "worker"], env=self.env,
                                       stdout=subprocess.DEVNULL, stderr=log, preexec_fn=die_with_parent)
        pid = f".{self.worker.pid}."
        _wait(lambda: any(pid in m for m in self.store.heartbeats()) or self.worker.poll() is not None,
              WORKER_START_TIMEOUT_S, 0.05)
        if self.worker.poll() is not None:
            raise RuntimeError(f"the worker exited at start (see {log.name})")
        return time.monotonic() - started

    def enqueue(self, what: str) -> Job:
        function = "opscentre.workers.jobs.poll" if what == "poll" else "opscentre.workers.jobs.evaluate"
        args = (FEED_ID,) if what == "poll" else ()
        return self.queue.enqueue(function, *args, job_timeout=POLL_JOB_TIMEOUT_S, result_ttl=3600,
                                  failure_ttl=3600)

    def run_job(self, what: str, timeout: float = 120) -> dict:
        job = self.enqueue(what)
        _wait(lambda: job.get_status(refresh=True) in ("finished", "failed"), timeout, 0.05)
        return job.return_value() or {}

    def drill(self, kills, say) -> dict:
        self.start_worker()  # (the first kill: during the first poll's evaluation, which opens the alerts)
        recoveries, starts, lock_waits, killed_jobs, moments = [], [], [], [], Counter()
        at_stake = []
        missed = 0
        for n, moment in enumerate(kills, 1):
            for attempt in range(1, KILL_ATTEMPTS + 1):
                self._advance_clock(ADVANCE_S)
                transitions_before = self._transitions()
                job, hit = self._kill_at(moment)
                killed_jobs.append(job)
                if hit or attempt == KILL_ATTEMPTS:
                    break
                # the job was done before the drill saw the moment (a fast evaluation on a busy
                # machine): the worker died idle; a new one, and the moment tried again
                missed += 1
                say(f"  kill {n} ({moment}): missed the moment (the job was done), trying again")
                self.start_worker()
            moments[moment] += hit
            killed_at = spawned = time.monotonic()
            starts.append(self.start_worker())
            done, first_lock_free = self._resubmit_until_done("evaluate" if moment == "evaluation" else "poll")
            recoveries.append(done - spawned)
            lock_waits.append(first_lock_free - killed_at)
            at_stake.append(self._transitions() - transitions_before)
            say(f"  kill {n} ({moment}{'' if hit else ', missed the moment'}): new worker beating after "
                f"{starts[-1]:.2f} s, work done {recoveries[-1]:.2f} s after its start; "
                f"{at_stake[-1]} alert transitions recorded across it")
        self.run_job("poll")
        self.run_job("evaluate")
        figures = self._count()
        states = Counter(job.get_status(refresh=True) for job in killed_jobs)
        return {"recovery_s": round(max(recoveries), 3), "worker_start_s_max": round(max(starts), 3),
                "lock_after_kill_s_max": round(max(lock_waits), 3), "kills_done": sum(moments.values()),
                "kills_by_moment": dict(moments), "kills_missed_and_tried_again": missed,
                "alert_transitions_across_kills": at_stake, "killed_jobs": {getattr(s, "value", str(s)): n for s, n in states.items()}, **figures}

    def _kill_at(self, moment: str) -> tuple[Job, bool]:
        """Enqueue the job and SIGKILL the worker at `moment`: (the job, whether the moment was hit)."""
        lock = keys.EVALUATE_LOCK if moment == "evaluation" else keys.poll_lock(FEED_ID)
        polls_before = self._polls_counted()
        job = self.enqueue("evaluate" if moment == "evaluation" else "poll")
        if moment == "poll-evaluate":  # stored, and still holding the poll's lock: evaluating
            def at_moment():
                return self.client.exists(lock) and self._polls_counted() > polls_before
        else:
            def at_moment():
                return self.client.exists(lock)
        hit = _wait(at_moment, 60, 0.001)
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()
        self.dead_lock = self.client.get(lock)  # the dead worker's token
        return job, bool(hit) and job.get_status(refresh=True) == "started"

    def _resubmit_until_done(self, what: str, timeout: float = LEASE_S + 120) -> tuple[float, float]:
        """Enqueue `what` every RESUBMIT_EVERY_S (the cron's part) until one does the work:
        (when it finished, when the dead worker's lock was first seen gone)."""
        lock = keys.EVALUATE_LOCK if what == "evaluate" else keys.poll_lock(FEED_ID)
        deadline = time.monotonic() + timeout
        lock_gone = [None if self.dead_lock is not None else time.monotonic()]

        def watching(condition):
            def check():
                if lock_gone[0] is None and self.client.get(lock) != self.dead_lock:
                    lock_gone[0] = time.monotonic()
                return condition()
            return check

        while time.monotonic() < deadline:
            job = self.enqueue(what)
            _wait(watching(lambda: job.get_status(refresh=True) in ("finished", "failed")), 60, 0.02)
            result = job.return_value() or {}
            if job.get_status() == "finished" and not result.get("skipped"):
                return time.monotonic(), lock_gone[0] or time.monotonic()
            _wait(watching(lambda: False), RESUBMIT_EVERY_S, 0.02)
        return float("inf"), lock_gone[0] or float("inf")

    def _advance_clock(self, seconds: float) -> None:
        clock = self.store.sim_clock()
        now = time.time()
        self.store.set_sim_clock({**clock, "wall_epoch": now,
                                  "sim_epoch": sim_now(clock, now) + seconds})

    def _transitions(self) -> int:
        return sum(1 for e in AlertStore(self.client).audit() if e.get("actor") == "engine"
                   and "state" in (e.get("after") or {}))

    def _polls_counted(self) -> int:
        return int(self.client.hget(keys.feed_metrics(FEED_ID), "polls") or 0)

    def _count(self) -> dict:
        """What Redis holds: observations by (kind, entity, time), history entries against the
        polls the workers counted, alert transitions by (alert, from, to) in a row."""
        seen: Counter = Counter()
        entries_by_kind: Counter = Counter()
        for raw in self.client.smembers(keys.KINDS):
            kind = raw.decode()
            for _id, fields in self.client.xrange(keys.history(kind)):
                columns = orjson.loads(fields[b"d"])
                entries_by_kind[kind] += 1
                seen.update((kind, e, t) for e, t in zip(columns["e"], columns["t"]))
        metrics = self.store.all_feed_metrics().get(FEED_ID, {})
        polls_with_readings = max(entries_by_kind.values(), default=0)  # each poll stores one entry per kind
        duplicated = sum(n - 1 for n in seen.values())
        transitions, twice, last = 0, 0, {}
        for entry in AlertStore(self.client).audit():
            if entry.get("actor") != "engine" or not isinstance(entry.get("before"), dict) or \
                    "state" not in (entry.get("after") or {}):
                continue
            transitions += 1
            step = (entry["before"].get("state"), entry["after"].get("state"))
            if last.get(entry["subject"]) == step:
                twice += 1
            last[entry["subject"]] = step
        open_alerts = len(AlertStore(self.client).active())
        return {"duplicated": duplicated, "lost": max(0, int(metrics.get("polls", 0)) - polls_with_readings
                                                      - int(metrics.get("failures", 0))),
                "counter_mismatch": abs(int(metrics.get("observations_stored", 0)) - sum(seen.values())),
                "polls_stored": polls_with_readings, "observations_stored": sum(seen.values()),
                "alert_transitions": transitions, "alert_transitions_duplicated": twice, "open_alerts": open_alerts}

    def close(self) -> None:
        if self.worker and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(20)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        for log in self.logs:
            log.close()
        self.client.close()


def _wait(predicate, timeout: float, interval: float):
    """wait_for, a read refused by a Redis that is not answering yet counting as not yet."""
    def quietly():
        try:
            return predicate()
        except redis.ConnectionError:
            return None

    return wait_for(quietly, timeout, interval)
