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


def drill(name: str) -> Callable[..., dict]:
    module, function = DRILLS[name].split(":")
    return getattr(importlib.import_module(module), function)
