"""A loopback TCP proxy between a Redis client and a real Redis that can cut a reply: it
forwards a chosen command (e.g. EXEC) to Redis, lets Redis execute it, and then drops the
client's connection instead of relaying the reply — what a network cut between "sent" and
"answered" looks like to the client. Used by the `net-cut` drill and its tests.

It runs an asyncio loop in a thread of its own, so synchronous code (redis-py, the store)
can talk through it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from urllib.parse import urlsplit, urlunsplit

_PING = b"*1\r\n$4\r\nPING\r\n"
_PONG = b"+PONG\r\n"


def _split_commands(buffer: bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """The complete RESP commands at the start of `buffer`: [(end offset, upper-case name)],
    and where the incomplete rest starts. A client sends arrays of bulk strings."""
    out = []
    pos = 0
    n = len(buffer)
    while pos < n:
        if buffer[pos:pos + 1] != b"*":  # an inline command: one line
            eol = buffer.find(b"\r\n", pos)
            if eol < 0:
                break
            line = bytes(buffer[pos:eol]).split()
            out.append((eol + 2, line[0].upper() if line else b""))
            pos = eol + 2
            continue
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            break
        count = int(buffer[pos + 1:eol])
        cursor = eol + 2
        name = b""
        complete = True
        for i in range(count):
            eol = buffer.find(b"\r\n", cursor)
            if eol < 0:
                complete = False
                break
            length = int(buffer[cursor + 1:eol])
            start = eol + 2
            if start + length + 2 > n:
                complete = False
                break
            if i == 0:
                name = bytes(buffer[start:start + length]).upper()
            cursor = start + length + 2
        if not complete:
            break
        out.append((cursor, name))
        pos = cursor
    return out, pos


class CuttingProxy:
    """`cut_replies(b"EXEC", times=n)` arms it: the next n EXECs (any connection) are executed
    by Redis and their replies never reach the client, whose connection is closed. `cuts` holds
    the (monotonic) times at which each cut happened."""

    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1", upstream_url: str = ""):
        self.upstream = (upstream_host, upstream_port)
        self.upstream_url = upstream_url
        self.host = host
        self.port = 0
        self.cuts: list[float] = []
        self.connections = 0
        self._armed: dict[bytes, list[bytes | None]] = {}  # command -> one entry per cut to come
        self._before: dict[bytes, list[bytes | None]] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cutting-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    @classmethod
    def in_front_of(cls, url: str) -> CuttingProxy:
        """A proxy to the Redis of this redis:// URL; its `url` keeps the credentials and db."""
        parts = urlsplit(url)
        return cls(parts.hostname, parts.port or 6379, upstream_url=url)

    @property
    def url(self) -> str:
        """The URL a client uses to reach Redis through the proxy."""
        if not self.upstream_url:
            return f"redis://{self.host}:{self.port}/0"
        parts = urlsplit(self.upstream_url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = (credentials + "@" if credentials else "") + f"{self.host}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def start(self) -> CuttingProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, self.host, 0), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close():
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def __enter__(self) -> CuttingProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def cut_replies(self, command: bytes = b"EXEC", times: int = 1, containing: bytes | None = None) -> None:
        """The next `times` such commands reach Redis and run; their replies are lost. With
        `containing`, only a command whose transaction (since MULTI) holds those bytes, e.g. a key."""
        with self._lock:
            self._armed.setdefault(command.upper(), []).extend([containing] * times)

    def cut_before(self, command: bytes = b"EXEC", times: int = 1, containing: bytes | None = None) -> None:
        """The next `times` such commands (and what follows them) never reach Redis."""
        with self._lock:
            self._before.setdefault(command.upper(), []).extend([containing] * times)

    def armed(self, command: bytes = b"EXEC") -> int:
        with self._lock:
            return len(self._armed.get(command.upper(), ())) + len(self._before.get(command.upper(), ()))

    def _take(self, name: bytes, table: dict[bytes, list[bytes | None]], transaction: bytearray) -> bool:
        with self._lock:
            waiting = table.get(name)
            for i, containing in enumerate(waiting or ()):
                if containing is None or containing in transaction:
                    del waiting[i]
                    return True
            return False

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            self._tasks.discard(task)
            return
        cutting = asyncio.Event()  # set: relay nothing more to the client
        executed = asyncio.Event()  # the cut command has run in Redis (its reply was swallowed)

        async def upstream_to_client():
            tail = b""
            while True:
                data = await up_reader.read(65536)
                if not data:
                    break
                if cutting.is_set():
                    tail = (tail + data)[-len(_PONG):]
                    if tail == _PONG:  # our PING came back: Redis answered everything before it
                        executed.set()
                        break
                    continue
                client_writer.write(data)
                await client_writer.drain()

        async def client_to_upstream():
            buffer = bytearray()
            transaction = bytearray()  # the commands since the last MULTI
            in_multi = False
            while True:
                data = await client_reader.read(65536)
                if not data:
                    break
                buffer += data
                commands, _rest = _split_commands(buffer)
                start = 0
                for end, name in commands:
                    if name == b"MULTI" or not in_multi:
                        transaction.clear()  # (outside a transaction: the command alone)
                    in_multi = name == b"MULTI" or (in_multi and name not in (b"EXEC", b"DISCARD"))
                    transaction += buffer[start:end]
                    if self._take(name, self._before, transaction):
                        up_writer.write(bytes(buffer[:start]))
                        await up_writer.drain()
                        cutting.set()
                        executed.set()
                        return
                    if self._take(name, self._armed, transaction):
                        cutting.set()
                        up_writer.write(bytes(buffer[:end]) + _PING)
                        await up_writer.drain()
                        return
                    start = end
                    # (forward whole commands only, so a cut always falls after a command)
                if commands:
                    end = commands[-1][0]
                    up_writer.write(bytes(buffer[:end]))
                    del buffer[:end]
                    await up_writer.drain()

        relay = asyncio.ensure_future(upstream_to_client())
        send = asyncio.ensure_future(client_to_upstream())
        try:
            await asyncio.wait({relay, send}, return_when=asyncio.FIRST_COMPLETED)
            if cutting.is_set():
                await asyncio.wait_for(executed.wait(), 10)
                self.cuts.append(time.monotonic())
                client_writer.transport.abort()  # the reply is lost with the connection
        except (asyncio.TimeoutError, asyncio.CancelledError, ConnectionError, OSError):
            pass  # (cancelled: the proxy stops)
        finally:
            for t in (relay, send):
                t.cancel()
            for writer in (client_writer, up_writer):
                try:
                    writer.transport.abort()
                except Exception:
                    pass
            self._tasks.discard(task)
