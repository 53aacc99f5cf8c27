"""End to end: `opscentre up` as a user runs it, and the processes surviving Redis going away."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil
import pytest

from opscentre.processes.redis_server import RedisServer, RedisServerError, free_port
from tests.cli_helpers import clean_env, get, opscentre, wait_for


@pytest.fixture
def up(tmp_path):
    port = free_port()
    env = clean_env(OPSCENTRE_DATA_DIR=str(tmp_path / "var"), PORT=str(port))
    process = subprocess.Popen([sys.executable, "-m", "opscentre", "up", "--speed", "60"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield process, port, env
    if process.poll() is None:
        process.kill()
        process.wait()


def test_up_runs_the_whole_city_and_ctrl_c_leaves_no_process(up):
    process, port, env = up
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: get(f"{base}/healthz")[0] == 200, timeout=90, what="/healthz 200")
    descendants = psutil.Process(process.pid).children(recursive=True)
    assert len(descendants) >= 4  # redis, workers, cron, web (+ its workers)

    def simulator_stored():
        result = opscentre("state", "--json", env=env)  # finds the embedded Redis via the data dir
        state = orjson.loads(result.stdout) if result.returncode == 0 else {}
        return state if state.get("feeds", {}).get("simulator", {}).get("items") else None

    state = wait_for(simulator_stored, timeout=60, what="simulator observations in state --json")
    assert state["simulated"] is True
    assert state["feeds"]["simulator"]["status"] == "ok"
    assert any(o["kind"] == "rain_mm" for o in state["observations"])

    status, body = get(f"{base}/api/public/layers/zones.geojson")
    assert status == 200 and len(orjson.loads(body)["features"]) == 166

    # a second `up` on the same data directory is refused before it starts anything
    second = subprocess.run([sys.executable, "-m", "opscentre", "up"], env={**env, "PORT": str(free_port())},
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert f"another `opscentre up` (pid {process.pid})" in second.stderr and env["OPSCENTRE_DATA_DIR"] in second.stderr
    assert opscentre("state", "--json", env=env).returncode == 0  # the first one's Redis is still found

    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "operator console" in output and "/public" in output and "password" in output
    time.sleep(0.5)
    survivors = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], f"left running: {[p.cmdline() for p in survivors]}"
    assert not (Path(env["OPSCENTRE_DATA_DIR"]) / "redis.url").exists()  # it removed what it wrote


def test_worker_and_scheduler_reconnect_when_redis_comes_back(tmp_path, own_redis):
    from opscentre.core import keys
    from opscentre.core.connection import connect
    from opscentre.core.store import Store

    env = clean_env(REDIS_URL=own_redis.url, OPSCENTRE_DATA_DIR=str(tmp_path))
    store = Store(connect(own_redis.url))
    store.set_sim_clock({"wall_epoch": time.time(), "sim_epoch": time.time(), "speed": 60, "scenario": "",
                         "scenario_start": "", "seed": 1})
    # stderr to files, not pipes nobody reads while the test runs (a full pipe would block a child)
    logs = {what: tmp_path / f"{what}.stderr" for what in ("worker", "cron")}
    files = [path.open("w") for path in logs.values()]
    children = [subprocess.Popen([sys.executable, "-m", "opscentre", what], env=env,
                                 stdout=subprocess.DEVNULL, stderr=f) for what, f in zip(logs, files)]
    restarted = None
    failure = None
    try:
        first = wait_for(lambda: store.feed_health("simulator").get("last_success_ts"), 60, what="first poll")
        # Kill Redis while a poll holds its feed's lock (the AOF keeps the lock): the busy-machine case
        wait_for(lambda: store.redis.exists(keys.poll_lock("simulator")), 30, interval=0.002, what="a poll running")
        own_redis.kill()
        time.sleep(3)
        assert all(c.poll() is None for c in children), "a process died with Redis"
        restarted = RedisServer(own_redis.directory, port=own_redis.port, persist=True).start()
        store = Store(connect(own_redis.url))
        wait_for(lambda: (store.feed_health("simulator").get("last_success_ts") or 0) > first + 2, 60,
                 what="polls resumed after Redis came back")
        assert all(c.poll() is None for c in children)
    except (AssertionError, RedisServerError) as exc:
        failure = exc
    finally:
        for c in children:
            c.send_signal(signal.SIGTERM)
        for c in children:
            try:
                c.wait(20)
            except subprocess.TimeoutExpired:
                c.kill()
        if restarted:
            restarted.stop()
        for f in files:
            f.close()
    stderr = " ".join(path.read_text() for path in logs.values())
    if failure is not None:  # with what the processes said: a rare failure is diagnosed from its one run
        said = "\n".join(f"--- {what}'s log lines ---\n" + "\n".join(
            [line for line in path.read_text().splitlines() if line[:2] == "20"][-30:]) for what, path in logs.items())
        redis_log = own_redis.directory / "redis.log"
        said += "\n--- redis.log ---\n" + "\n".join(redis_log.read_text().splitlines()[-8:]) if redis_log.exists() else ""
        raise AssertionError(f"{failure}\n{said}") from failure
    assert stderr.count("lost Redis") + stderr.count("Redis unavailable") <= 4, stderr  # no log storm


@pytest.mark.parametrize("process", ["worker", "cron"])
def test_a_stop_signal_ends_the_process_instead_of_reconnecting(process, redis_server, tmp_path):
    env = clean_env(REDIS_URL=redis_server.url, OPSCENTRE_DATA_DIR=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-m", "opscentre", process], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(5)  # started and waiting for work
        assert child.poll() is None
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=20) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
