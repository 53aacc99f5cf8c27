"""/healthz when Redis cannot write its AOF (a full disk): down, with the reason, said once in
the log; ok again when space returns. A real Redis whose AOF lives on a tiny tmpfs."""

import logging
import time

import pytest
import redis

from opscentre.dashboard.health import health_report
from opscentre.drills.disk_full import PrivateTmpfs, RedisOnTmpfs, private_tmpfs_possible
from opscentre.drills.redis_kill import Writer
from tests.cli_helpers import wait_for

pytestmark = pytest.mark.skipif(not private_tmpfs_possible(),
                                reason="this machine does not allow a private tmpfs (unshare -m / -Urm)")


@pytest.fixture
def full_redis(tmp_path):
    tmpfs = PrivateTmpfs(tmp_path / "aof", "256k")
    server = RedisOnTmpfs(tmp_path / "redis", tmpfs).start()
    writer = Writer(server.url, retry_refused=True)
    writer.start()
    try:
        wait_for(lambda: writer.refused > 0, timeout=60, interval=0.05, what="the disk full")
        writer.stop.set()
        writer.join(10)
        yield server, tmpfs
    finally:
        writer.stop.set()
        server.stop()
        tmpfs.close()


def test_healthz_is_down_with_the_reason_while_redis_cannot_write_its_aof(full_redis, caplog):
    server, tmpfs = full_redis
    client = redis.Redis.from_url(server.url)
    with caplog.at_level(logging.WARNING, logger="opscentre.health"):
        healthy, report = health_report(client, time.time())
        health_report(client, time.time())
    assert healthy is False and report["status"] == "down"
    persistence = report["components"]["persistence"]
    assert persistence["status"] == "down" and "No space left on device" in persistence["error"]
    assert report["components"]["redis"]["status"] == "ok"  # it still answers reads
    assert [r.levelname for r in caplog.records if "cannot persist" in r.getMessage()] == ["ERROR"]  # once

    tmpfs.resize("64m")
    wait_for(lambda: health_report(client, time.time())[1]["components"]["persistence"]["status"] == "ok",
             timeout=30, interval=0.2, what="persistence ok once space returned")
    assert any("again" in r.getMessage() for r in caplog.records)
    client.close()


def test_healthz_reports_persistence_ok_on_a_healthy_redis(redis_client):
    _healthy, report = health_report(redis_client, time.time())
    assert report["components"]["persistence"]["status"] == "ok"
