"""`opscentre drill net-cut`: the connection to Redis drops after a poll's transaction was sent
but before its reply came back.

A real redis-server on loopback; between it and the project's own client (core/connection.py,
with its Retry) a CuttingProxy. Simulator polls go through the same path as a worker's poll
(workers/pipeline.py: parse -> validate -> store) while the proxy, on every CUT_EVERY-th poll,
either lets Redis run the poll's EXEC and drops the connection before the reply (`reply`: Redis
stored it, the client does not know and re-sends it), or drops it before the EXEC reaches Redis
(`request`: nothing stored, the client re-sends it). After each poll the drill reads what
Redis holds directly (not through the proxy): history rows, metric counters and the version
must have moved by exactly one poll's worth.

Figures: duplicated (rows stored beyond a poll's own), lost (rows of an acknowledged poll
missing), recovery_s (from a cut to that poll acknowledged), transactions Redis ran twice (the
fault took hold: INFO commandstats' EXEC count beyond the polls).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis

from opscentre.core import keys
from opscentre.core.connection import connect
from opscentre.core.settings import Settings, feed_options
from opscentre.core.store import Store
from opscentre.drills.proxy import CuttingProxy
from opscentre.processes.redis_server import RedisServer
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.pipeline import store_payload

POLL_STEP = timedelta(minutes=1)
CUT_EVERY = 3
RECOVERY_BOUND_S = 2.0  # redis-py's backoff is capped at 2 s (core/connection.py); the first retry waits ≤ 0.2 s
FEED_ID = "simulator"


def run(settings: Settings, short: bool = False, progress: bool = True) -> dict:
    polls = 12 if short else 90

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    feed = FEEDS[FEED_ID]
    options = feed_options(settings, FEED_ID)
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) - polls * POLL_STEP
    say(f"net-cut: {polls} simulator polls through a proxy that cuts every {CUT_EVERY}rd poll's connection "
        "(alternately after Redis ran the EXEC, and before it reached Redis)")
    with tempfile.TemporaryDirectory(prefix="opscentre-drill-") as tmp:
        server = RedisServer(Path(tmp), persist=False).start()
        try:
            with CuttingProxy.in_front_of(server.url) as proxy:
                direct = redis.Redis.from_url(server.url)
                client = connect(proxy.url)  # the project's client and Retry, through the proxy
                try:
                    figures = _polls(feed, options, settings, start, polls, Store(client), direct, proxy, say)
                finally:
                    client.close()
                    direct.close()
        finally:
            server.stop()
    expected = {"lost": 0, "duplicated": 0, "counter_excess": 0, "failed_polls": 0,
                "recovery_s_max": RECOVERY_BOUND_S}
    ok = (figures["lost"] == 0 and figures["duplicated"] == 0 and figures["counter_excess"] == 0
          and figures["failed_polls"] == 0 and figures["recovery_s"] <= RECOVERY_BOUND_S
          and figures["reexecuted"] == figures["cuts_reply"])
    result = {"drill": "net-cut", "lost": figures.pop("lost"), "duplicated": figures.pop("duplicated"),
              "recovery_s": figures.pop("recovery_s"), "expected": expected, "ok": ok, **figures,
              "short": short}
    say(f"  polls acknowledged:  {result['polls'] - result['failed_polls']} of {result['polls']} "
        f"({result['observations_expected']:,} observations)   expected: all")
    say(f"  cuts:                {result['cuts_reply']} after Redis ran the EXEC, {result['cuts_request']} before it")
    say(f"  re-executed by Redis: {result['reexecuted']} transactions   (the fault took hold: one per reply cut)")
    say(f"  duplicated:          {result['duplicated']} observations   expected: 0")
    say(f"  lost:                {result['lost']} observations   expected: 0")
    say(f"  counters over:       {result['counter_excess']}   expected: 0 (metrics, version)")
    say(f"  recovery:            max {result['recovery_s']:.3f} s, median {result['recovery_s_median']:.3f} s "
        f"from a cut to the poll acknowledged   expected: ≤ {RECOVERY_BOUND_S} s")
    say("  " + ("ok" if ok else "NOT OK: outside the expected bounds"))
    return result


def _polls(feed, options, settings, start, polls, store, direct, proxy, say) -> dict:
    last_ids: dict[str, str] = {}
    lost = duplicated = counter_excess = failed = expected_total = 0
    cuts = {"reply": 0, "request": 0}
    recoveries = []
    exec_before = _exec_calls(direct)
    for i in range(polls):
        ctx = FeedContext(FEED_ID, options, settings, start + i * POLL_STEP)
        payload = feed.fetch(ctx)
        before = _counters(direct)
        kind_of_cut = None
        if i % CUT_EVERY == CUT_EVERY - 1:
            kind_of_cut = "reply" if (i // CUT_EVERY) % 2 == 0 else "request"
            (proxy.cut_replies if kind_of_cut == "reply" else proxy.cut_before)(b"EXEC")
        cuts_before = len(proxy.cuts)
        try:
            summary = store_payload(feed, payload, ctx, store)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            failed += 1
            say(f"  poll {i}: not acknowledged ({exc})")
            continue
        acknowledged = time.monotonic()
        if kind_of_cut is not None:
            if len(proxy.cuts) == cuts_before + 1:
                cuts[kind_of_cut] += 1
                recoveries.append(acknowledged - proxy.cuts[-1])
            else:
                say(f"  poll {i}: the {kind_of_cut} cut did not happen")
        rows = _new_rows(direct, last_ids)
        expected_total += summary.observations
        duplicated += max(0, rows - summary.observations)
        lost += max(0, summary.observations - rows)
        after = _counters(direct)
        moved = {"polls": 1, "observations_stored": summary.observations, "version": 1}
        counter_excess += sum(max(0, after[k] - before[k] - v) for k, v in moved.items())
    reexecuted = _exec_calls(direct) - exec_before - (polls - failed)
    return {"lost": lost, "duplicated": duplicated,
            "recovery_s": round(max(recoveries, default=0.0), 3),
            "recovery_s_median": round(statistics.median(recoveries), 3) if recoveries else 0.0,
            "polls": polls, "failed_polls": failed, "observations_expected": expected_total,
            "counter_excess": counter_excess, "cuts_reply": cuts["reply"], "cuts_request": cuts["request"],
            "reexecuted": reexecuted}


def _new_rows(direct: redis.Redis, last_ids: dict[str, str]) -> int:
    """Observations in the history entries written since the last call (every kind)."""
    import orjson

    rows = 0
    for raw in direct.smembers(keys.KINDS):
        kind = raw.decode()
        after = last_ids.get(kind)
        entries = direct.xrange(keys.history(kind), min=f"({after}" if after else "-")
        for entry_id, fields in entries:
            rows += len(orjson.loads(fields[b"d"])["e"])
            last_ids[kind] = entry_id.decode()
    return rows


def _counters(direct: redis.Redis) -> dict[str, int]:
    metrics = direct.hgetall(keys.feed_metrics(FEED_ID))
    return {"polls": int(metrics.get(b"polls", 0)),
            "observations_stored": int(metrics.get(b"observations_stored", 0)),
            "version": int(direct.get(keys.VERSION) or 0)}


def _exec_calls(direct: redis.Redis) -> int:
    return int(direct.info("commandstats").get("cmdstat_exec", {}).get("calls", 0))
