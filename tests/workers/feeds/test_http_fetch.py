"""fetch_bytes against a real HTTP server on 127.0.0.1 (a thread we control): success,
retries, Retry-After, exhausted retries, size cap, a trickling server, connection refused."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from opscentre.core.errors import FetchError
from opscentre.workers.feeds.http import fetch_bytes, safe_url

from tests.workers.feeds.local_http import send, serving

FAST = {"backoff_factor": 0.01, "backoff_jitter": 0.0}  # keep retry waits tiny in tests


def test_a_200_body_is_returned():
    with serving(lambda n, h: send(h, 200, b'{"objects": []}')) as server:
        assert fetch_bytes(server.url + "/json/chuvas", **FAST) == b'{"objects": []}'
        assert server.paths == ["/json/chuvas"]


def test_query_parameters_are_sent():
    with serving(lambda n, h: send(h, 200, b"ok")) as server:
        assert fetch_bytes(server.url + "/x", params={"a": "1"}, **FAST) == b"ok"
        assert server.paths == ["/x?a=1"]


def test_a_500_then_a_200_is_retried_and_succeeds():
    def respond(n, h):
        send(h, 500, b"boom") if n == 1 else send(h, 200, b"fine")

    with serving(respond) as server:
        assert fetch_bytes(server.url, retries=3, **FAST) == b"fine"
        assert len(server.hits) == 2


def test_a_429_with_retry_after_is_honoured():
    def respond(n, h):
        send(h, 429, b"slow down", {"Retry-After": "1"}) if n == 1 else send(h, 200, b"fine")

    with serving(respond) as server:
        started = time.monotonic()
        assert fetch_bytes(server.url, retries=3, **FAST) == b"fine"
        assert len(server.hits) == 2
        assert server.hits[1] - server.hits[0] >= 1.0
        assert time.monotonic() - started < 5


def test_a_server_failing_forever_raises_fetch_error_after_the_retries():
    with serving(lambda n, h: send(h, 500, b"boom")) as server:
        with pytest.raises(FetchError) as info:
            fetch_bytes(server.url + "/json/chuvas?token=SECRET123", retries=2, **FAST)
        assert len(server.hits) == 3  # the first try and two retries
        message = str(info.value)
        assert "500" in message and "/json/chuvas" in message
        assert "SECRET123" not in message and "token" not in message
        assert info.value.retryable


def test_a_404_is_not_retried():
    with serving(lambda n, h: send(h, 404, b"no")) as server:
        with pytest.raises(FetchError, match="HTTP 404"):
            fetch_bytes(server.url, retries=3, **FAST)
        assert len(server.hits) == 1


def test_a_body_over_the_cap_raises_fetch_error():
    with serving(lambda n, h: send(h, 200, b"x" * 5000)) as server:
        with pytest.raises(FetchError, match="larger than 1000 bytes"):
            fetch_bytes(server.url, max_bytes=1000, **FAST)


def test_a_body_over_the_cap_without_content_length_raises_fetch_error():
    def respond(n, h):
        h.send_response(200)
        h.send_header("Connection", "close")  # no Content-Length: read until close
        h.end_headers()
        for _ in range(10):
            h.wfile.write(b"y" * 1000)
        h.close_connection = True

    with serving(respond) as server:
        with pytest.raises(FetchError, match="larger than 2500 bytes"):
            fetch_bytes(server.url, max_bytes=2500, **FAST)


def trickle(length: int, every_s: float, stop: threading.Event):
    """A handler that declares `length` bytes and sends one every `every_s` seconds until stopped."""

    def respond(n, h):
        h.send_response(200)
        h.send_header("Content-Length", str(length))
        h.end_headers()
        h.wfile.flush()
        for _ in range(length):
            if stop.wait(every_s):
                return
            h.wfile.write(b"x")
            h.wfile.flush()

    return respond


def test_a_server_sending_one_byte_per_second_times_out():
    stop = threading.Event()
    with serving(trickle(100, 1.0, stop)) as server:
        started = time.monotonic()
        try:
            with pytest.raises(FetchError, match="timed out"):
                fetch_bytes(server.url, timeout=(1, 0.3), retries=0, **FAST)
        finally:
            stop.set()
        assert time.monotonic() - started < 5


def test_a_trickle_faster_than_the_read_timeout_hits_the_deadline():
    stop = threading.Event()
    with serving(trickle(1000, 0.05, stop)) as server:
        try:
            with pytest.raises(FetchError, match="longer than"):
                fetch_bytes(server.url, timeout=(1, 1), retries=0, deadline_s=0.5, **FAST)
        finally:
            stop.set()


def test_connection_refused_raises_fetch_error():
    with socket.socket() as sock:  # a port that was free a moment ago; nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(FetchError, match="cannot connect") as info:
        fetch_bytes(f"http://127.0.0.1:{port}/json/chuvas", retries=2, **FAST)
    assert f"127.0.0.1:{port}/json/chuvas" in str(info.value)
    assert time.monotonic() - started < 5


def test_safe_url_drops_query_and_credentials():
    assert safe_url("https://user:pw@example.org:8443/a/b?key=SECRET#frag") == "https://example.org:8443/a/b"


def test_a_gzip_body_is_decoded_and_a_chunked_body_is_read():
    import gzip

    def respond(n, h):
        if n == 1:
            send(h, 200, gzip.compress(b'{"a": 1}'), {"Content-Encoding": "gzip"})
            return
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for part in (b"hello ", b"world"):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        h.wfile.write(b"0\r\n\r\n")

    with serving(respond) as server:
        assert fetch_bytes(server.url, **FAST) == b'{"a": 1}'
        assert fetch_bytes(server.url, **FAST) == b"hello world"


def test_a_truncated_body_raises_fetch_error():
    def respond(n, h):
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        h.wfile.write(b"short")
        h.close_connection = True

    with serving(respond) as server:
        with pytest.raises(FetchError, match="broke|cannot connect"):
            fetch_bytes(server.url, retries=0, **FAST)
