"""A Twilio-compatible SMS gateway on loopback for `opscentre bench notify`, and its ceiling.

The gateway (aiohttp, one asyncio loop in its own spawned process, so it holds thousands of
requests at once and takes none of the notifier's CPU time in-process) answers
`POST /2010-04-01/Accounts/{sid}/Messages.json` after `delay_s` with a Message resource (201,
`sid`, `status: queued`), as Twilio does, and notes each request's To number, the time it
arrived and the sid it answered. `GET /_received` returns those [to, time, sid] triples;
`POST /_reset` forgets them. `GET` on the same path lists the messages created (Twilio's Message
list: To / From filters, newest first), as recovery's lookup asks a provider.

Failure modes for the fault drills (opscentre/drills/), set with `mode()`; the bench never sets
one, so it answers as above:
- `fail`: every request (a send, a list) answered 500 with Twilio's code 20500; nothing created;
- `accept-hold`: the message is created (the provider has it), then the answer is held until
  `release()` (or `hold_s`): a sender killed meanwhile never learns it went;
- `hold`: the request arrives but is held, and after `release()` answered 500 uncreated: a sender
  killed meanwhile left a message the provider never took.
`GET /_requests` returns every POST as [to, time, outcome] (created, failed, held).

`ceiling()` is the baseline: the gateway alone, driven by a plain aiohttp client with many
connections kept alive, as fast as it will go.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
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

    def mode(self, mode: str, hold_s: float = 60.0) -> None:
        """ok, fail, accept-hold or hold (the module's docstring); a change of mode releases
        the requests held."""
        asyncio.run(_post_once(self.url + "/_mode", {"mode": mode, "hold_s": hold_s}))

    def release(self) -> None:
        """Let the held requests answer (accept-hold: as created; hold: 500, uncreated)."""
        asyncio.run(_post_once(self.url + "/_release"))

    def requests(self) -> list[tuple[str, float, str]]:
        """(To, arrival time, outcome: created / failed / held) of every POST since the last reset."""
        return [tuple(x) for x in orjson.loads(_get(self.url + "/_requests"))]

    def messages(self) -> list[dict]:
        """The messages created since the last reset: {sid, to, body, created}."""
        return orjson.loads(_get(self.url + "/_messages"))

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


async def _post_once(url: str, body: dict | None = None) -> None:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
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
    messages: list[dict] = []  # created: {sid, to, from, body, created}
    requests: list[list] = []  # every POST: [to, time, outcome]
    state = {"mode": "ok", "hold_s": 60.0, "release": asyncio.Event()}
    unavailable = {"code": 20500, "message": "Internal Server Error", "status": 500}

    def create(form, sid: str) -> None:
        now = time.time()
        received.append((str(form.get("To")), now, sid))
        messages.append({"sid": sid, "to": str(form.get("To")), "from": str(form.get("From")),
                         "body": str(form.get("Body")), "created": now})

    async def held() -> None:
        try:
            await asyncio.wait_for(state["release"].wait(), state["hold_s"])
        except asyncio.TimeoutError:
            pass

    async def message(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        form = await request.post()
        sid = "SM" + uuid.uuid4().hex
        mode = state["mode"]
        arrival = [str(form.get("To")), time.time(), "created"]
        requests.append(arrival)
        if mode == "fail":
            arrival[2] = "failed"
            return web.json_response(unavailable, status=500)
        if mode == "hold":
            arrival[2] = "held"
            await held()
            return web.json_response(unavailable, status=500)
        create(form, sid)
        if mode == "accept-hold":
            await held()
        await asyncio.sleep(delay_s)
        return web.json_response({"sid": sid, "status": "queued", "to": form.get("To"),
                                  "body": form.get("Body")}, status=201)

    async def message_list(request: web.Request) -> web.Response:
        """Twilio's Message list (To / From filters, newest first, one page)."""
        if request.headers.get("Authorization") != expected:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        if state["mode"] == "fail":
            return web.json_response(unavailable, status=500)
        to, sender = request.query.get("To"), request.query.get("From")
        page = int(request.query.get("PageSize", 50))
        found = [m for m in reversed(messages) if (not to or m["to"] == to) and (not sender or m["from"] == sender)]
        return web.json_response({"messages": [
            {"sid": m["sid"], "to": m["to"], "from": m["from"], "body": m["body"], "status": "queued",
             "error_code": None, "date_created": email.utils.formatdate(m["created"], usegmt=True)}
            for m in found[:page]]})

    async def listing(_request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(received), content_type="application/json")

    async def count(_request: web.Request) -> web.Response:
        return web.Response(text=str(len(received)))

    async def reset(_request: web.Request) -> web.Response:
        received.clear()
        messages.clear()
        requests.clear()
        return web.Response(text="ok")

    async def set_mode(request: web.Request) -> web.Response:
        body = await request.json()
        state["release"].set()  # the requests held under the mode before answer now
        state.update(mode=body["mode"], hold_s=float(body.get("hold_s", 60.0)), release=asyncio.Event())
        return web.Response(text="ok")

    async def release(_request: web.Request) -> web.Response:
        state["release"].set()
        state["release"] = asyncio.Event()
        return web.Response(text="ok")

    async def all_requests(_request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(requests), content_type="application/json")

    async def all_messages(_request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(messages), content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post(MESSAGES_PATH, message)
        app.router.add_get(MESSAGES_PATH, message_list)
        app.router.add_get("/_received", listing)
        app.router.add_get("/_count", count)
        app.router.add_post("/_reset", reset)
        app.router.add_post("/_mode", set_mode)
        app.router.add_post("/_release", release)
        app.router.add_get("/_requests", all_requests)
        app.router.add_get("/_messages", all_messages)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock, backlog=1024).start()
        ports.put(sock.getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())
