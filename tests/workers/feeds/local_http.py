"""A local HTTP server on loopback for feed tests: answer the n-th request as you like.

    with serving(lambda n, h: send(h, 200, body)) as server:
        fetch_bytes(server.url + "/path")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server:
    """A local HTTP server whose answer to the n-th request is `respond(n, handler)`."""

    def __init__(self, respond: Callable[[int, BaseHTTPRequestHandler], None]):
        self.respond = respond
        self.hits: list[float] = []  # monotonic time of each request
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []  # request headers of each request
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                with lock:
                    server.hits.append(time.monotonic())
                    server.paths.append(self.path)
                    server.headers.append(dict(self.headers.items()))
                    n = len(server.hits)
                try:
                    server.respond(n, self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@contextmanager
def serving(respond: Callable[[int, BaseHTTPRequestHandler], None]) -> Iterator[Server]:
    server = Server(respond)
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(timeout=5)


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)
