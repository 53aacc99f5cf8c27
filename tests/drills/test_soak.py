"""`opscentre drill soak --short`: the whole centre (`opscentre up` at --speed 60, the storm) watched
for a minute: every process sampled, none restarted, descriptors flat, history within retention."""

import subprocess
import sys

import orjson
import psutil
import pytest

from opscentre.drills.soak import role_of, role_of_command, slope_per_hour
from tests.cli_helpers import clean_env


def test_a_short_soak_samples_every_process_and_finds_nothing_growing_out_of_bounds(tmp_path):
    done = subprocess.run([sys.executable, "-m", "opscentre", "drill", "soak", "--short", "--json"],
                          env=clean_env(), capture_output=True, text=True, timeout=600, cwd=tmp_path)
    result = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and result["ok"] is True, done.stderr[-3000:]
    assert result["drill"] == "soak" and result["lost"] == 0 and result["duplicated"] == 0
    assert result["restarted"] == [] and result["samples"] >= 10
    processes = result["processes"]
    assert set(processes) == {"worker", "cron", "notifier", "web", "redis"}
    assert all(p["rss_mb_end"] > 0 and p["fds_end"] > 0 for p in processes.values())  # every role was found
    assert result["history_entries_end"] > 0  # the simulator stored polls meanwhile
    assert result["memory_judged"] is False  # a minute is a warm-up: slopes reported, not judged
    assert "soak" in done.stderr and "expected: none" in done.stderr


def test_a_slope_is_per_hour_and_needs_three_samples():
    assert slope_per_hour([0, 1800, 3600], [100, 110, 120]) == pytest.approx(20.0)
    assert slope_per_hour([0, 60], [1, 2]) == 0.0


def test_the_roles_are_read_from_the_command_lines():
    python = "/work/.venv/bin/python -m opscentre"
    assert role_of_command(f"{python} notifier --config city.yaml") == "notifier"
    assert role_of_command(f"{python} web") == "web"  # (the web's workers carry its command line)
    assert role_of_command("/usr/bin/redis-server /tmp/var/redis/redis.conf") == "redis"
    assert role_of_command(f"{python} drill soak") is None and role_of_command("pytest tests") is None
    assert role_of(psutil.Process()) is None  # (this pytest)


def test_minutes_are_for_the_soak_only():
    done = subprocess.run([sys.executable, "-m", "opscentre", "drill", "net-cut", "--minutes", "5"],
                          env=clean_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--minutes is for the soak drill" in done.stderr
