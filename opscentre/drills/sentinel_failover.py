"""`opscentre drill sentinel-failover`: the Redis primary SIGKILLed during ingest, Sentinel
promotes the replica, every process follows it.

On loopback, in a temporary directory: a primary, a replica and three sentinels (redis-server's
own sentinel mode, generated configs, free ports; down-after 1 s, failover-timeout 5 s). The
whole centre runs as `opscentre up` with OPSCENTRE_REDIS_SENTINELS / OPSCENTRE_REDIS_MASTER
(workers polling the simulator, the cron scheduler, the notifier and the web app). Beside it, the
drill ingests through the same client (core/connection.py, Sentinel-managed) and the same write
path (workers/pipeline.py: parse -> validate -> store): a poll of 100 readings every 10 ms, each
poll's readings stamped with its own time so the history stream tells which polls it holds.
The primary is SIGKILLed mid-ingest.

Figures: seconds without writes (the last poll acknowledged by the old primary to the first by
the new one), failover_s (kill -> the sentinels name the new primary), lost (readings of polls
acknowledged and then missing on the new primary: replication is asynchronous, so what the old
primary acknowledged and had not yet sent may be lost; bounded by the polls acknowledged in the
replica's lag, ≤ 1 s), duplicated (readings stored twice), and for each process the time it
took to work on the new primary (worker heartbeats and simulator polls, the scheduler's
heartbeat, the notifier's heartbeat, /healthz 200).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import orjson
import redis
from rq.cron_scheduler_registry import get_registry_key as cron_schedulers_key

from opscentre.core import keys
from opscentre.core.models import Entity, ObservationBatch, ParseResult
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.drills.waiting import wait_for
from opscentre.processes.redis_server import (
    die_with_parent,
    free_port,
    redis_server_binary,
)
from opscentre.workers.feeds.base import Feed, FeedContext
from opscentre.workers.pipeline import store_payload

MASTER = "opscentre"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
POLL_EVERY_S = 0.010
READINGS_PER_POLL = 100
DRILL_FEED = "sentinel_drill"
KIND = "rain_mm"
# down-after 1 s + the election (~1.3 s here) + redis-py's retries; a first failover that times out
# (failover-timeout 5 s) and is tried again by another sentinel still fits
WITHOUT_WRITES_BOUND_S = 15.0
FOLLOW_BOUND_S = 60.0  # a process's reconnect backoff is capped at 15 s (processes/runners.py)


# ---- the Redis group ------------------------------------------------------------------------


class SentinelGroup:
    """A primary, a replica and three sentinels on loopback, with one password for the data
    servers (Sentinel must be allowed REPLICAOF and CONFIG, unlike the embedded server's ACL)."""

    def __init__(self, directory: Path, password: str):
        self.directory, self.password = directory, password
        self.ports = {"primary": free_port(), "replica": free_port()}
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    def start(self, timeout: float = 60.0) -> SentinelGroup:
        for name, port in self.ports.items():
            lines = [f"port {port}", "bind 127.0.0.1", f'dir "{self.directory / name}"', 'save ""', "appendonly no",
                     f"requirepass {self.password}", f"masterauth {self.password}",
                     f'logfile "{self.directory / name / "redis.log"}"']
            if name == "replica":
                lines.append(f"replicaof 127.0.0.1 {self.ports['primary']}")
            self._spawn(name, lines)
        for i, port in enumerate(self.sentinel_ports):
            self._spawn(f"sentinel-{i + 1}", [
                f"port {port}", "bind 127.0.0.1", f'dir "{self.directory / f"sentinel-{i + 1}"}"',
                f'logfile "{self.directory / f"sentinel-{i + 1}" / "redis.log"}"',
                f"sentinel monitor {MASTER} 127.0.0.1 {self.ports['primary']} 2",
                f"sentinel auth-pass {MASTER} {self.password}",
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {MASTER} 1",
            ], sentinel=True)
        _wait(lambda: self._replica_linked() and all(self._sentinel_sees_everyone(p) for p in self.sentinel_ports),
              timeout, "the replica in sync and every sentinel seeing the primary, the replica and 2 other sentinels")
        return self

    def _spawn(self, name: str, lines: list[str], sentinel: bool = False) -> None:
        directory = self.directory / name
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / ("sentinel.conf" if sentinel else "redis.conf")
        config.write_text("\n".join(lines) + "\n")  # a sentinel rewrites its config: a file of its own
        args = [redis_server_binary(), str(config)] + (["--sentinel"] if sentinel else [])
        self.processes[name] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                preexec_fn=die_with_parent)

    def client(self, port: int, **kw) -> redis.Redis:
        return redis.Redis(port=port, password=self.password, socket_connect_timeout=0.5, socket_timeout=2, **kw)

    def _replica_linked(self) -> bool:
        info = self._info(self.ports["replica"], "replication")
        return info.get("master_link_status") == "up"

    def _sentinel_sees_everyone(self, port: int) -> bool:
        try:
            with redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=2) as s:
                state = s.sentinel_master(MASTER)
        except redis.RedisError:
            return False
        return int(state.get("num-slaves", 0)) >= 1 and int(state.get("num-other-sentinels", 0)) >= 2

    def _info(self, port: int, section: str) -> dict:
        try:
            with self.client(port) as c:
                return c.info(section)
        except redis.RedisError:
            return {}

    def master_port(self) -> int | None:
        """The primary's port as a majority of the sentinels name it (None: no majority)."""
        named = []
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=1) as s:
                    host_port = s.sentinel_get_master_addr_by_name(MASTER)
                named.append(int(host_port[1]) if host_port else None)
            except redis.RedisError:
                named.append(None)
        for candidate in set(named):
            if candidate is not None and named.count(candidate) >= 2:
                return candidate
        return None

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait(predicate, timeout: float, what: str, interval: float = 0.1):
    value = wait_for(predicate, timeout, interval)
    if not value:
        raise TimeoutError(f"sentinel-failover: no {what} within {timeout:.0f} s")
    return value


# ---- the drill's own ingest ---------------------------------------------------------------


def _drill_feed(settings: Settings) -> Feed:
    """A feed whose payload is a poll number: READINGS_PER_POLL readings stamped T0 + poll
    (entities at one point of the city), parsed, validated and stored as any feed's."""
    lon, lat = settings.zones.representative_points[0]
    entities = [Entity(entity_id=f"drill:g{i}", entity_type="rain_gauge", source=DRILL_FEED, name=f"drill gauge {i}",
                       geometry={"type": "Point", "coordinates": [lon, lat]}) for i in range(READINGS_PER_POLL)]
    ids = [e.entity_id for e in entities]

    def parse(payload: bytes, ctx: FeedContext) -> ParseResult:
        stamp = float(orjson.loads(payload)["t"])
        return ParseResult(entities=entities, batches=[ObservationBatch(
            source=DRILL_FEED, kind=KIND, entity_ids=ids, values=[0.0] * len(ids), observed_at=[stamp] * len(ids))])

    return Feed(feed_id=DRILL_FEED, title="sentinel-failover drill", fetch=lambda ctx: b"", parse=parse,
                default_interval_s=1)


class Ingest(threading.Thread):
    """Polls every POLL_EVERY_S until stopped; records which were acknowledged, and when."""

    def __init__(self, settings: Settings, client: redis.Redis, t0: float, say):
        super().__init__(daemon=True)
        self.settings, self.store, self.t0, self.say = settings, Store(client), t0, say
        self.feed = _drill_feed(settings)
        self.acked: dict[int, float] = {}  # poll -> monotonic time acknowledged
        self.failed: dict[int, float] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        poll = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            ctx = FeedContext(DRILL_FEED, None, self.settings, datetime.now(timezone.utc))
            try:
                store_payload(self.feed, orjson.dumps({"t": self.t0 + poll}), ctx, self.store)
                self.acked[poll] = time.monotonic()
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, OSError) as exc:
                self.failed[poll] = time.monotonic()
                if len(self.failed) == 1 or len(self.failed) % 50 == 0:
                    self.say(f"  ingest: poll {poll} not acknowledged ({type(exc).__name__})")
            except redis.ResponseError:  # e.g. a replica refusing writes right after its promotion was undone
                self.failed[poll] = time.monotonic()
            poll += 1
            self.stopping.wait(max(0.0, POLL_EVERY_S - (time.monotonic() - started)))


def _stored_polls(client: redis.Redis, t0: float) -> dict[int, int]:
    """poll -> readings of it the history stream holds (the drill's entries only)."""
    counts: dict[int, int] = {}
    for _id, fields in client.xrange(keys.history(KIND)):
        if fields.get(b"s") != DRILL_FEED.encode():
            continue
        columns = orjson.loads(fields[b"d"])
        for t in columns["t"]:
            poll = int(round(t - t0))
            counts[poll] = counts.get(poll, 0) + 1
    return counts


# ---- the drill ------------------------------------------------------------------------------


def run(settings: Settings, short: bool = False, progress: bool = True) -> dict:
    warmup_s, after_s = (3.0, 4.0) if short else (10.0, 15.0)

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="opscentre-sentinel-") as tmp:
        tmp_path = Path(tmp)
        password = os.urandom(16).hex()
        group = SentinelGroup(tmp_path, password)
        up = None
        saved_env = {k: os.environ.get(k) for k in ("OPSCENTRE_REDIS_SENTINELS", "OPSCENTRE_REDIS_MASTER",
                                                     "OPSCENTRE_REDIS_PASSWORD", "REDIS_URL")}
        try:
            say(f"sentinel-failover: a primary, a replica and 3 sentinels on loopback (down-after {DOWN_AFTER_MS} ms, "
                f"failover-timeout {FAILOVER_TIMEOUT_MS} ms)")
            group.start()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "OPSCENTRE_REDIS", "PORT"))}
            env.update(OPSCENTRE_REDIS_SENTINELS=group.sentinels, OPSCENTRE_REDIS_MASTER=MASTER,
                       OPSCENTRE_REDIS_PASSWORD=password, OPSCENTRE_DATA_DIR=str(tmp_path / "var"),
                       PORT=str(free_port()))
            os.environ.update({k: env[k] for k in ("OPSCENTRE_REDIS_SENTINELS", "OPSCENTRE_REDIS_MASTER",
                                                   "OPSCENTRE_REDIS_PASSWORD")})
            os.environ.pop("REDIS_URL", None)
            up, healthz = _start_up(settings, env, tmp_path, say)
            figures = _drill(settings, group, healthz, warmup_s, after_s, say)
        finally:
            if up is not None:
                _stop_up(up)
            group.stop()
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return _result(figures, short, say)


def _start_up(settings: Settings, env: dict, tmp_path: Path, say):
    config = ["--config", str(settings.source_path)] if settings.source_path else []
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen([sys.executable, "-m", "opscentre", "up", "--speed", "60", *config], env=env,
                          stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    healthz = f"http://127.0.0.1:{env['PORT']}/healthz"
    say("  `opscentre up` through Sentinel: waiting for /healthz 200 (workers, scheduler, web)")
    try:
        _wait(lambda: up.poll() is None and _status(healthz) == 200, 120, "/healthz 200", interval=0.5)
    except TimeoutError:
        log.close()
        tail = (tmp_path / "up.log").read_text(errors="replace").splitlines()[-15:]
        raise TimeoutError("sentinel-failover: `opscentre up` did not become healthy:\n" + "\n".join(tail)) from None
    return up, healthz


def _stop_up(up: subprocess.Popen) -> None:
    if up.poll() is None:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _drill(settings: Settings, group: SentinelGroup, healthz: str, warmup_s: float, after_s: float, say) -> dict:
    from opscentre.core.connection import connect

    client = connect()  # the project's client, through Sentinel
    primary_port = group.ports["primary"]
    t0 = float(int(time.time()) - 7200)  # the polls' stamps: within the retention window, never in the future
    ingest = Ingest(settings, client, t0, say)
    ingest.start()
    time.sleep(warmup_s)
    lag = group._info(primary_port, "replication")
    say(f"  ingest: {len(ingest.acked)} polls acknowledged; SIGKILL the primary (port {primary_port})")
    killed_wall, killed = time.time(), time.monotonic()
    group.kill("primary")
    new_port = _wait(lambda: (p := group.master_port()) not in (None, primary_port) and p, 60,
                     "new primary named by the sentinels", interval=0.05)
    promoted, promoted_wall = time.monotonic(), time.time()
    say(f"  the sentinels name the replica (port {new_port}) primary {promoted - killed:.2f} s after the kill")
    new = group.client(new_port)
    follows: dict = {}
    watcher = threading.Thread(target=lambda: follows.update(_follow_times(new, healthz, promoted_wall, say)),
                               daemon=True)
    watcher.start()  # from the promotion on, while the ingest goes on
    _wait(lambda: any(t > promoted for t in ingest.acked.values()), 60, "poll acknowledged by the new primary",
          interval=0.05)
    time.sleep(after_s)
    ingest.stopping.set()
    ingest.join(30)
    watcher.join(FOLLOW_BOUND_S + 40)
    stored = _stored_polls(new, t0)
    new.close()
    client.close()
    before = [t for t in ingest.acked.values() if t < killed]
    after = [t for t in ingest.acked.values() if t > killed]
    lost_polls = [p for p in ingest.acked if stored.get(p, 0) < READINGS_PER_POLL]
    acked_in_last_s = sum(1 for t in before if t > killed - 1.0)
    return {
        "lost": sum(READINGS_PER_POLL - stored.get(p, 0) for p in lost_polls),
        "lost_polls": len(lost_polls),
        "duplicated": sum(max(0, n - READINGS_PER_POLL) for n in stored.values()),
        "without_writes_s": round(min(after) - max(before), 3) if before and after else None,
        "failover_s": round(promoted - killed, 3),
        "recovery_s": round(max(0.0, min(after) - promoted), 3) if after else None,
        "polls_acknowledged": len(ingest.acked), "polls_failed": len(ingest.failed),
        "stored_not_acknowledged": sum(1 for p in ingest.failed if stored.get(p)),
        "acknowledged_in_last_second": acked_in_last_s,
        "replica_lag_before_kill": _replica_lag(lag),
        "follow_s": follows or {"watch": None},
        "killed_at": round(killed_wall, 3), "promoted_at": round(promoted_wall, 3),
    }


def _replica_lag(info: dict) -> dict | None:
    replica = info.get("slave0")
    if not isinstance(replica, dict):
        return None
    # the replica's offset as it last acknowledged it (replicas acknowledge once a second)
    return {"acknowledged_offset_behind_bytes": int(info.get("master_repl_offset", 0)) - int(replica.get("offset", 0)),
            "lag_s": int(replica.get("lag", 0))}


def _follow_times(new: redis.Redis, healthz: str, promoted_wall: float, say) -> dict:
    """Seconds from the promotion until each process was seen working on the new primary."""
    checks = {
        "workers": lambda: sum(1 for _n, s in new.zrange(keys.WORKER_HEARTBEAT, 0, -1, withscores=True)
                               if s > promoted_wall) >= 1,
        "simulator_polls": lambda: float(new.hget(keys.feed_health("simulator"), "last_success_ts") or 0)
        > promoted_wall,
        "scheduler": lambda: any(s > promoted_wall for _n, s in new.zrange(cron_schedulers_key(), 0, -1,
                                                                              withscores=True)),
        "notifier": lambda: any(s > promoted_wall for _n, s in new.zrange(keys.NOTIFIER_HEARTBEAT, 0, -1,
                                                                           withscores=True)),
        "web_healthz": lambda: _status(healthz) == 200,
    }
    seen: dict[str, float | None] = {name: None for name in checks}
    deadline = time.monotonic() + FOLLOW_BOUND_S + 30
    while time.monotonic() < deadline and any(v is None for v in seen.values()):
        for name, check in checks.items():
            if seen[name] is None:
                try:
                    if check():
                        seen[name] = round(time.time() - promoted_wall, 1)
                        say(f"  {name} on the new primary {seen[name]:.1f} s after the promotion")
                except redis.RedisError:
                    pass
        time.sleep(0.25)
    return seen


def _result(f: dict, short: bool, say) -> dict:
    followed = all(v is not None and v <= FOLLOW_BOUND_S for v in f["follow_s"].values())
    lost_bound = f["acknowledged_in_last_second"] * READINGS_PER_POLL
    expected = {"duplicated": 0, "lost_max": lost_bound, "without_writes_s_max": WITHOUT_WRITES_BOUND_S,
                "follow_s_max": FOLLOW_BOUND_S}
    ok = (f["duplicated"] == 0 and f["lost"] <= lost_bound and f["without_writes_s"] is not None
          and f["without_writes_s"] <= WITHOUT_WRITES_BOUND_S and followed)
    result = {"drill": "sentinel-failover", "lost": f.pop("lost"), "duplicated": f.pop("duplicated"),
              "recovery_s": f.pop("recovery_s"), "expected": expected, "ok": ok, **f, "short": short}
    say(f"  polls:            {result['polls_acknowledged']} acknowledged ({READINGS_PER_POLL} readings each), "
        f"{result['polls_failed']} not ({result['stored_not_acknowledged']} of those stored anyway)")
    say(f"  without writes:   {result['without_writes_s']} s (last poll acknowledged by the old primary to the first "
        f"by the new)   expected: ≤ {WITHOUT_WRITES_BOUND_S:g} s")
    say(f"  failover:         {result['failover_s']} s from the kill to the sentinels naming the new primary")
    say(f"  lost:             {result['lost']} readings ({result['lost_polls']} acknowledged polls missing on the new "
        f"primary)   expected: ≤ {lost_bound} (the polls acknowledged in the last second: asynchronous replication)")
    say(f"  duplicated:       {result['duplicated']}   expected: 0")
    say(f"  replica before the kill: {result['replica_lag_before_kill']}")
    say("  followed the new primary (s after the promotion): "
        + ", ".join(f"{k} {v}" for k, v in result["follow_s"].items()) + f"   expected: each ≤ {FOLLOW_BOUND_S:g} s")
    say("  " + ("ok" if ok else "NOT OK: outside the expected bounds"))
    return result
