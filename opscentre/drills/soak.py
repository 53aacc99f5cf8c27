"""`opscentre drill soak [--minutes N]`: the whole centre left running under a storm, watched for
what grows.

`opscentre up --speed 60 --scenario storm-2010-04` (an embedded Redis, 2 workers, the cron, the
notifier, the web) in a temporary data directory, on a free port: an hour of wall time is 60 hours
of simulated storm. Every SAMPLE_S the drill reads, for each process of the tree (by role: worker,
cron, notifier, web with its workers, redis): resident memory and open file descriptors (psutil);
from Redis: `used_memory`, and each history stream's length and the span between its oldest and
newest entry.

Figures: per role, memory and descriptors at the start and the end and their slope per hour over
the second half of the run (the first half fills caches); processes restarted (a pid that changed);
the longest history span beside the retention (trimming keeps up). The history is trimmed to the
last `retention_hours` of wall time, and at speed 60 the simulator polls 60 times as often as in
real time, so Redis grows at 60 times its real rate and levels off only after `retention_hours` of
wall time: the drill reports its growth per hour, that rate at real speed (÷ SPEED) and the memory
a full retention window would take at real speed. `lost`, `duplicated` and `recovery_s` are 0: no
fault is injected.

Expected: no process restarted; descriptors not growing (at most DESCRIPTORS_SLACK more at the
end than at the middle of the run); history spans within the retention (plus one poll); and, for a
run of LONG_RUN_MINUTES or more, every process's memory slope over the second half within
SLOPE_MB_PER_H (Redis's too, once its retention window is full). A shorter run reports the slopes
but does not judge them: they are the warm-up's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import redis

from opscentre.core import keys
from opscentre.core.connection import EMBEDDED_URL_FILE
from opscentre.core.settings import Settings
from opscentre.processes.redis_server import free_port

SPEED = 60.0
SCENARIO = "storm-2010-04"
DEFAULT_MINUTES = 60.0
SHORT_MINUTES = 1.0
SAMPLE_S = 15.0
SHORT_SAMPLE_S = 3.0
LONG_RUN_MINUTES = 30.0
SLOPE_MB_PER_H = 20.0
DESCRIPTORS_SLACK = 8
START_TIMEOUT_S = 120.0
ROLES = ("worker", "cron", "notifier", "web", "redis")


def run(settings: Settings, short: bool = False, progress: bool = True, minutes: float | None = None) -> dict:
    minutes = minutes if minutes is not None else (SHORT_MINUTES if short else DEFAULT_MINUTES)
    sample_s = SHORT_SAMPLE_S if short or minutes < 10 else SAMPLE_S

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    say(f"soak: `opscentre up --speed {SPEED:g} --scenario {SCENARIO}` for {minutes:g} min "
        f"({minutes * SPEED / 60:g} simulated hours), a sample every {sample_s:g} s")
    with tempfile.TemporaryDirectory(prefix="opscentre-soak-") as tmp:
        up = _start_up(settings, Path(tmp))
        try:
            client = redis.Redis.from_url((Path(tmp) / "var" / EMBEDDED_URL_FILE).read_text().strip())
            samples = _watch(up, client, minutes * 60, sample_s, say)
        finally:
            _stop(up)
    return _judge(samples, minutes, settings.retention_hours * 3600, say)


def _start_up(settings: Settings, tmp: Path) -> subprocess.Popen:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "OPSCENTRE_", "PORT"))}
    env.update(OPSCENTRE_DATA_DIR=str(tmp / "var"), PORT=str(port), OPSCENTRE_LOG_LEVEL="WARNING")
    if settings.source_path:
        env["OPSCENTRE_CONFIG"] = str(settings.source_path)
    log = open(tmp / "up.log", "wb")  # noqa: SIM115 (closed with the process, in _stop)
    up = subprocess.Popen([sys.executable, "-m", "opscentre", "up", "--speed", f"{SPEED:g}", "--scenario", SCENARIO],
                          env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    up.log, up.log_path = log, tmp / "up.log"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if up.poll() is not None:
            raise RuntimeError(f"opscentre up exited at start: {_tail(up.log_path)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return up
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    _stop(up)
    raise RuntimeError(f"opscentre up was not healthy within {START_TIMEOUT_S:g} s: {_tail(up.log_path)}")


def _tail(path: Path) -> str:
    return " / ".join(path.read_text(errors="replace").strip().splitlines()[-5:]) if path.exists() else ""


def _stop(up: subprocess.Popen) -> None:
    if up.poll() is None:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    up.log.close()


def role_of(process: psutil.Process) -> str | None:
    """Which of the centre's processes this is (the web's workers count as the web: they carry
    its command line)."""
    try:
        return role_of_command(" ".join(process.cmdline()))
    except psutil.Error:
        return None


def role_of_command(line: str) -> str | None:
    """The role a command line runs (pure)."""
    if "redis-server" in line:
        return "redis"
    return next((role for role in ("worker", "cron", "notifier", "web") if f"opscentre {role}" in line), None)


def _sample(up: subprocess.Popen, client: redis.Redis) -> dict:
    roles: dict[str, dict] = {role: {"rss_mb": 0.0, "fds": 0, "pids": []} for role in ROLES}
    for process in psutil.Process(up.pid).children(recursive=True):
        role = role_of(process)
        if role is None:
            continue
        try:
            roles[role]["rss_mb"] += process.memory_info().rss / 2**20
            roles[role]["fds"] += process.num_fds()
            roles[role]["pids"].append(process.pid)
        except psutil.Error:
            continue
    memory = client.info("memory")
    streams = {}
    for raw in client.scan_iter(match=keys.history("*"), count=500):
        name = raw.decode()
        info = client.xinfo_stream(name)
        first, last = info.get("first-entry"), info.get("last-entry")
        span = (_ms(last[0]) - _ms(first[0])) / 1000 if first and last else 0.0
        streams[name] = {"length": info["length"], "span_s": span}
    return {"t": time.monotonic(), "roles": roles, "redis_used_mb": memory["used_memory"] / 2**20,
            "streams": streams}


def _ms(entry_id: bytes | str) -> int:
    return int((entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[0])


def _watch(up, client, seconds: float, sample_s: float, say) -> list[dict]:
    samples = []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if up.poll() is not None:
            raise RuntimeError(f"opscentre up exited during the soak: {_tail(up.log_path)}")
        sample = _sample(up, client)
        samples.append(sample)
        rss = ", ".join(f"{r} {v['rss_mb']:.0f} MB" for r, v in sample["roles"].items())
        say(f"  {sample['t'] - start:6.0f} s  {rss}; Redis data {sample['redis_used_mb']:.1f} MB; "
            f"history {sum(s['length'] for s in sample['streams'].values()):,} entries")
        time.sleep(max(0.0, sample_s - (time.monotonic() - sample["t"])))
    return samples


def slope_per_hour(times: list[float], values: list[float]) -> float:
    """The least-squares slope of values over times (seconds), per hour; 0 with fewer than 3 points."""
    if len(times) < 3:
        return 0.0
    return float(np.polyfit(np.asarray(times) / 3600.0, np.asarray(values, dtype=float), 1)[0])


def _judge(samples: list[dict], minutes: float, retention_s: float, say) -> dict:
    second_half = samples[len(samples) // 2:]
    times = [s["t"] for s in second_half]
    first, middle, last = samples[0], second_half[0], samples[-1]
    by_role = {}
    restarted = []
    for role in ROLES:
        by_role[role] = {
            "rss_mb_start": round(first["roles"][role]["rss_mb"], 1),
            "rss_mb_end": round(last["roles"][role]["rss_mb"], 1),
            "rss_mb_per_h": round(slope_per_hour(times, [s["roles"][role]["rss_mb"] for s in second_half]), 1),
            "fds_start": first["roles"][role]["fds"], "fds_middle": middle["roles"][role]["fds"],
            "fds_end": last["roles"][role]["fds"],
        }
        if set(first["roles"][role]["pids"]) != set(last["roles"][role]["pids"]) and role != "web":
            restarted.append(role)  # (the web's workers may be respawned by its server: counted by its main pid)
    redis_slope = round(slope_per_hour(times, [s["redis_used_mb"] for s in second_half]), 1)
    spans = [st["span_s"] for st in last["streams"].values()]
    longest_span = max(spans, default=0.0)
    judged = minutes >= LONG_RUN_MINUTES
    window_full = minutes * 60 >= 2 * retention_s  # (Redis levels off in the second half: retention is wall time)
    checks = {
        "no_restart": not restarted,
        "descriptors_flat": all(r["fds_end"] <= r["fds_middle"] + DESCRIPTORS_SLACK for r in by_role.values()),
        "history_within_retention": longest_span <= retention_s + 120,
        "memory_flat": (not judged) or all(r["rss_mb_per_h"] <= SLOPE_MB_PER_H for k, r in by_role.items()
                                           if k != "redis"),
        "redis_flat": (not judged or not window_full) or redis_slope <= SLOPE_MB_PER_H,
    }
    ok = all(checks.values())
    expected = {"restarted": [], "descriptors_growth_max": DESCRIPTORS_SLACK,
                "history_span_s_max": retention_s + 120,
                "rss_mb_per_h_max": SLOPE_MB_PER_H if judged else "not judged: shorter than "
                                                                  f"{LONG_RUN_MINUTES:g} min"}
    for role, r in by_role.items():
        say(f"  {role:9s} memory {r['rss_mb_start']:7.1f} → {r['rss_mb_end']:7.1f} MB "
            f"(second half {r['rss_mb_per_h']:+.1f} MB/h); descriptors {r['fds_start']} → {r['fds_middle']} → "
            f"{r['fds_end']}")
    say(f"  Redis data {first['redis_used_mb']:.1f} → {last['redis_used_mb']:.1f} MB (second half "
        f"{redis_slope:+.1f} MB/h{'' if window_full else '; the retention window is not full yet'}; at real speed "
        f"{redis_slope / SPEED:+.1f} MB/h, ~{redis_slope / SPEED * retention_s / 3600:.0f} MB for a full "
        f"{retention_s / 3600:g} h of history); "
        f"longest history span {longest_span / 3600:.2f} h (retention {retention_s / 3600:g} h)")
    say(f"  restarted: {', '.join(restarted) or 'none'}   expected: none")
    say("  " + ("ok" if ok else "NOT OK: " + ", ".join(k for k, v in checks.items() if not v))
        + ("" if judged else f" (memory slopes reported, not judged: a run under {LONG_RUN_MINUTES:g} min is "
                             "its warm-up)"))
    return {"drill": "soak", "lost": 0, "duplicated": 0, "recovery_s": 0.0, "expected": expected, "ok": ok,
            "checks": checks, "minutes": minutes, "samples": len(samples), "speed": SPEED, "scenario": SCENARIO,
            "processes": by_role, "restarted": restarted, "redis_used_mb_start": round(first["redis_used_mb"], 1),
            "redis_used_mb_end": round(last["redis_used_mb"], 1), "redis_mb_per_h": redis_slope,
            "history_entries_end": sum(s["length"] for s in last["streams"].values()),
            "history_span_s_max": round(longest_span, 1), "retention_s": retention_s,
            "redis_mb_per_h_real_speed": round(redis_slope / SPEED, 2),
            "redis_mb_full_retention_real_speed": round(redis_slope / SPEED * retention_s / 3600, 0),
            "memory_judged": judged}
