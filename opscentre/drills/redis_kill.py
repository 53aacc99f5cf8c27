"""`opscentre drill redis-kill`: Redis SIGKILLed during ingest, restarted on its data directory.

A real redis-server persisting as the embedded one does (AOF, `appendfsync everysec`; the
variant `redis-kill-fsync-always` with `appendfsync always`), written to by the project's own
client (core/connection.py, with its Retry) and Store: one poll of 100 readings every 10 ms
(10,000 observations/s), each poll's readings carrying the poll's number. While polls run,
Redis is killed (SIGKILL: no chance to flush) with a poll under way, and started again on the
same directory and port; the client's retry sends that poll again to the restarted Redis.
At the end the drill reads the history back and counts, by poll number, the polls acknowledged
to the writer and then missing (lost) and those stored more than once (duplicated).

What it cannot show: a process kill leaves the operating system's page cache intact, so the
AOF bytes Redis wrote but had not fsynced yet survive it; a power cut (or a kernel panic) would
lose them. That is not observable from here (the kernel does not say which pages of a file are
dirty), so the drill reports the bound instead: with `everysec` Redis fsyncs once a second, so a
power cut loses up to ~1 s of acknowledged writes (up to 2 s when a slow disk makes Redis
postpone its writes while an fsync is in flight); `power_cut_bound_obs` is that second at the
rate measured. With `always` Redis fsyncs before it replies: nothing acknowledged is lost.

Figures: lost and duplicated (observations), recovery_s (from the restarted Redis answering to
the next poll acknowledged, max over the kills), outage_s (from the kill to that poll).
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import redis

from opscentre.core import keys
from opscentre.core.connection import connect
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.processes.redis_server import RedisServer

READINGS_PER_POLL = 100
POLL_EVERY_S = 0.01
FEED_ID = "drill"
KIND = "rain_mm"  # (a kind the models know; the drill's own Redis holds nothing else)
RECOVERY_BOUND_S = 2.5  # the client's backoff is capped at 2 s (core/connection.py), plus a poll
FSYNC_PERIOD_S = 1.0  # appendfsync everysec
SLOW_FSYNC_WORST_S = 2.0  # while an fsync is slow Redis postpones its AOF writes: up to 2 s lost (its docs)


class DrillRedis(RedisServer):
    """The embedded server's configuration, with another `appendfsync` when asked."""

    def __init__(self, directory: Path, port: int | None = None, fsync: str = "everysec"):
        super().__init__(directory, port, persist=True)
        self.fsync = fsync

    def _write_config(self) -> Path:
        path = super()._write_config()
        text = path.read_text()
        if "appendfsync everysec\n" not in text:
            raise RuntimeError(f"no `appendfsync everysec` line to replace in {path}")
        path.write_text(text.replace("appendfsync everysec\n", f"appendfsync {self.fsync}\n"))
        return path


def run(settings: Settings, short: bool = False, progress: bool = True) -> dict:
    return _run("redis-kill", "everysec", short, progress)


def run_fsync_always(settings: Settings, short: bool = False, progress: bool = True) -> dict:
    return _run("redis-kill-fsync-always", "always", short, progress)


class Writer(threading.Thread):
    """Polls of READINGS_PER_POLL readings every POLL_EVERY_S; each reading's value is its poll's
    number. Remembers which polls were acknowledged, and when. `retry_refused`: a poll Redis
    refused is sent again (a job retried) instead of given up."""

    def __init__(self, url: str, retry_refused: bool = False):
        super().__init__(daemon=True, name="drill-writer")
        self.client = connect(url, check=False)
        self.store = Store(self.client)
        self.stop = threading.Event()
        self.acknowledged: list[tuple[int, float]] = []  # (poll, monotonic time of its reply)
        self.refused = 0
        self.retry_refused = retry_refused
        self.last_refusal: str | None = None
        self.in_flight = False  # a poll under way: sent, or about to be, its reply not yet back
        self.entities = [Entity(entity_id=f"drill-{i}", entity_type="rain_gauge", source=FEED_ID, zone_id="drill",
                                geometry={"type": "Point", "coordinates": [0.0, 0.0]})
                         for i in range(READINGS_PER_POLL)]

    def run(self) -> None:
        poll, base = 0, time.time()
        next_at = time.monotonic()
        new_entities = self.entities
        while not self.stop.is_set():
            t = base + poll * POLL_EVERY_S
            batch = ObservationBatch(source=FEED_ID, kind=KIND, entity_ids=[e.entity_id for e in self.entities],
                                     values=[float(poll)] * READINGS_PER_POLL, observed_at=[t] * READINGS_PER_POLL)
            try:
                self.in_flight = True
                self.store.write_poll(FEED_ID, new_entities, [batch], {"status": "ok"},
                                      {"polls": 1, "observations_stored": READINGS_PER_POLL},
                                      retention_s=48 * 3600, wall_now=time.time())
                self.acknowledged.append((poll, time.monotonic()))
                new_entities = []
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
                self.refused += 1  # not acknowledged: the writer knows it was not stored
                self.in_flight = False
                self.last_refusal = f"{type(exc).__name__}: {exc}"
                if self.retry_refused:
                    next_at = self._pace(next_at)
                    continue
            self.in_flight = False
            poll += 1
            next_at = self._pace(next_at)
        self.client.close()

    def _pace(self, next_at: float) -> float:
        """One poll every POLL_EVERY_S on the clock (not a pause after each); no burst to catch
        up after an outage."""
        next_at = max(next_at + POLL_EVERY_S, time.monotonic())
        self.stop.wait(max(0.0, next_at - time.monotonic()))
        return next_at

    def first_after(self, moment: float) -> float | None:
        return next((t for _poll, t in self.acknowledged if t > moment), None)


def _run(name: str, fsync: str, short: bool, progress: bool) -> dict:
    kills, ingest_s = (2, 1.5) if short else (6, 3.0)

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    say(f"{name}: a poll of {READINGS_PER_POLL} readings every {POLL_EVERY_S * 1000:.0f} ms through the project's "
        f"client; Redis (AOF, appendfsync {fsync}) SIGKILLed {kills} times and restarted on its data")
    rounds = []
    with tempfile.TemporaryDirectory(prefix="opscentre-drill-") as tmp:
        server = DrillRedis(Path(tmp) / "redis", fsync=fsync).start()
        writer = Writer(server.url)
        writer.start()
        ingest_started = time.monotonic()
        try:
            for k in range(kills):
                _wait_for_polls(writer, int(ingest_s / POLL_EVERY_S / 2), ingest_s * 20)
                time.sleep(ingest_s / 2)
                mid_write = bool(_wait_for(lambda: writer.in_flight, 2.0, writer, 0.0002))  # a poll under way
                killed_at = time.monotonic()
                server.kill()
                server = DrillRedis(server.directory, port=server.port, fsync=fsync).start()
                answering = time.monotonic()
                resumed = _wait_for(lambda: writer.first_after(answering), 30, writer)
                rounds.append({"mid_write": mid_write, "restart_s": answering - killed_at,
                               "recovery_s": max(0.0, (resumed or float("inf")) - answering),
                               "outage_s": (resumed or float("inf")) - killed_at})
                say(f"  kill {k + 1}{' (a poll under way)' if mid_write else ''}: Redis answered again "
                    f"{answering - killed_at:.2f} s after the kill, polls resumed {rounds[-1]['recovery_s']:.2f} s after that")
            _wait_for_polls(writer, 10, 30)
        finally:
            writer.stop.set()
            writer.join(10)
            ingest_s_total = time.monotonic() - ingest_started
            try:
                figures = _count(server.url, writer, fsync)
            finally:
                server.stop()
    outage_total = sum(min(r["outage_s"], 30) for r in rounds)
    rate = len(writer.acknowledged) * READINGS_PER_POLL / max(0.001, ingest_s_total - outage_total)
    power_cut_bound = 0 if fsync == "always" else round(rate * FSYNC_PERIOD_S)
    lost_bound = 0 if fsync == "always" else round(rate * FSYNC_PERIOD_S)
    expected = {"lost_max": lost_bound, "duplicated": 0, "recovery_s_max": RECOVERY_BOUND_S, "counter_mismatch": 0}
    recovery_s = round(max((r["recovery_s"] for r in rounds), default=0.0), 3)
    ok = (figures["lost"] <= lost_bound and figures["duplicated"] == 0 and figures["counter_mismatch"] == 0
          and recovery_s <= RECOVERY_BOUND_S and len(rounds) == kills)
    result = {"drill": name, "lost": figures.pop("lost"), "duplicated": figures.pop("duplicated"),
              "recovery_s": recovery_s, "expected": expected, "ok": ok, "appendfsync": fsync, "kills": len(rounds),
              "kills_mid_write": sum(r["mid_write"] for r in rounds),
              "restart_s_max": round(max((r["restart_s"] for r in rounds), default=0.0), 3),
              "outage_s_max": round(max((r["outage_s"] for r in rounds), default=0.0), 3),
              "observations_per_s": round(rate), "power_cut_bound_obs": power_cut_bound,
              "power_cut_bound_s": 0 if fsync == "always" else FSYNC_PERIOD_S,
              "power_cut_worst_obs": 0 if fsync == "always" else round(rate * SLOW_FSYNC_WORST_S),
              **figures, "short": short}
    say(f"  kills:               {result['kills']}, {result['kills_mid_write']} of them sent while a poll was under way "
        "(sent, its reply not back: the client's retry sends it again to the restarted Redis)")
    say(f"  polls acknowledged:  {result['polls_acknowledged']:,} ({result['observations_acknowledged']:,} "
        f"observations, {result['observations_per_s']:,}/s), refused while Redis was away: {result['polls_refused']}")
    say(f"  lost:                {result['lost']} acknowledged observations missing after the restarts   "
        f"expected: ≤ {lost_bound} ({'appendfsync always' if fsync == 'always' else '1 s of them'})")
    say(f"  duplicated:          {result['duplicated']} observations   expected: 0")
    say(f"  counters off:        {result['counter_mismatch']}   expected: 0 (the feed's polls and observations)")
    say(f"  stored unacknowledged: {result['stored_unacknowledged']} polls (Redis ran them, the reply was lost "
        "with the kill: stored once, not lost)")
    say(f"  recovery:            max {recovery_s:.3f} s from Redis answering to a poll acknowledged   "
        f"expected: ≤ {RECOVERY_BOUND_S} s (Redis answered ≤ {result['restart_s_max']:.2f} s after each kill)")
    if fsync == "always":
        say("  a power cut:         would lose nothing acknowledged (Redis fsyncs before it replies)")
    else:
        say(f"  a power cut:         not observable here (a kill keeps the page cache); bound: the last "
            f"~{FSYNC_PERIOD_S:g} s of writes, {power_cut_bound:,} observations at this rate "
            f"(≤ {result['power_cut_worst_obs']:,} while a slow fsync postpones writes)")
    say("  " + ("ok" if ok else "NOT OK: outside the expected bounds"))
    return result


def _wait_for_polls(writer: Writer, more: int, timeout: float) -> None:
    target = len(writer.acknowledged) + more
    _wait_for(lambda: len(writer.acknowledged) >= target or None, timeout, writer)


def _wait_for(predicate, timeout: float, writer: Writer | None = None, interval: float = 0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if writer is not None and not writer.is_alive():
            raise RuntimeError("the drill's writer stopped (see its traceback above)")
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def _count(url: str, writer: Writer, fsync: str) -> dict:
    """What Redis holds after the restarts, against what the writer was told."""
    direct = redis.Redis.from_url(url)
    try:
        stored = Counter()
        for _entry_id, fields in direct.xrange(keys.history(KIND)):
            if fields[b"s"] != FEED_ID.encode():
                continue  # (another writer's: the simulator of the disk-full drill)
            columns = orjson.loads(fields[b"d"])
            stored[int(columns["v"][0])] += 1
        metrics = direct.hgetall(keys.feed_metrics(FEED_ID))
        aof = direct.info("persistence")
    finally:
        direct.close()
    acknowledged = {poll for poll, _t in writer.acknowledged}
    lost_polls = acknowledged - set(stored)
    duplicated_polls = sum(n - 1 for n in stored.values())
    counted_polls = int(metrics.get(b"polls", 0))
    return {"lost": len(lost_polls) * READINGS_PER_POLL, "duplicated": duplicated_polls * READINGS_PER_POLL,
            "polls_acknowledged": len(acknowledged), "observations_acknowledged": len(acknowledged) * READINGS_PER_POLL,
            "polls_refused": writer.refused, "polls_stored": len(stored),
            "stored_unacknowledged": len(set(stored) - acknowledged),
            "counter_mismatch": abs(counted_polls - sum(stored.values())),
            "aof_last_write_status": aof.get("aof_last_write_status")}
