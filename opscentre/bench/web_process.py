"""The web processes `opscentre bench public` measures: the real `opscentre public` in a subprocess
(its own process group, stopped with the bench) and, for the ceiling, an empty WSGI app under
the same server set-up; and one plain GET for the bench's own checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import Request, urlopen

from opscentre.core.settings import Settings
from opscentre.processes.redis_server import die_with_parent, free_port

START_TIMEOUT_S = 90.0
READY_PATH = "/api/public/status.json"


class WebProcess:
    """`opscentre public` as the Procfile runs it, in a subprocess (its own session, stopped
    with the bench; SIGTERM'd if the bench dies)."""

    def __init__(self, settings: Settings, redis_url: str, tmp: Path, command: list[str] | None = None,
                 ready_path: str = READY_PATH, name: str = "web"):
        self.command = command or [sys.executable, "-m", "opscentre", "public"]
        self.ready_path = ready_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"{name}.log"
        self.env = {**os.environ, "REDIS_URL": redis_url, "PORT": str(self.port), "OPSCENTRE_HOST": "127.0.0.1",
                    "OPSCENTRE_DATA_DIR": str(tmp / "data"), "OPSCENTRE_LOG_LEVEL": "WARNING"}
        if settings.source_path:
            self.env["OPSCENTRE_CONFIG"] = str(settings.source_path)
        self.process: subprocess.Popen | None = None

    def start(self) -> WebProcess:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            preexec_fn=_own_group_dying_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{' '.join(self.command[-2:])} exited at start ({self.process.returncode}): "
                                   f"{self._tail()}")
            try:
                if get(self.base + self.ready_path)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{' '.join(self.command[-2:])} did not answer within {START_TIMEOUT_S:g} s: {self._tail()}")

    def cpu_s(self) -> float:
        """CPU seconds used so far by the server's main process and workers."""
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            total = 0.0
            for p in [root, *root.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
            return total
        except psutil.Error:
            return 0.0

    def _tail(self) -> str:
        lines = self.log_path.read_text(errors="replace").strip().splitlines() if self.log_path.exists() else []
        return " / ".join(lines[-5:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)  # the server and its workers
            except ProcessLookupError:
                pass
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


EMPTY_ETAG = '"empty"'


def empty_app(environ, start_response):
    """The ceiling: a WSGI app that does nothing, served by the same set-up (processes/web.py serve())."""
    if environ.get("HTTP_IF_NONE_MATCH") == EMPTY_ETAG:
        start_response("304 Not Modified", [("ETag", EMPTY_ETAG)])
        return [b""]
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2"), ("ETag", EMPTY_ETAG)])
    return [b"{}"]


def serve_empty() -> None:
    """In its own process, as `opscentre public` serves."""
    from opscentre.processes.web import port, serve

    serve(lambda: empty_app, "127.0.0.1", port())


EMPTY_SERVER = [sys.executable, "-c", "from opscentre.bench.web_process import serve_empty; serve_empty()"]


def _own_group_dying_with_parent() -> None:
    os.setpgid(0, 0)
    die_with_parent()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One plain GET (no decompression: urllib does none), 304 included."""
    from urllib.error import HTTPError

    try:
        with urlopen(Request(url, headers=headers or {}), timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
