"""The real `opscentre web` and `opscentre public` (granian) against slow and greedy clients."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest
import requests

from opscentre.processes.redis_server import free_port
from opscentre.processes.web import HEADER_TIMEOUT_S
from tests.cli_helpers import clean_env, wait_for

SLOW_CLIENTS = 200


@pytest.fixture(scope="module", params=["web", "public"])
def web(request, redis_server, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp(request.param) / "web.log"
    env = clean_env(REDIS_URL=redis_server.url, PORT=str(port), OPSCENTRE_DATA_DIR=str(log.parent))
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "opscentre", request.param], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/api/public/status.json", timeout=2).status_code == 200, 90,
                 what="opscentre web answering")
        yield base, port, process, log
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def slow_connection(port: int) -> socket.socket:
    """A client that has started a request and sends the rest of its headers one line at a time."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /api/public/status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return sock


def drip(sockets: list[socket.socket], stop: threading.Event) -> None:
    line = 0
    while not stop.wait(1.0):
        for sock in sockets:
            try:
                sock.sendall(f"X-Slow-{line}: a\r\n".encode())
            except OSError:
                pass
        line += 1


def test_slow_header_connections_leave_status_json_answering(web):
    base, port, _, _ = web
    sockets = [slow_connection(port) for _ in range(SLOW_CLIENTS)]
    stop = threading.Event()
    dripping = threading.Thread(target=drip, args=(sockets, stop), daemon=True)
    dripping.start()
    try:
        answers = [requests.get(f"{base}/api/public/status.json", timeout=3).status_code for _ in range(10)]
        assert answers == [200] * 10
        assert requests.get(f"{base}/healthz", timeout=3).status_code in (200, 503)  # answers, whatever it says
    finally:
        stop.set()
        dripping.join()
        for sock in sockets:
            sock.close()


def test_a_client_that_never_finishes_its_headers_is_disconnected(web):
    _, port, _, _ = web
    sock = slow_connection(port)
    stop = threading.Event()
    dripping = threading.Thread(target=drip, args=([sock], stop), daemon=True)
    dripping.start()
    try:
        sock.settimeout(HEADER_TIMEOUT_S * 4)
        try:
            closed = sock.recv(1024) == b""
        except ConnectionResetError:
            closed = True
        assert closed  # not answered: the connection is dropped once the header time is up
    finally:
        stop.set()
        dripping.join()
        sock.close()


def test_huge_bodies_are_refused_at_once_and_do_not_grow_the_workers(web):
    base, port, process, _ = web
    workers = psutil.Process(process.pid).children()

    def memory() -> int:
        return sum(w.memory_info().rss for w in workers)

    before = memory()
    for _ in range(4):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"POST /public/_dash-update-component HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
        try:
            sock.sendall(b"[" * 1_000_000)
        except OSError:
            pass  # the server may already have answered and closed
        answer = sock.recv(4096)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert memory() - before < 50_000_000
    assert requests.get(f"{base}/api/public/status.json", timeout=5).status_code == 200


def test_a_malformed_callback_gets_400_without_a_traceback_in_the_log(web):
    base, _, _, log = web
    for body in (b"null", b"[]", b"{broken"):
        response = requests.post(f"{base}/public/_dash-update-component", data=body,
                                 headers={"Content-Type": "application/json"}, timeout=5)
        assert response.status_code == 400
    time.sleep(0.5)
    text = log.read_text()
    assert text.count("refused a malformed callback") == 3 and "Traceback" not in text


def test_the_servers_workers_end_when_the_server_is_killed(redis_server, tmp_path):
    """granian's worker processes are forked from the server: SIGKILL the server (a supervisor's
    last resort) and they end too, instead of living on as orphans holding the port."""
    port = free_port()
    env = clean_env(REDIS_URL=redis_server.url, PORT=str(port), OPSCENTRE_DATA_DIR=str(tmp_path))
    with (tmp_path / "public.log").open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "opscentre", "public"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    workers = []
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/api/public/status.json", timeout=2).status_code == 200,
                 90, what="opscentre public answering")
        workers = psutil.Process(process.pid).children(recursive=True)
        assert len(workers) >= 2
        process.kill()
        process.wait()
        gone, alive = psutil.wait_procs(workers, timeout=30)
        assert alive == [], f"orphaned workers: {[w.pid for w in alive]}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for worker in workers:  # (orphans, were the test to fail)
            try:
                worker.kill()
            except psutil.NoSuchProcess:
                pass
