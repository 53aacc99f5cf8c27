"""`opscentre bench ingest`: simulated observations through the real parse -> validate -> store
path into a fresh Redis, beside the naive shape (one HSET + one XADD per observation through
redis-py, pipelined by 1,000) measured in the same run on the same Redis."""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import redis

from opscentre.core.settings import Settings, feed_options
from opscentre.core.store import Store
from opscentre.processes.redis_server import RedisServer
from opscentre.processes.tuning import tune_gc_for_bulk_parsing
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.pipeline import store_payload

NAIVE_PIPELINE = 1000
POLL_STEP = timedelta(minutes=1)


def run_ingest_bench(settings: Settings, observations: int, progress: bool = True) -> dict:
    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    feed = FEEDS["simulator"]
    options = feed_options(settings, "simulator")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    contexts = []
    payloads = []
    total = 0
    say(f"generating simulated polls until {observations:,} observations ...")
    step = 0
    while total < observations:
        ctx = FeedContext("simulator", options, settings, start + step * POLL_STEP)
        payload = feed.fetch(ctx)
        total += feed.parse(payload, ctx).observation_count
        contexts.append(ctx)
        payloads.append(payload)
        step += 1
    say(f"{len(payloads)} polls, {total:,} observations, {sum(map(len, payloads)) / 1e6:.1f} MB of payload")

    with tempfile.TemporaryDirectory(prefix="opscentre-bench-") as tmp:
        server = RedisServer(Path(tmp), persist=False).start()
        try:
            client = redis.Redis.from_url(server.url)
            store = Store(client)
            # Registering entities (zone join) happens once per entity, not per reading: do it first.
            warm = time.perf_counter()
            store_payload(feed, payloads[0], contexts[0], store)
            first_poll_s = time.perf_counter() - warm
            client.flushall()
            store = Store(client)
            store_payload(feed, payloads[0], contexts[0], store)  # registry filled, then measure

            tune_gc_for_bulk_parsing()  # as the worker process does
            say("ours: parse -> validate -> store ...")
            t0 = time.perf_counter()
            stored = 0
            for payload, ctx in zip(payloads, contexts):
                stored += store_payload(feed, payload, ctx, store).observations  # (its forecasts are stored too)
            ours_s = time.perf_counter() - t0

            parsed = [feed.parse(p, c) for p, c in zip(payloads, contexts)]
            client.flushall()
            say("baseline: one HSET + one XADD per observation, pipelined by 1,000 ...")
            t0 = time.perf_counter()
            naive = _naive_store(client, parsed)
            naive_s = time.perf_counter() - t0
        finally:
            server.stop()

    ours_rate = stored / ours_s
    naive_rate = naive / naive_s
    result = {
        "bench": "ingest",
        "value": round(ours_rate),
        "unit": "observations/s",
        "baseline": "naive redis-py: HSET + XADD per observation, pipelined by 1000",
        "baseline_value": round(naive_rate),
        "ratio": round(ours_rate / naive_rate, 2),
        "observations": stored,
        "polls": len(payloads),
        "seconds": round(ours_s, 3),
        "baseline_seconds": round(naive_s, 3),
        "first_poll_with_zone_join_s": round(first_poll_s, 3),
    }
    say(f"ours:     {ours_rate:>10,.0f} obs/s  ({stored:,} observations in {ours_s:.2f} s, parse+validate+store)")
    say(f"baseline: {naive_rate:>10,.0f} obs/s  ({naive:,} observations in {naive_s:.2f} s, store only)")
    say(f"ratio:    {ours_rate / naive_rate:.2f}x")
    return result


def _naive_store(client: redis.Redis, parsed) -> int:
    pipe = client.pipeline(transaction=False)
    count = 0
    for result in parsed:
        for batch in result.batches:
            for entity_id, value, ts in zip(batch.entity_ids, batch.values, batch.observed_at):
                pipe.hset(f"naive:latest:{batch.kind}", entity_id, orjson.dumps((value, ts, batch.source)))
                pipe.xadd(f"naive:hist:{batch.kind}", {"e": entity_id, "v": value, "t": ts, "s": batch.source})
                count += 1
                if count % NAIVE_PIPELINE == 0:
                    pipe.execute()
    pipe.execute()
    return count
