"""The simulated consoles of `opscentre bench dashboard`: N clients in a spawned process (aiohttp),
each posting the console's map tick every `interval` seconds (open loop: a tick's latency counts
from when it was due, as a browser's dcc.Interval fires whether or not the last answer came),
each with the map state its own last answer gave it, as a browser keeps it in its dcc.Store.

`full`: every client forgets its state before each tick (posts {}), so every tick that has news
sends whole arrays — the full-figure baseline."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

import orjson

REQUEST_TIMEOUT_S = 15.0  # a tick not answered by then is an error (an overloaded server)


def run_clients(url: str, body: dict[str, Any], state_index: int, cookies: dict[str, str], clients: int,
                interval: float, seconds: float, warmup: float, full: bool = False) -> dict:
    """In a spawned process, so the load is not the process measured."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    process = ctx.Process(target=_main, args=(results, url, body, state_index, cookies, clients, interval, seconds,
                                              warmup, full), daemon=True)
    process.start()
    try:
        return results.get(timeout=warmup + seconds + REQUEST_TIMEOUT_S + 60)
    finally:
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join()


def _main(results, *args) -> None:
    results.put(asyncio.run(_load(*args)))


async def _load(url: str, body: dict[str, Any], state_index: int, cookies: dict[str, str], clients: int,
                interval: float, seconds: float, warmup: float, full: bool) -> dict:
    import aiohttp

    clock = time.perf_counter
    first = clock() + 0.2
    begin, end = first + warmup, first + warmup + seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sizes: list[int] = []
    errors: list[str] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=clients)
    headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip"}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, cookies=cookies, timeout=timeout,
                                     headers=headers) as session:
        async def client(i: int) -> None:
            nonlocal failures
            held = body["state"][state_index].get("value")
            due = first + interval * i / clients
            while True:
                wait = due - clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                sent, due = due, due + interval
                if sent >= end:
                    return
                state = [dict(s) for s in body["state"]]
                state[state_index]["value"] = {} if full else held
                try:
                    async with session.post(url, data=orjson.dumps({**body, "state": state})) as response:
                        raw = await response.read()
                        status = response.status
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    if sent >= begin:
                        failures += 1
                        if len(errors) < 3:
                            errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                if status == 200:
                    answer = orjson.loads(raw).get("response") or {}
                    held = (answer.get(body["state"][state_index]["id"]) or {}).get("data", held)
                if sent >= begin:
                    latencies.append((clock() - sent) * 1000)
                    statuses[status] = statuses.get(status, 0) + 1
                    sizes.append(len(raw))

        await asyncio.gather(*(client(i) for i in range(clients)))
    return {"latencies": latencies, "statuses": statuses, "sizes": sizes, "errors": errors, "failures": failures,
            "seconds": seconds}
