"""`opscentre drill disk-full`: the embedded Redis cannot write its AOF; then space returns.

Redis (the embedded one's settings: AOF, `appendfsync everysec`) keeps its AOF on a tiny tmpfs
of its own: a mount namespace made for the drill (`unshare -m`, or `unshare -Urm` for a user who
is not root) holds the tmpfs, and Redis is started inside it (`nsenter`). The real processes run
against it — `opscentre worker`, `opscentre cron --speed 60` (the simulator polled every second)
and `opscentre web` — while the drill's own writer stores a poll of 100 readings every 10 ms
through the project's Store, retrying a refused poll (a job retried later), until the tmpfs is
full: a real "No space left on device". Redis then answers reads and refuses every write with
`MISCONF Errors writing to the AOF file`. The drill checks that:
  - `/healthz` answers 503 with the persistence component down and a clear error,
  - the logs say it: Redis's own, the web's (dashboard/health.py) and the worker's or cron's,
  - ingest is refused loudly (the writer's polls and the simulator's), never acknowledged and lost,
then grows the tmpfs (space returns) and measures recovery_s: from then until the writer's polls,
the simulator's polls and /healthz are all back. Last, Redis is stopped and started again on
the same AOF: every acknowledged poll must be in it (lost), none twice (duplicated).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import redis

from opscentre.core.clock import new_clock
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.drills.redis_kill import Writer, _count
from opscentre.drills.waiting import wait_for as _wait
from opscentre.processes.redis_server import (
    RedisServer,
    RedisServerError,
    _private_session_dying_with_parent,
    die_with_parent,
    free_port,
    redis_server_binary,
)
from opscentre.processes.runners import BACKOFF_MAX_S

ROOM_SIZE = "256m"
HEADROOM_B = 512 * 1024  # the disk, once the processes run: what it holds and this much more
SPEED = 60
START_TIMEOUT_S = 120
RECOVERY_BOUND_S = BACKOFF_MAX_S + 10  # the worker's and cron's reconnect backoff, then a poll
MISCONF = "MISCONF"


class DiskUnavailable(RuntimeError):
    """This machine does not let the drill mount a private tmpfs."""


class PrivateTmpfs:
    """A tmpfs in a mount namespace of its own, held by a sleeping process; commands run inside
    it with nsenter. Nothing outside the namespace sees it; it goes with its holder."""

    def __init__(self, mountpoint: Path, size: str):
        self.mountpoint = mountpoint
        self.as_root = os.geteuid() == 0
        mountpoint.mkdir(parents=True, exist_ok=True)
        for tool in ("unshare", "nsenter", "mount"):
            if not shutil.which(tool):
                raise DiskUnavailable(f"no `{tool}` on this machine")
        script = 'mount -t tmpfs -o "size=$1,mode=0700" tmpfs "$2" && echo mounted && exec sleep 100000'
        self.holder = subprocess.Popen(["unshare", "-m" if self.as_root else "-Urm", "sh", "-c", script, "sh", size,
                                        str(mountpoint)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       preexec_fn=die_with_parent)
        if self.holder.stdout.readline().strip() != "mounted":
            self.holder.wait(10)
            raise DiskUnavailable(f"cannot mount a private tmpfs: {self.holder.stderr.read().strip()}")

    def enter(self) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-m",
                *([] if self.as_root else ["-U", "--preserve-credentials"]), "--"]

    def used_bytes(self) -> int:
        df = subprocess.run([*self.enter(), "df", "-B1", "--output=used", str(self.mountpoint)], check=True,
                            capture_output=True, text=True, timeout=30)
        return int(df.stdout.split()[-1])

    def resize(self, size: str) -> None:
        subprocess.run([*self.enter(), "mount", "-o", f"remount,size={size}", str(self.mountpoint)], check=True,
                       capture_output=True, timeout=30)

    def close(self) -> None:
        if self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait()


def private_tmpfs_possible() -> bool:
    try:
        with tempfile.TemporaryDirectory(prefix="opscentre-probe-") as tmp:
            PrivateTmpfs(Path(tmp) / "m", "64k").close()
        return True
    except (DiskUnavailable, OSError, subprocess.SubprocessError):
        return False


class RedisOnTmpfs(RedisServer):
    """The embedded server's configuration and files, but its AOF in the tmpfs (`dir` there)."""

    def __init__(self, directory: Path, tmpfs: PrivateTmpfs, port: int | None = None):
        super().__init__(directory, port, persist=True)
        self.tmpfs = tmpfs

    def _write_config(self) -> Path:
        path = super()._write_config()
        with path.open("a") as f:
            f.write(f'dir "{self.tmpfs.mountpoint}"\n')  # the last `dir` wins: the log stays outside
        return path

    def start(self, timeout: float = 30.0) -> RedisOnTmpfs:
        args = [*self.tmpfs.enter(), redis_server_binary(), str(self._write_config())]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        preexec_fn=_private_session_dying_with_parent)
        client = redis.Redis(port=self.port, password=self.password, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisServerError(f"redis-server exited at start: {self.log_tail(3)}")
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RedisServerError(f"redis-server did not answer on port {self.port} within {timeout:.0f}s")

    def log_tail(self, n: int = 20) -> str:
        log = self.directory / "redis.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log.exists() else ""


def run(settings: Settings, short: bool = False, progress: bool = True) -> dict:
    fault_s = 5.0 if short else 20.0

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    say(f"disk-full: Redis's AOF on a tmpfs of its own, shrunk to what it holds + {HEADROOM_B // 1024} KiB once the "
        "processes run, filled by ingest (the drill's polls of 100 readings every 10 ms, the simulator through a "
        f"real worker and cron); full for {fault_s:g} s, then grown back")
    with tempfile.TemporaryDirectory(prefix="opscentre-drill-") as tmp:
        root = Path(tmp)
        tmpfs = PrivateTmpfs(root / "aof", ROOM_SIZE)
        server = processes = writer = None
        try:
            server = RedisOnTmpfs(root / "redis", tmpfs).start()
            processes = Processes(server.url, root, settings)
            say(f"  worker, cron and web started; /healthz 200 after {processes.ready_s:.1f} s")
            used = tmpfs.used_bytes()
            tmpfs.resize(str(used + HEADROOM_B))
            say(f"  the disk: {used // 1024} KiB used, {HEADROOM_B // 1024} KiB left")
            writer = Writer(server.url, retry_refused=True)
            writer.start()
            figures = _fault_and_recovery(server, tmpfs, processes, writer, fault_s, say)
            writer.stop.set()
            writer.join(10)
            processes.stop()
            figures.update(processes.said())
            figures["logs"]["redis"] = bool(figures["redis_log_says"])
            server.stop()  # SIGTERM: Redis writes what it holds, then started again on the same AOF
            server = RedisOnTmpfs(root / "redis", tmpfs, port=server.port).start()
            counted = _count(server.url, writer, "everysec")
        finally:
            if writer is not None:
                writer.stop.set()
            if processes is not None:
                processes.stop()
            if server is not None:
                server.stop()
            tmpfs.close()
    figures.update(counted)
    expected = {"lost": 0, "duplicated": 0, "healthz_during": 503, "persistence_during": "down",
                "ingest_refused": True, "logs_say_it": ["redis", "web", "worker or cron"],
                "recovery_s_max": RECOVERY_BOUND_S}
    said = figures["logs"]
    ok = (figures["lost"] == 0 and figures["duplicated"] == 0 and figures["healthz_during"] == 503
          and figures["persistence_during"] == "down" and figures["polls_refused"] > 0
          and figures["misconf_refusal"] and said["redis"] and said["web"] and (said["worker"] or said["cron"])
          and figures["recovery_s"] <= RECOVERY_BOUND_S and figures["healthz_after"] == 200
          and figures["simulator_resumed"])
    result = {"drill": "disk-full", "lost": figures.pop("lost"), "duplicated": figures.pop("duplicated"),
              "recovery_s": figures.pop("recovery_s"), "expected": expected, "ok": ok, **figures, "short": short}
    say(f"  disk full after:     {result['full_after_s']:.1f} s of ingest ({result['polls_before_full']} polls)")
    say(f"  /healthz while full: {result['healthz_during']}, persistence {result['persistence_during']!r}: "
        f"{result['healthz_error']!r}   expected: 503, 'down'")
    say(f"  ingest refused:      {result['polls_refused']} refusals of the drill's polls ({result['refusal']}); "
        f"simulator polls stored while full: {result['simulator_polls_while_full']}   expected: refused, retried")
    say(f"  the logs say it:     redis {_yes(said['redis'])}, web {_yes(said['web'])}, worker {_yes(said['worker'])}, "
        f"cron {_yes(said['cron'])}")
    say(f"  recovery:            {result['recovery_s']:.2f} s from space returning to writes, simulator polls and "
        f"/healthz all back (writes {result['writes_back_s']:.2f} s, polls {result['polls_back_s']:.2f} s, "
        f"/healthz {result['healthz_back_s']:.2f} s)   expected: ≤ {RECOVERY_BOUND_S:g} s"
        + (f"; /healthz still says {result['healthz_still_down']}" if result["healthz_still_down"] else "")
        + (f"; the web exited (code {result['web_exit_code']})" if result["web_exit_code"] is not None else ""))
    say(f"  lost:                {result['lost']} acknowledged observations missing from the AOF after a restart   "
        "expected: 0")
    say(f"  duplicated:          {result['duplicated']} observations   expected: 0")
    if not ok:
        say("  the web's log ends: " + " | ".join(result["web_log_tail"]))
    say("  " + ("ok" if ok else "NOT OK: outside the expected bounds"))
    return result


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def _fault_and_recovery(server: RedisOnTmpfs, tmpfs: PrivateTmpfs, processes: Processes, writer: Writer,
                        fault_s: float, say) -> dict:
    started = time.monotonic()
    _wait(lambda: writer.refused > 0 or not writer.is_alive(), 120, 0.01)
    if writer.refused == 0:
        raise RuntimeError("the writer stopped before the disk was full")
    full_at = time.monotonic()
    polls_before_full = len(writer.acknowledged)
    say(f"  full after {full_at - started:.1f} s: {writer.last_refusal}")
    simulator_before = _wait(processes.simulator_polls, 10, 0.1) or 0
    status, body = _wait(lambda: _healthz_down(processes.base), 30, 0.2) or (None, {})
    persistence = body.get("components", {}).get("persistence", {})
    time.sleep(max(0.0, fault_s - (time.monotonic() - full_at)))
    simulator_at_end = _wait(processes.simulator_polls, 10, 0.1)
    if simulator_at_end is None:
        raise RuntimeError("cannot read the simulator's polls from Redis while its disk is full")
    simulator_while_full = (simulator_at_end or 0) - simulator_before
    refusal = writer.last_refusal or ""
    tmpfs.resize(ROOM_SIZE)
    room_at = time.monotonic()
    say(f"  space returned (tmpfs grown to {ROOM_SIZE}B) after {room_at - full_at:.1f} s full")
    writes_back = _wait(lambda: writer.first_after(room_at), 60, 0.01)
    polls_back = _wait(lambda: (processes.simulator_polls() or 0) > (simulator_at_end or 0) and time.monotonic(), 60, 0.1)
    healthz_back = _wait(lambda: _get(processes.base + "/healthz")[0] == 200 and time.monotonic(), 60, 0.2)
    back = [t if t else float("inf") for t in (writes_back, polls_back, healthz_back)]
    web_exit = processes.children["web"].poll()
    after_status, after_body = _get(processes.base + "/healthz")
    still_down = {name: part.get("status") for name, part in (after_body.get("components") or {}).items()
                  if isinstance(part, dict) and part.get("status") not in ("ok", None)}
    return {"healthz_still_down": still_down, "full_after_s": round(full_at - started, 2), "polls_before_full": polls_before_full,
            "healthz_during": status, "persistence_during": persistence.get("status"),
            "healthz_error": persistence.get("error"), "refusal": refusal.split("\n")[0][:120],
            "misconf_refusal": MISCONF in refusal, "simulator_polls_while_full": simulator_while_full,
            "writes_back_s": round(back[0] - room_at, 3), "polls_back_s": round(back[1] - room_at, 3),
            "healthz_back_s": round(back[2] - room_at, 3), "recovery_s": round(max(back) - room_at, 3),
            "simulator_resumed": polls_back is not None,
            "healthz_after": after_status, "web_exit_code": web_exit, "redis_log_says": _redis_says(server),
            "fault_s": round(room_at - full_at, 1)}


def _redis_says(server: RedisOnTmpfs) -> str:
    lines = [line for line in server.log_tail(400).splitlines() if "writing to the AOF" in line and "solved" not in line]
    lines.sort(key=lambda line: "No space" not in line)  # (a partial write is logged as a short write)
    return lines[0].split(" * ")[-1].split(" # ")[-1] if lines else ""


def _healthz_down(base: str):
    status, body = _get(base + "/healthz")
    return (status, body) if status == 503 and body.get("components", {}).get("persistence", {}).get("status") \
        == "down" else None


def _get(url: str) -> tuple[int | None, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, orjson.loads(exc.read() or b"{}")
        except ValueError:  # (an error page)
            return exc.code, {}
    except (OSError, ValueError):
        return None, {}


class Processes:
    """`opscentre worker`, `cron --speed 60` and `web` against the drill's Redis, logs to files."""

    def __init__(self, url: str, directory: Path, settings: Settings):
        self.url, self.directory = url, directory
        self.client = redis.Redis.from_url(url)
        self.read_errors: list[str] = []
        self.store = Store(self.client)
        self.store.set_sim_clock(new_clock(None, time.time(), SPEED, None, 1))
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "OPSCENTRE_", "PORT"))}
        env.update(REDIS_URL=url, OPSCENTRE_DATA_DIR=str(directory / "var"), PORT=str(port),
                   OPSCENTRE_LOG_LEVEL="WARNING")
        if settings.source_path:
            env["OPSCENTRE_CONFIG"] = str(settings.source_path)
        me = [sys.executable, "-m", "opscentre"]
        self.logs = {name: directory / f"{name}.log" for name in ("worker", "cron", "web")}
        self.children = {}
        started = time.monotonic()
        for name, args in (("worker", ["worker"]), ("cron", ["cron", "--speed", str(SPEED)]), ("web", ["web"])):
            with self.logs[name].open("w") as log:
                self.children[name] = subprocess.Popen([*me, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                                       preexec_fn=die_with_parent)
        ready = _wait(lambda: _get(self.base + "/healthz")[0] == 200 and (self.simulator_polls() or 0) > 0, START_TIMEOUT_S,
                      0.25)
        if not ready:
            self.stop()
            raise RuntimeError(f"worker, cron and web not ready within {START_TIMEOUT_S} s: "
                               + " | ".join(f"{n}: {p.read_text()[-300:]}" for n, p in self.logs.items()))
        self.ready_s = time.monotonic() - started

    def simulator_polls(self) -> int | None:
        """The simulator's polls stored so far (None: not known now)."""
        try:
            return int(self.store.all_feed_metrics().get("simulator", {}).get("polls", 0))
        except redis.RedisError as exc:  # counted and said, never read as 0 polls
            self.read_errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return None

    def said(self) -> dict:
        text = {name: path.read_text(errors="replace") for name, path in self.logs.items()}
        return {"logs": {"web": "cannot persist" in text["web"],
                         "worker": MISCONF in text["worker"], "cron": MISCONF in text["cron"]},
                "drill_read_errors": len(self.read_errors), "drill_read_error": self.read_errors[-1:],
                "worker_says": next((line[:200] for line in text["worker"].splitlines() if MISCONF in line), ""),
                "web_log_tail": [line[:200] for line in text["web"].splitlines() if line[:1].strip()][-4:],
                "web_says": next((line[:200] for line in text["web"].splitlines() if "cannot persist" in line), "")}

    def stop(self) -> None:
        if not self.children:
            return
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children.values():
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children = {}
        self.client.close()


