"""`opscentre drill notifier-kill`, shortened as CI runs it: the real notifier process SIGKILLed
ten times between a send and its record (five times after the provider created the message, five
before it took it), restarted each time."""

import orjson

from tests.cli_helpers import clean_env, opscentre


def test_notifier_kill_shortened_loses_nothing_and_sends_nothing_twice(tmp_path):
    run = opscentre("drill", "notifier-kill", "--json", "--short", env=clean_env(OPSCENTRE_DATA_DIR=str(tmp_path)),
                    timeout=600)
    assert run.returncode == 0, run.stderr
    result = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert result["drill"] == "notifier-kill" and result["ok"] is True
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["strangers"] == 0
    assert result["kills"] == 10
    assert result["killed_after_provider_took_it"] == result["killed_before_provider_took_it"] == 5
    assert result["messages_expected"] == 12 and result["deliveries_by_state"] == {"sent": 12}
    # the fault took hold: each message the provider never took went again (and only those)
    assert result["requests_at_gateway"] >= result["messages_expected"] + result["killed_before_provider_took_it"]
    assert 0 < result["recovery_s"] <= result["expected"]["recovery_s_max"]
    assert result["settled_s"] <= result["expected"]["settled_s_max"]
    assert "duplicated:" in run.stderr and "expected: 0" in run.stderr
