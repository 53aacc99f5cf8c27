"""Two "hosts" against one Redis, as docs/deploy.md lays them out: each host is its own process
tree — its own process group and data directory — running real `opscentre worker` processes
(and `opscentre cron`), all given the same REDIS_URL. (Network namespaces: `ip netns add` works
here as root, but a namespace needs a veth pair and addresses to reach Redis, and the suite must
not need root. A process group killed at once is what a host's failure looks like to Redis: all
its connections gone together.)

1. One cron, on host A: polls spread over both hosts' workers, no observation stored twice,
   and SIGKILLing host B's whole process group leaves host A ingesting.
2. A cron on each host: RQ 3's CronScheduler has no leader election — each registers itself
   and enqueues every job itself, so each poll is enqueued twice per interval. The feed's poll
   lock keeps two polls of a feed from running at once; the second of two back-to-back polls
   runs when the first is done. Still no observation stored twice, and SIGKILLing host A (its
   cron, its workers) leaves host B polling with its own cron.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
import redis
from rq.cron import CronScheduler, get_cron_job_history_key
from rq.job import Job
from rq.registry import FinishedJobRegistry

from opscentre.core import keys
from opscentre.processes.redis_server import die_with_parent
from tests.cli_helpers import clean_env, wait_for

POLL = "opscentre.workers.jobs.poll"
SPEED = "60"  # the simulator polls every second


class Host:
    """One host's process tree: one process group, one data directory, one REDIS_URL."""

    def __init__(self, name: str, root: Path, redis_url: str):
        self.name = name
        self.data = root / name
        self.data.mkdir()
        self.env = clean_env(REDIS_URL=redis_url, OPSCENTRE_DATA_DIR=str(self.data))
        self.processes: list[subprocess.Popen] = []
        self.pgid: int | None = None

    def start(self, *command: str) -> subprocess.Popen:
        log = (self.data / f"{command[0]}-{len(self.processes) + 1}.log").open("w")
        group = {"process_group": self.pgid or 0}  # the first one leads the host's group
        process = subprocess.Popen([sys.executable, "-m", "opscentre", *command], env=self.env,
                                   stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent, **group)
        log.close()
        self.pgid = self.pgid or process.pid
        self.processes.append(process)
        return process

    @property
    def pids(self) -> set[int]:
        return {p.pid for p in self.processes}

    def kill(self) -> None:
        """The host fails: every process of its group SIGKILLed at once."""
        os.killpg(self.pgid, signal.SIGKILL)
        for process in self.processes:
            process.wait(30)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def hosts(own_redis, tmp_path):
    made = [Host("host-a", tmp_path, own_redis.url), Host("host-b", tmp_path, own_redis.url)]
    client = redis.Redis.from_url(own_redis.url)
    yield made, client
    for host in made:
        host.stop()
    client.close()


def _polls(client: redis.Redis) -> list[tuple[int, dict, float]]:
    """Every finished poll of the simulator: (worker's pid, its result, when it ended)."""
    ids = FinishedJobRegistry(keys.FEED_QUEUE, connection=client).get_job_ids()
    done = []
    for job in Job.fetch_many(ids, connection=client):
        if job is None or job.func_name != POLL or not job.worker_name:
            continue
        pid = int(job.worker_name.rsplit(".", 2)[1])  # workers are named host.pid.started
        done.append((pid, job.return_value() or {}, job.ended_at.timestamp()))
    return done


def _duplicated(client: redis.Redis) -> tuple[int, int]:
    """(observations stored, of them stored more than once: same kind, entity and time)."""
    seen: Counter = Counter()
    for raw in client.smembers(keys.KINDS):
        kind = raw.decode()
        for _id, fields in client.xrange(keys.history(kind)):
            columns = orjson.loads(fields[b"d"])
            seen.update((kind, e, t) for e, t in zip(columns["e"], columns["t"]))
    return sum(seen.values()), sum(n - 1 for n in seen.values())


def _stored_by(client: redis.Redis, pids: set[int], after: float = 0.0) -> int:
    return sum(1 for pid, result, ended in _polls(client) if pid in pids and "stored" in result and ended > after)


def _enqueues(client: redis.Redis) -> list[tuple[bytes, float]]:
    """The simulator poll's enqueues, as RQ's cron records them (job id, when)."""
    return client.zrange(get_cron_job_history_key("poll:simulator"), 0, -1, withscores=True)


def _rate(history: list[tuple[bytes, float]]) -> str:
    span = history[-1][1] - history[0][1] if len(history) > 1 else 0.0
    return f"{(len(history) - 1) / span:.2f}" if span else "?"


def _start_workers(host: Host, n: int = 2) -> None:
    for _ in range(n):
        host.start("worker")


def test_polls_spread_over_two_hosts_and_one_host_dying_leaves_the_other_ingesting(hosts):
    (a, b), client = hosts
    _start_workers(a)
    a.start("cron", "--speed", SPEED)
    _start_workers(b)

    wait_for(lambda: _stored_by(client, a.pids) >= 3 and _stored_by(client, b.pids) >= 3, timeout=180,
             what="polls stored by both hosts' workers")
    polls = _polls(client)
    assert {pid for pid, _r, _t in polls} <= a.pids | b.pids
    assert all("stored" in r or "skipped" in r for _p, r, _t in polls), polls  # no poll failed
    stored, duplicated = _duplicated(client)
    assert stored > 0 and duplicated == 0

    b.kill()
    killed = time.time()
    wait_for(lambda: _stored_by(client, a.pids, after=killed) >= 3, timeout=120,
             what="host A storing polls after host B was killed")
    stored_after, duplicated = _duplicated(client)
    assert stored_after > stored and duplicated == 0
    by_host = Counter("a" if pid in a.pids else "b" for pid, r, _t in _polls(client) if "stored" in r)
    print(f"\none cron: {_rate(_enqueues(client))} poll enqueues a second (the interval: 1 s); polls stored by host: "
          f"{dict(by_host)}; observations {stored_after}, duplicated {duplicated}")


def test_two_crons_enqueue_every_poll_twice_the_feed_lock_serialises_them_and_either_host_carries_on(hosts):
    (a, b), client = hosts
    _start_workers(a)
    _start_workers(b)
    a.start("cron", "--speed", SPEED)
    b.start("cron", "--speed", SPEED)

    def both_crons_enqueued_the_poll():
        schedulers = CronScheduler.all(client)
        enqueued = [s for s in schedulers for job in s.get_jobs()
                    if job.name == "poll:simulator" and job.latest_enqueue_time is not None]
        return len(schedulers) == 2 and len(enqueued) == 2 and schedulers

    schedulers = wait_for(both_crons_enqueued_the_poll, timeout=120,
                          what="two cron schedulers registered, each having enqueued the simulator's poll")
    assert {s.pid for s in schedulers} <= a.pids | b.pids and len({s.pid for s in schedulers}) == 2
    wait_for(lambda: _stored_by(client, a.pids) >= 3 and _stored_by(client, b.pids) >= 3, timeout=180,
             what="polls stored by both hosts' workers")
    # the cron's history of the poll (RQ keeps each enqueued job's id): both crons' enqueues
    history = _enqueues(client)
    polls = _polls(client)
    results = Counter("stored" if "stored" in r else "skipped" if "skipped" in r else "failed" for _p, r, _t in polls)
    assert results["failed"] == 0
    stored, duplicated = _duplicated(client)
    assert stored > 0 and duplicated == 0

    a.kill()  # one cron and two workers gone: host B's cron and workers carry on
    killed = time.time()
    wait_for(lambda: _stored_by(client, b.pids, after=killed) >= 3, timeout=120,
             what="host B storing polls after host A was killed")
    stored_after, duplicated = _duplicated(client)
    assert stored_after > stored and duplicated == 0
    print(f"\ntwo crons: {_rate(history)} poll enqueues a second (the interval: 1 s); "
          f"polls {json.dumps(dict(results))}; observations {stored_after}, duplicated {duplicated}")
