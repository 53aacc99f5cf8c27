"""A Twilio-compatible SMS gateway on loopback for `opscentre bench notify`, and its ceiling.

The gateway (aiohttp, one asyncio loop in its own spawned process, so it holds thousands of
requests at once and takes none of the notifier's CPU time in-process) answers
`POST /2010-04-01/Accounts/{sid}/Messages.json` after `delay_s` with a Message resource (201,
`sid`, `status: queued`), as Twilio does, and notes each request's To number, the time it
arrived and the sid it answered. `GET /_received` returns those [to, time, sid] triples;
`POST /_reset` forgets them.

`ceiling()` is the baseline: the gateway alone, driven by a plain aiohttp client with many
connections kept alive, as fast as it will go.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import socket
import time
import uuid

import aiohttp
import orjson

SID, TOKEN, FROM = "ACbench0000000000000000000000000000", "bench-token", "+552140040000"
MESSAGES_PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


class Gateway:
    def __init__(self, delay_s: float = 0.05):
        self.delay_s = delay_s
        self.url = ""
        self._process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> Gateway:
        ctx = multiprocessing.get_context("spawn")
        ports = ctx.Queue()
        self._process = ctx.Process(target=_serve, args=(self.delay_s, ports), daemon=True)
        self._process.start()
        self.url = f"http://127.0.0.1:{ports.get(timeout=60)}"
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(10)

    def env(self) -> dict[str, str]:
        """The SMS channel's settings pointing at this gateway."""
        return {"OPSCENTRE_SMS_API_URL": self.url, "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN,
                "OPSCENTRE_SMS_FROM": FROM}

    def received(self) -> list[tuple[str, float, str]]:
        """(To, arrival time, the sid answered) of every message POSTed since the last reset."""
        return [tuple(x) for x in orjson.loads(_get(self.url + "/_received"))]

    def count(self) -> int:
        return int(_get(self.url + "/_count"))

    def reset(self) -> None:
        asyncio.run(_post_once(self.url + "/_reset"))

    def ceiling(self, requests: int, concurrency: int = 256) -> float:
        """Messages/s the gateway answers to a plain aiohttp client with `concurrency` kept-alive
        connections, `requests` form POSTs (forgotten afterwards)."""
        took = asyncio.run(_drive(self.url + MESSAGES_PATH, requests, concurrency))
        self.reset()
        return requests / took


def _get(url: str) -> bytes:
    async def get() -> bytes:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return await response.read()
    return asyncio.run(get())


async def _post_once(url: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(url) as response:
        await response.read()


async def _drive(url: str, requests: int, concurrency: int) -> float:
    auth = {"Authorization": "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()}
    left = iter(range(requests))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), headers=auth) as session:
        async def one_connection() -> None:
            for i in left:
                form = {"To": f"+55219{i:08d}", "From": FROM, "Body": "ceiling"}
                async with session.post(url, data=form) as response:
                    if response.status != 201:
                        raise RuntimeError(f"the bench gateway answered {response.status}")
                    await response.read()
        t = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(concurrency)))
        return time.perf_counter() - t


def _serve(delay_s: float, ports) -> None:
    from aiohttp import web

    expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    received: list[tuple[str, float, str]] = []

    async def message(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        form = await request.post()
        sid = "SM" + uuid.uuid4().hex
        received.append((str(form.get("To")), time.time(), sid))
        await asyncio.sleep(delay_s)
        return web.json_response({"sid": sid, "status": "queued", "to": form.get("To"),
                                  "body": form.get("Body")}, status=201)

    async def listing(_request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(received), content_type="application/json")

    async def count(_request: web.Request) -> web.Response:
        return web.Response(text=str(len(received)))

    async def reset(_request: web.Request) -> web.Response:
        received.clear()
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application()
        app.router.add_post(MESSAGES_PATH, message)
        app.router.add_get("/_received", listing)
        app.router.add_get("/_count", count)
        app.router.add_post("/_reset", reset)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock, backlog=1024).start()
        ports.put(sock.getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())
