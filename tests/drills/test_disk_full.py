"""`opscentre drill disk-full`, shortened as CI runs it: Redis's AOF on a tmpfs of its own that
fills up under ingest, with a real worker, cron and web against it; then space returns."""

import orjson
import pytest

from opscentre.drills.disk_full import private_tmpfs_possible
from tests.cli_helpers import clean_env, opscentre

pytestmark = pytest.mark.skipif(not private_tmpfs_possible(),
                                reason="this machine does not allow a private tmpfs (unshare -m / -Urm)")


def test_disk_full_shortened_refuses_ingest_loudly_says_so_on_healthz_and_loses_nothing(tmp_path):
    run = opscentre("drill", "disk-full", "--json", "--short", env=clean_env(OPSCENTRE_DATA_DIR=str(tmp_path)),
                    timeout=600)
    assert run.returncode == 0, run.stderr
    result = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert {"drill", "lost", "duplicated", "recovery_s", "expected", "ok"} <= set(result)
    assert result["drill"] == "disk-full" and result["ok"] is True
    # the fault took hold: Redis refused writes with MISCONF, and said why
    assert result["misconf_refusal"] and result["polls_refused"] > 0
    assert "writing to the AOF file" in result["redis_log_says"]
    assert result["healthz_during"] == 503 and result["persistence_during"] == "down"
    assert "No space left on device" in result["healthz_error"]
    logs = result["logs"]
    # (an idle worker says it only once it beats or polls during the fault; the cron enqueues every second)
    assert logs["redis"] and logs["web"] and (logs["worker"] or logs["cron"])
    assert result["simulator_polls_while_full"] == 0  # refused, not stored behind the error's back
    # and recovery: everything acknowledged is in the AOF after a restart, once
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["counter_mismatch"] == 0
    assert result["polls_acknowledged"] > result["polls_before_full"]  # (the writer's refused polls went in later)
    assert result["healthz_after"] == 200 and result["simulator_resumed"]
    assert result["recovery_s"] <= result["expected"]["recovery_s_max"]
