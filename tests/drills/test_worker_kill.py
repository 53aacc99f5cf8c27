"""`opscentre drill worker-kill`, shortened as CI runs it: real `opscentre worker` processes
SIGKILLed mid-poll and mid-evaluation against a real Redis, a new worker after each kill."""

import orjson

from opscentre.core.locks import LEASE_S
from tests.cli_helpers import clean_env, opscentre


def test_worker_kill_shortened_duplicates_nothing_and_the_work_resumes_once_the_lease_lapses(tmp_path):
    run = opscentre("drill", "worker-kill", "--json", "--short", env=clean_env(OPSCENTRE_DATA_DIR=str(tmp_path)),
                    timeout=600)
    assert run.returncode == 0, run.stderr
    result = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert {"drill", "lost", "duplicated", "recovery_s", "expected", "ok"} <= set(result)
    assert result["drill"] == "worker-kill" and result["ok"] is True
    # every kill landed where it was meant to: fetching, evaluating after the store, the timer's evaluation
    assert result["kills_by_moment"] == {"poll-fetch": 1, "poll-evaluate": 1, "evaluation": 1}
    assert result["duplicated"] == 0 and result["lost"] == 0 and result["counter_mismatch"] == 0
    assert result["alert_transitions_duplicated"] == 0 and result["alert_transitions"] > 0
    assert result["alert_transitions_across_kills"][0] > 0  # the first kill: the first poll's evaluation opening alerts
    # the dead worker's lock lapses with its lease (it was the poll's whole budget, 300 s)
    assert result["lock_after_kill_s_max"] <= result["expected"]["lock_after_kill_s_max"] <= LEASE_S + 1
    assert result["recovery_s"] <= result["expected"]["recovery_s_max"]
    assert "recorded twice" in run.stderr and "expected: 0" in run.stderr
