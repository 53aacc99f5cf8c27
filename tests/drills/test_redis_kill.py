"""`opscentre drill redis-kill`, shortened as CI runs it: a real redis-server with the embedded
one's AOF settings, SIGKILLed during ingest and restarted on its data."""

import time

import orjson

from opscentre.core.models import ObservationBatch
from opscentre.core.settings import load_settings
from opscentre.drills import drill
from opscentre.drills.redis_kill import FEED_ID, KIND, READINGS_PER_POLL, DrillRedis, Writer, _count
from tests.cli_helpers import clean_env, opscentre

RESULT_KEYS = {"drill", "lost", "duplicated", "recovery_s", "expected", "ok"}


def test_redis_kill_shortened_loses_and_duplicates_nothing_acknowledged(tmp_path):
    run = opscentre("drill", "redis-kill", "--json", "--short", env=clean_env(OPSCENTRE_DATA_DIR=str(tmp_path)),
                    timeout=180)
    assert run.returncode == 0, run.stderr
    result = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert RESULT_KEYS <= set(result)
    assert result["drill"] == "redis-kill" and result["ok"] is True and result["appendfsync"] == "everysec"
    assert result["kills"] == 2 and result["kills_mid_write"] >= 1  # (the kill lands while a poll is under way)
    # (a process kill keeps the page cache: nothing acknowledged goes, though the bound is 1 s of it)
    assert result["lost"] <= result["expected"]["lost_max"] == result["power_cut_bound_obs"] > 0
    assert result["duplicated"] == 0 and result["counter_mismatch"] == 0
    assert result["recovery_s"] <= result["expected"]["recovery_s_max"]
    assert result["polls_acknowledged"] > 100 and result["observations_per_s"] > 0
    assert "power cut" in run.stderr and "expected: 0" in run.stderr


def test_redis_kill_with_fsync_always_is_held_to_zero_lost():
    result = drill("redis-kill-fsync-always")(load_settings(None), short=True, progress=False)
    assert RESULT_KEYS <= set(result)
    assert result["appendfsync"] == "always" and result["expected"]["lost_max"] == 0
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["ok"] is True
    assert result["power_cut_bound_obs"] == 0


def test_the_drill_s_redis_runs_the_fsync_it_was_given(tmp_path):
    server = DrillRedis(tmp_path / "redis", fsync="always")
    server.start()
    try:
        assert "appendfsync always\n" in (server.directory / server.CONFIG_FILE).read_text()
        assert "appendfsync everysec" not in (server.directory / server.CONFIG_FILE).read_text()
    finally:
        server.stop()


def test_an_acknowledged_poll_missing_from_redis_is_counted_lost_and_a_second_copy_duplicated(redis_server,
                                                                                                  redis_client):
    # The counting can fail: polls 0 and 1 acknowledged, poll 1 never reached Redis, poll 0 twice.
    writer = Writer(redis_server.url)
    for poll in (0, 0):
        _store_poll(writer, poll)
    writer.acknowledged = [(0, 1.0), (1, 2.0)]
    writer.client.close()
    figures = _count(redis_server.url, writer, "everysec")
    assert figures["lost"] == READINGS_PER_POLL and figures["duplicated"] == READINGS_PER_POLL


def _store_poll(writer: Writer, poll: int) -> None:
    batch = ObservationBatch(source=FEED_ID, kind=KIND, entity_ids=[e.entity_id for e in writer.entities],
                             values=[float(poll)] * READINGS_PER_POLL, observed_at=[time.time()] * READINGS_PER_POLL)
    writer.store.write_poll(FEED_ID, writer.entities, [batch], {"status": "ok"},
                            {"polls": 1, "observations_stored": READINGS_PER_POLL}, retention_s=48 * 3600,
                            wall_now=time.time())
