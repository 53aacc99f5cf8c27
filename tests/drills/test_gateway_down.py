"""`opscentre drill gateway-down`, shortened as CI runs it: the real command, a real Redis, a real
`opscentre notifier` process, the bench's loopback gateway answering 500 for 20 s while alerts
keep coming."""

import orjson

from opscentre.core.notify import breaker
from opscentre.drills.gateway_down import GOAL_FAILED_PER_S, failed_bound
from tests.cli_helpers import clean_env, opscentre


def test_gateway_down_shortened_sends_each_message_once_after_few_probes_and_says_so_in_its_last_line(tmp_path):
    run = opscentre("drill", "gateway-down", "--json", "--short", env=clean_env(OPSCENTRE_DATA_DIR=str(tmp_path)),
                    timeout=400)
    assert run.returncode == 0, run.stderr
    result = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert result["drill"] == "gateway-down" and result["ok"] is True
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["strangers"] == 0
    assert result["messages_expected"] == result["alerts_during_outage"] + 1 == 11
    assert result["deliveries_by_state"] == {"sent": 11}
    # the fault took hold (the breaker opened on its threshold of failures) and then held the gateway
    # to one probe per backoff step
    assert breaker.POLICY.threshold <= result["failed_requests"] <= result["expected"]["failed_requests_max"]
    assert 0 <= result["first_after_recovery_s"] <= result["recovery_s"] <= result["expected"]["recovery_s_max"]
    assert "failed requests:" in run.stderr and "expected: 0 and 0" in run.stderr


def test_over_ten_minutes_the_breaker_lets_at_most_a_fiftieth_of_alertmanagers_requests_through():
    assert failed_bound(600) / 600 <= GOAL_FAILED_PER_S
