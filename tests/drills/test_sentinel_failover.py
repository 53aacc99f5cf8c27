"""`opscentre drill sentinel-failover`: a real primary, replica and three sentinels on loopback;
the whole centre (`opscentre up`) through Sentinel; the primary SIGKILLed during ingest."""

from __future__ import annotations

import os

import orjson
import redis

from opscentre.drills.sentinel_failover import MASTER, SentinelGroup, _wait
from tests.cli_helpers import clean_env, opscentre


def test_the_sentinels_promote_the_replica_when_the_primary_is_killed(tmp_path):
    group = SentinelGroup(tmp_path, password=os.urandom(8).hex()).start()
    try:
        assert group.master_port() == group.ports["primary"]
        with group.client(group.ports["primary"]) as primary:
            primary.set("before", "1")
            primary.wait(1, 5000)  # replicated before the kill
        group.kill("primary")
        new_port = _wait(lambda: (p := group.master_port()) not in (None, group.ports["primary"]) and p, 60,
                         "promotion")
        assert new_port == group.ports["replica"]
        sentinel = redis.Redis(port=group.sentinel_ports[0])
        assert int(sentinel.sentinel_get_master_addr_by_name(MASTER)[1]) == new_port
        sentinel.close()
        with group.client(new_port) as new:
            _wait(lambda: new.info("replication")["role"] == "master", 30, "the replica's role master")
            assert new.get("before") == b"1" and new.set("after", "1")
    finally:
        group.stop()


def test_sentinel_failover_shortened_loses_no_more_than_the_replication_lag_and_every_process_follows(tmp_path):
    run = opscentre("drill", "sentinel-failover", "--json", "--short",
                    env=clean_env(OPSCENTRE_DATA_DIR=str(tmp_path)), timeout=400)
    assert run.returncode == 0, run.stderr
    result = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert result["drill"] == "sentinel-failover" and result["ok"] is True
    assert result["duplicated"] == 0 and result["expected"]["duplicated"] == 0
    assert result["lost"] <= result["expected"]["lost_max"]
    assert result["polls_acknowledged"] > 100 and result["polls_failed"] >= 1  # the fault took hold
    assert 0 < result["without_writes_s"] <= result["expected"]["without_writes_s_max"]
    assert result["failover_s"] > 0 and result["recovery_s"] is not None
    assert set(result["follow_s"]) == {"workers", "simulator_polls", "scheduler", "notifier", "web_healthz"}
    assert all(v is not None and v <= result["expected"]["follow_s_max"] for v in result["follow_s"].values())
    assert "without writes:" in run.stderr and "expected: 0" in run.stderr
