"""`opscentre drill NAME`: fault drills. Each runs real processes on loopback, injects one
fault and returns its figures beside the expectation: {drill, lost, duplicated, recovery_s,
expected, ok, ...}. One drill = one module plus one line in DRILLS."""

from __future__ import annotations

import importlib
from collections.abc import Callable

# name -> "module:function"; the function: run(settings, short: bool, progress: bool) -> result dict
DRILLS: dict[str, str] = {
    "net-cut": "opscentre.drills.net_cut:run",
    "gateway-down": "opscentre.drills.gateway_down:run",
    "notifier-kill": "opscentre.drills.notifier_kill:run",
    "restart-all": "opscentre.drills.restart_all:run",
    "redis-kill": "opscentre.drills.redis_kill:run",
    "redis-kill-fsync-always": "opscentre.drills.redis_kill:run_fsync_always",
    "worker-kill": "opscentre.drills.worker_kill:run",
    "disk-full": "opscentre.drills.disk_full:run",
    "fuzz": "opscentre.drills.fuzz:run",
    "sentinel-failover": "opscentre.drills.sentinel_failover:run",
    "soak": "opscentre.drills.soak:run",
}


# name -> what it injects, for `opscentre drill --help` (the module's docstring says the rest)
ABOUT: dict[str, str] = {
    "net-cut": "the connection to Redis drops after a poll's EXEC was sent, before its reply came back",
    "redis-kill": "Redis SIGKILLed (AOF everysec) during ingest at ~10,000 obs/s, restarted on its data",
    "redis-kill-fsync-always": "redis-kill with appendfsync always",
    "worker-kill": "a worker SIGKILLed mid-poll and mid-evaluation; a new one takes over",
    "disk-full": "the embedded Redis cannot write its AOF (a full disk), then space returns",
    "notifier-kill": "the notifier SIGKILLed between an SMS sent and its result recorded, 100 times",
    "gateway-down": "the SMS gateway answers 500 for 10 minutes while alerts keep coming",
    "restart-all": "every process, Redis included, killed and restarted while messages wait for a down gateway",
    "fuzz": "1,000 mutated payloads per feed, built from real ones, through parse, validate and store",
    "sentinel-failover": "a Sentinel-managed primary SIGKILLed during ingest and alerts' SMS: every process "
                         "follows the new one, each SMS sent once",
    "soak": "opscentre up at --speed 60 under the storm for --minutes (default 60): what grows",
}


def help_text() -> str:
    return "; ".join(f"{name}: {ABOUT.get(name, '')}".rstrip(": ") for name in DRILLS)


def drill(name: str) -> Callable[..., dict]:
    module, function = DRILLS[name].split(":")
    return getattr(importlib.import_module(module), function)
