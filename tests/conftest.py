"""Shared test fixtures: a real redis-server on a free port (never the machine's 6379)."""

from __future__ import annotations

import os
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
