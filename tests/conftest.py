"""Shared test fixtures: a real redis-server on a free port (never the machine's 6379)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from opscentre.processes.redis_server import RedisServer

FIXTURES = Path(__file__).parent / "fixtures"

# The web apps built in-process ask Redis on every request whether the public documents moved:
# tests write and read at once. The pause between checks has its own tests (test_read_model.py).
os.environ["OPSCENTRE_PUBLIC_RECHECK_MS"] = "0"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"), persist=False).start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server):
    """A client on a flushed database of the session's Redis."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of the test's own, which the test may kill and restart."""
    server = RedisServer(tmp_path / "redis", persist=True).start()
    yield server
    server.stop()


class RefusingRedis:
    """A plain redis-server (not the embedded one, which denies CONFIG) whose RDB saves can be
    made to fail: with a save point configured, Redis then answers reads and refuses every write
    with MISCONF, as it does when its disk is full; `accept()` gives it a disk again."""

    def __init__(self, directory: Path):
        from opscentre.processes.redis_server import free_port, redis_server_binary

        self.directory, self.port = directory, free_port()
        (directory / "data").mkdir(parents=True)
        binary = redis_server_binary()
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
        protected = [] if " v=6." in version else ["--enable-protected-configs", "yes"]  # (CONFIG SET dir, from 7)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory / "data"),
             "--save", "3600", "1", "--appendonly", "no", *protected],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.05)

    def refuse(self) -> None:
        """Take its data directory away and ask for a save: the save fails, writes are refused."""
        shutil.rmtree(self.directory / "data")
        self._save_and_wait("err")

    def accept(self) -> None:
        (self.directory / "again").mkdir()
        self.client.config_set("dir", str(self.directory / "again"))
        self._save_and_wait("ok")

    def _save_and_wait(self, status: str) -> None:
        self.client.bgsave()
        deadline = time.monotonic() + 30
        while True:
            info = self.client.info("persistence")
            if not info["rdb_bgsave_in_progress"] and info["rdb_last_bgsave_status"] == status:
                return
            assert time.monotonic() < deadline, info
            time.sleep(0.02)

    def stop(self) -> None:
        self.client.close()
        self.process.kill()
        self.process.wait()


@pytest.fixture
def refusing_redis(tmp_path):
    server = RefusingRedis(tmp_path / "refusing-redis")
    yield server
    server.stop()
