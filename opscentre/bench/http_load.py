"""The load of `opscentre bench public`: keep-alive HTTP clients (aiohttp) in spawned processes,
every answer's status, encoding, size and latency recorded in a measured window.

Closed loop (no `rate`): each connection sends its next request when the last answer is read,
like wrk: the most the server answers, with latencies that are mostly the queue the load itself
makes. Open loop (`rate` requests/s in all): each connection sends on a fixed schedule, like
wrk2, and a request's latency counts from when it was due, not from when a busy connection got
round to it (no coordinated omission): the latency a steady stream of readers sees at that rate.
Every request due in the window is counted, however late its answer (a server behind its
schedule is drained, not cut off at the window's end)."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter

UNEXPECTED_KEPT = 3  # the first wrong answers of a case kept, to say what they were


class LoadClients:
    """`n` spawned processes, each driving its share of the connections with aiohttp."""

    def __init__(self, n: int):
        ctx = multiprocessing.get_context("spawn")
        self.tasks = [ctx.Queue() for _ in range(n)]
        self.results = ctx.Queue()
        self.processes = [ctx.Process(target=_client_main, args=(q, self.results), daemon=True) for q in self.tasks]

    def __enter__(self) -> LoadClients:
        for p in self.processes:
            p.start()
        for _ in self.processes:
            self.results.get(timeout=60)  # each says it is ready (aiohttp imported)
        return self

    def __exit__(self, *exc) -> None:
        for q in self.tasks:
            q.put(None)
        for p in self.processes:
            p.join(10)
            if p.is_alive():
                p.terminate()
                p.join()

    def run(self, url: str, headers: dict[str, str], connections: int, warmup: float, seconds: float,
            expect: int, rate: float | None = None) -> dict:
        n = len(self.processes)
        start = time.time() + 0.2  # every process starts at once
        for i, q in enumerate(self.tasks):
            share = connections // n + (i < connections % n)
            q.put({"url": url, "headers": headers, "connections": share, "start": start, "warmup": warmup,
                   "seconds": seconds, "expect": expect, "rate": rate * share / connections if rate else None})
        merged: dict = {"latencies": [], "statuses": Counter(), "encodings": Counter(), "bytes": Counter(),
                        "errors": Counter(), "cpu_s": 0.0, "unexpected": []}
        for _ in range(n):
            part = self.results.get(timeout=warmup + seconds + 60)
            merged["latencies"].extend(part["latencies"])
            merged["cpu_s"] += part["cpu_s"]
            merged["unexpected"] = (merged["unexpected"] + part["unexpected"])[:UNEXPECTED_KEPT]
            for key in ("statuses", "encodings", "bytes", "errors"):
                merged[key].update(part[key])
        return merged


def _client_main(tasks, results) -> None:
    import aiohttp  # noqa: F401  (imported before saying ready)

    results.put("ready")
    while (task := tasks.get()) is not None:
        results.put(asyncio.run(_load(**task)))


async def _load(url: str, headers: dict[str, str], connections: int, start: float, warmup: float,
                seconds: float, expect: int, rate: float | None = None) -> dict:
    import aiohttp

    begin, end = start + warmup, start + warmup + seconds
    cpu_at_start = time.process_time()
    latencies: list[float] = []
    statuses: Counter = Counter()
    encodings: Counter = Counter()
    sizes: Counter = Counter()
    errors: Counter = Counter()
    unexpected: list[str] = []  # what the first few wrong answers and client errors were
    clock = time.perf_counter
    offset = time.time() - clock()  # wall time = perf_counter + offset (the window is in wall time)
    begin_c, end_c = begin - offset, end - offset
    connector = aiohttp.TCPConnector(limit=connections, force_close=False, enable_cleanup_closed=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                     skip_auto_headers=("Accept-Encoding", "User-Agent")) as session:
        await asyncio.sleep(max(0.0, start - time.time()))

        interval = connections / rate if rate else 0.0  # between one connection's requests, open loop
        first = clock()

        async def connection(i: int) -> None:
            due = first + interval * i / connections  # the connections' schedules interleave
            while True:
                if rate:
                    if due - clock() > 0:
                        await asyncio.sleep(due - clock())
                    sent, due = due, due + interval  # late (the last answer took longer): sent now, timed from due
                else:
                    sent = clock()
                if sent >= end_c:
                    return
                try:
                    async with session.get(url, headers=headers) as response:
                        body = await response.read()
                        status, encoding = response.status, response.headers.get("Content-Encoding")
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    if sent >= begin_c:
                        errors[type(exc).__name__] += 1
                        if len(unexpected) < UNEXPECTED_KEPT:
                            unexpected.append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                done = clock()
                if status != expect and sent >= begin_c and len(unexpected) < UNEXPECTED_KEPT:
                    unexpected.append(f"{status} {encoding or ''} {body[:200]!r}")
                if sent >= begin_c and (done <= end_c or rate):  # open loop: every request due in the window
                    latencies.append((done - sent) * 1000)
                    statuses[status] += 1
                    encodings[encoding or "identity"] += 1
                    sizes[len(body)] += 1

        await asyncio.gather(*(connection(i) for i in range(connections)))
    return {"latencies": latencies, "statuses": statuses, "encodings": encodings, "bytes": sizes,
            "errors": errors, "cpu_s": time.process_time() - cpu_at_start, "unexpected": unexpected}
