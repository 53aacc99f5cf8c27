"""`opscentre drill net-cut`, shortened as CI runs it: the real command, a real Redis, the
real write path through the cutting proxy."""

import orjson

from opscentre.core import keys
from opscentre.core.settings import load_settings
from opscentre.core.store import Store
from opscentre.drills import DRILLS, drill
from tests.cli_helpers import clean_env, opscentre


def test_net_cut_shortened_stores_every_poll_once_and_says_so_in_its_last_line(tmp_path):
    run = opscentre("drill", "net-cut", "--json", "--short", env=clean_env(OPSCENTRE_DATA_DIR=str(tmp_path)),
                    timeout=180)
    assert run.returncode == 0, run.stderr
    result = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert result["drill"] == "net-cut" and result["ok"] is True
    assert result["duplicated"] == 0 and result["lost"] == 0 and result["counter_excess"] == 0
    assert result["expected"]["duplicated"] == 0 and result["expected"]["lost"] == 0
    assert 0 < result["recovery_s"] <= result["expected"]["recovery_s_max"]
    # the fault took hold: Redis ran each reply-cut poll twice, and the second run changed nothing
    assert result["cuts_reply"] >= 2 and result["cuts_request"] >= 2
    assert result["reexecuted"] == result["cuts_reply"]
    assert result["observations_expected"] > 10_000
    assert "duplicated:" in run.stderr and "expected: 0" in run.stderr


def test_net_cut_counts_the_duplicates_of_a_store_without_the_write_once_claim(monkeypatch):
    # The drill can fail: with a claim that reads 1 however often the transaction runs (the
    # store as it was before), every re-executed poll is counted twice.
    def unguarded(self):
        claim = keys.write_once("always-first")
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(claim, 1, ex=60)
        return pipe, claim

    monkeypatch.setattr(Store, "_write_once", unguarded)
    result = drill("net-cut")(load_settings(None), short=True, progress=False)
    assert result["ok"] is False
    assert result["reexecuted"] == result["cuts_reply"] >= 2
    assert result["duplicated"] >= 1000 * result["cuts_reply"]  # (a simulator poll holds ~4,000 readings)
    assert result["lost"] == 0 and result["counter_excess"] > 0


def test_every_drill_is_a_module_function():
    for name in DRILLS:
        assert callable(drill(name))


def test_the_help_says_what_each_drill_injects():
    run = opscentre("drill", "--help", env=clean_env(COLUMNS="2000"), timeout=60)  # (no line breaks in names)
    text = " ".join(run.stdout.split())
    for name in DRILLS:
        assert f"{name}:" in text
