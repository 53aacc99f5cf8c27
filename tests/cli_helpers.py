"""Running the real `opscentre` command in tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request


def opscentre(*args: str, env: dict | None = None, timeout: float = 120, input: str | None = None):
    return subprocess.run([sys.executable, "-m", "opscentre", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, input=input)


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "OPSCENTRE_", "PORT"))}
    env.update(extra)
    return env


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ValueError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
