"""`opscentre up`: the whole centre in one process tree — embedded Redis (unless REDIS_URL is
set), worker(s), the RQ cron scheduler and the web app. Ctrl-C stops every child.

One `up` per data directory: it holds an exclusive lock on `up.lock` there for its whole life
(the kernel releases it when the process ends, however it ends), so a second `up` on the same
directory is refused before it starts anything; and at shutdown it removes only the Redis URL
file it wrote.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from opscentre.core.clock import new_clock
from opscentre.core.connection import EMBEDDED_URL_FILE, connect, masked
from opscentre.core.operators import DEFAULT_OPERATOR, ensure_operator
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.processes.redis_server import RedisServer, die_with_parent, write_private
from opscentre.processes.web import StartupError, check_port_free, ensure_data_dir, host, port

LOCK_FILE = "up.lock"
RESTART_BACKOFF_MAX_S = 30.0
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class Child:
    def __init__(self, name: str, args: list[str], env: dict[str, str]):
        self.name, self.args, self.env = name, args, env
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self.next_start = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(self.args, env=self.env, preexec_fn=die_with_parent)

    def terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        if self.process and self.process.poll() is None:
            try:
                self.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def own_data_dir(data) -> int:
    """Lock the data directory for this process (the returned descriptor holds the lock: keep it
    open), or say which `up` holds it."""
    fd = os.open(data / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise StartupError(f"another `opscentre up` (pid {holder}) is running on the data directory {data}: "
                           "stop it first, or give this one its own with OPSCENTRE_DATA_DIR=...") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def remove_if_ours(path, content: str) -> None:
    """Delete `path` only if it still holds what we wrote there."""
    try:
        if path.read_text() == content:
            path.unlink()
    except FileNotFoundError:
        pass


def run_up(settings: Settings, speed: float, scenario: str | None, seed: int | None, workers: int = 2) -> int:
    started = time.monotonic()
    data = ensure_data_dir()
    lock = own_data_dir(data)
    try:
        return _run_up(settings, speed, scenario, seed, workers, data, started)
    finally:
        os.close(lock)


def _run_up(settings: Settings, speed: float, scenario: str | None, seed: int | None, workers: int, data,
            started: float) -> int:
    bind_host, bind_port = host(), port()
    check_port_free(bind_host, bind_port)

    env = dict(os.environ)
    redis_server = None
    if not os.environ.get("REDIS_URL") and not os.environ.get("OPSCENTRE_REDIS_SENTINELS"):
        redis_server = RedisServer(data / "redis", persist=True).start()
        write_private(data / EMBEDDED_URL_FILE, redis_server.url)  # it holds the password
        env["REDIS_URL"] = redis_server.url  # children's environments are private to this user, unlike argv
        print(f"embedded Redis: {masked(redis_server.url)} (data in {data / 'redis'})", flush=True)
    client = connect(env.get("REDIS_URL"))  # raises StoreUnavailable naming the URL
    store = Store(client)
    store.set_sim_clock(new_clock(store.sim_clock(), time.time(), speed, scenario, seed))
    password = ensure_operator(client)

    config_args = ["--config", str(settings.source_path)] if settings.source_path else []
    me = [sys.executable, "-m", "opscentre"]
    children = [Child(f"worker-{i + 1}", [*me, "worker", *config_args], env) for i in range(workers)]
    children.append(Child("cron", [*me, "cron", *config_args, "--speed", str(speed)], env))
    children.append(Child("notifier", [*me, "notifier", *config_args], env))
    children.append(Child("web", [*me, "web", *config_args], env))

    stopping = {"now": False}

    def request_stop(signum, frame):
        stopping["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        for child in children:
            child.start()
        base = f"http://{'127.0.0.1' if bind_host in ('0.0.0.0', '') else bind_host}:{bind_port}"
        ready = _wait_ready(f"{base}/healthz", stopping)
        _print_banner(settings, base, password, speed, scenario, time.monotonic() - started, ready)
        _supervise(children, stopping)
    finally:
        for child in children:  # all at once: each may take a few seconds to finish its work
            child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in children:
            child.wait_or_kill(deadline)
        if redis_server:
            redis_server.stop()
            remove_if_ours(data / EMBEDDED_URL_FILE, redis_server.url)
        print("opscentre stopped.", flush=True)
    return 0


def _wait_ready(url: str, stopping: dict) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and not stopping["now"]:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except urllib.error.HTTPError as exc:  # 503 while workers warm up: keep waiting a bit
            if exc.code != 503:
                return False
        except OSError:
            pass
        time.sleep(0.5)
    return False


def _supervise(children: list[Child], stopping: dict) -> None:
    """Restart a child that died, with backoff, until asked to stop."""
    while not stopping["now"]:
        now = time.monotonic()
        for child in children:
            code = child.process.poll() if child.process else 0
            if code is None or stopping["now"]:
                continue
            if child.next_start == 0.0:
                child.restarts += 1
                delay = min(2 ** child.restarts, RESTART_BACKOFF_MAX_S)
                print(f"{child.name} exited with code {code}; restarting in {delay:.0f} s", file=sys.stderr, flush=True)
                child.next_start = now + delay
            elif now >= child.next_start:
                child.next_start = 0.0
                child.start()
        time.sleep(0.5)


def _print_banner(settings: Settings, base: str, password: str | None, speed: float,
                  scenario: str | None, seconds: float, ready: bool) -> None:
    login = (f"user '{DEFAULT_OPERATOR}' (admin), password '{password}'  (shown once: only its hash is kept)"
             if password else
             f"user '{DEFAULT_OPERATOR}' (admin; password set at first start; change it with "
             f"`opscentre users passwd {DEFAULT_OPERATOR}`)")
    lines = [
        "",
        f"opscentre is up: {settings.city.name}" + (" — SIMULATED DATA" if settings.simulated else ""),
        f"  operator console  {base}/",
        f"  public view       {base}/public",
        f"  health            {base}/healthz",
        f"  operator login    {login}",
        *([f"  simulator         speed {speed:g}x" + (f", scenario {scenario}" if scenario else "")]
          if settings.simulated else []),
        f"  started in {seconds:.1f} s" + ("" if ready else " (health check not green yet: see /healthz)"),
        "  Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)
