"""`opscentre drill restart-all`, shortened as CI runs it: web, worker, cron, notifier and Redis
(AOF) SIGKILLed and started again while five messages wait for a gateway answering 500."""

import orjson

from tests.cli_helpers import clean_env, opscentre


def test_restart_all_shortened_keeps_every_waiting_message_and_sends_each_once_when_the_gateway_returns(tmp_path):
    run = opscentre("drill", "restart-all", "--json", "--short", env=clean_env(OPSCENTRE_DATA_DIR=str(tmp_path)),
                    timeout=600)
    assert run.returncode == 0, run.stderr
    result = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert result["drill"] == "restart-all" and result["ok"] is True
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["strangers"] == 0
    assert result["deliveries_kept"] == result["expected"]["deliveries_kept"] == 6  # the AOF had them
    assert result["retried_after_restart"] is True
    assert result["deliveries_by_state"] == {"sent": 6}
    assert 0 <= result["recovery_s"] <= result["expected"]["recovery_s_max"]
    assert all(result["processes_running"].values()) and result["web_healthz"] in (200, 503)
