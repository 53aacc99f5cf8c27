"""Serving the web apps, and the start-up checks that give clear messages.

Both web processes serve with granian: serve(). Granian parses HTTP and holds connections in
Rust, so the Python work of an answer is the app's own: measured with `wrk` on loopback, an empty
WSGI app answered ~60,000 304s/s under granian and ~16,000/s under gunicorn + gevent (what served
before; 2 workers each), and `opscentre bench public` / `bench dashboard` give the real apps'
figures."""

from __future__ import annotations

import errno
import os
import secrets
import signal
import socket
import sys
from pathlib import Path

from opscentre.core.connection import data_dir
from opscentre.processes.redis_server import die_with_parent

DEFAULT_PORT = 8050


class StartupError(RuntimeError):
    """A problem the user can fix; printed as one clear line, no traceback."""


def port() -> int:
    raw = os.environ.get("PORT") or str(DEFAULT_PORT)
    try:
        value = int(raw)
    except ValueError:
        raise StartupError(f"PORT={raw!r} is not a port number")
    if not 0 < value < 65536:
        raise StartupError(f"PORT={value} is out of range 1..65535")
    return value


def host() -> str:
    return os.environ.get("OPSCENTRE_HOST") or "127.0.0.1"


def check_port_free(bind_host: str, bind_port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((bind_host, bind_port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {bind_port} on {bind_host} is already in use (another opscentre?): "
                    f"stop it or choose another with PORT=..."
                ) from None
            raise StartupError(f"cannot listen on {bind_host}:{bind_port}: {exc.strerror}") from None


def ensure_data_dir() -> Path:
    """The data directory, private to this user (0700; tightened if an older version left it
    readable): it holds the Redis password, the session key and Redis's data."""
    directory = data_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if directory.stat().st_mode & 0o077:
            directory.chmod(0o700)
        probe = directory / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StartupError(
            f"data directory {directory} is not writable ({exc.strerror}): "
            "fix its permissions or set OPSCENTRE_DATA_DIR to a writable folder"
        ) from None
    return directory


def secret_key() -> str:
    """OPSCENTRE_SECRET_KEY, else one generated once and kept (mode 0600) in the data directory."""
    if os.environ.get("OPSCENTRE_SECRET_KEY"):
        return os.environ["OPSCENTRE_SECRET_KEY"]
    path = ensure_data_dir() / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


# Both web processes (`opscentre web`, also `opscentre up`'s one port, and `opscentre public`) are
# served by granian. Its HTTP/1 is hyper's (Rust): a connection costs no Python thread, so clients
# that send their headers slowly or hold idle connections cannot take the app's threads; a
# request's headers (and the next request on an idle keep-alive connection) must arrive within
# HEADER_TIMEOUT_S, and headers over MAX_HEADER_BYTES close the connection. The WSGI app runs on
# THREADS threads per worker: the answers are made from memory or a few Redis round trips, and
# the heavy work (a city's map rebuild, a password's scrypt) runs beside the requests or is
# bounded (dashboard/live_map.py, dashboard/auth.py), so a few threads per core suffice and keep
# the interpreter's hand-offs few.
HEADER_TIMEOUT_S = 5
WORKERS = 2
THREADS = 4  # (granian warns above 2 × cores + 1)
BACKPRESSURE = 1024  # requests in progress per worker; more wait in the kernel's backlog
MAX_HEADER_BYTES = 64 * 1024
PUBLIC_WORKERS = WORKERS  # (what `opscentre bench public` reports)
# While a thread runs Python without pause (a city's map rebuild, dashboard/live_map.py), another
# waits up to the switch interval for the interpreter each time it comes back from I/O; a request
# does that several times. 1 ms instead of Python's 5 keeps the ticks served during a rebuild.
SWITCH_INTERVAL_S = 0.001


def serve(app_factory, bind_host: str, bind_port: int, workers: int = WORKERS) -> None:
    """Run granian in this process: it forks `workers` processes, each calling app_factory()."""
    from granian.constants import Interfaces, RuntimeModes
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    sys.setswitchinterval(SWITCH_INTERVAL_S)  # (the workers are forked from here)
    server = Server(
        "opscentre", address=bind_host, port=bind_port, interface=Interfaces.WSGI, workers=workers,
        blocking_threads=THREADS, backpressure=BACKPRESSURE, runtime_mode=RuntimeModes.st,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_TIMEOUT_S * 1000, max_buffer_size=MAX_HEADER_BYTES),
        websockets=False, log_level=LogLevels.warning, log_access=False, respawn_failed_workers=True)
    server.serve(target_loader=_dying_with(os.getpid(), app_factory), wrap_loader=False)


def _dying_with(server_pid: int, app_factory):
    """granian forks its workers from its main thread; were the server SIGKILLed (a supervisor's
    last resort), they would live on, orphans holding the port. Each worker asks to be SIGKILLed
    when the server dies (and leaves at once if it already has): not SIGTERMed, which granian's
    worker takes as a request to shut down gracefully, and misses while it is still loading the
    app. A graceful stop is the server's: it stops its workers before it exits."""
    def load():
        die_with_parent(signal.SIGKILL)
        if os.getppid() != server_pid:
            os._exit(0)
        return app_factory()

    return load
