"""Serving the web app with gunicorn, and the start-up checks that give clear messages."""

from __future__ import annotations

import errno
import os
import secrets
import socket
from pathlib import Path

from opscentre.core.connection import data_dir

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


# gunicorn's gevent workers: a connection costs a greenlet, not a thread, so clients that send
# their headers slowly (or keep idle connections open) cannot take the server's threads; each
# request's headers must arrive within HEADER_TIMEOUT_S (gunicorn bounds the read of every
# request on a connection by its keep-alive setting) or the connection is closed. Measured with
# the gthread workers used before: 16 slow-header connections stopped every route.
WORKER_CONNECTIONS = 1000
HEADER_TIMEOUT_S = 5


def serve(app_factory, bind_host: str, bind_port: int, workers: int = 2) -> None:
    """Run gunicorn in this process (it forks its workers)."""
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{bind_host}:{bind_port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gevent")
            self.cfg.set("worker_connections", WORKER_CONNECTIONS)
            self.cfg.set("keepalive", HEADER_TIMEOUT_S)
            self.cfg.set("limit_request_line", 8190)
            self.cfg.set("limit_request_fields", 100)
            self.cfg.set("limit_request_field_size", 8190)
            # Forwarded headers are believed only through OPSCENTRE_TRUST_PROXY (dashboard/security.py)
            self.cfg.set("forwarded_allow_ips", "")
            self.cfg.set("timeout", 60)
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("accesslog", None)
            self.cfg.set("loglevel", "warning")
            self.cfg.set("proc_name", "opscentre-web")

        def load(self):
            return app_factory()

    Application().run()
