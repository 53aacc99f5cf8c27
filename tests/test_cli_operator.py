"""Operator actions through the real command: ack with a note, unack, silence, resolve, the
stage by hand, the audit export — and their bad inputs, which change nothing."""

from __future__ import annotations

import time

import orjson
import pytest

from opscentre.core.alert_store import AlertStore
from opscentre.core import keys
from opscentre.core.alerting.lifecycle import Alert
from tests.cli_helpers import clean_env, opscentre

HOSTILE = '<script>alert("x")</script> & <b>called</b> 555-0101'


@pytest.fixture
def env(redis_server):
    return clean_env(REDIS_URL=redis_server.url)


@pytest.fixture
def firing(redis_client):
    now = time.time()
    alert = Alert(id="a-0123456789", fingerprint="rain_15min|g1", rule="rain_15min", key="g1", state="firing",
                  severity="critical", value=14.2, zone_id="024", entity_id="g1", labels={"public": True},
                  summary="critical rain at Tijuca", started_at=now, since=now, last_true_at=now, updated_at=now)
    AlertStore(redis_client).put([alert])
    return alert


def audit(env) -> list[dict]:
    result = opscentre("audit", "export", env=env)
    assert result.returncode == 0, result.stderr
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def test_ack_records_who_when_and_the_note_as_plain_text_and_the_audit_says_so(env, firing, redis_client):
    result = opscentre("ack", firing.id, "--by", "zelda.ops", "--note", HOSTILE, env=env)
    assert result.returncode == 0, result.stderr
    (alert,) = orjson.loads(opscentre("alerts", "--json", env=env).stdout)
    assert alert["acknowledged_by"] == "zelda.ops" and alert["ack_note"] == HOSTILE  # stored as given: text
    assert alert["acknowledged_at"].endswith("Z")
    (entry,) = [e for e in audit(env) if e["action"] == "acknowledged"]
    assert entry["actor"] == "zelda.ops" and entry["subject"] == firing.id and entry["after"]["note"] == HOSTILE
    assert opscentre("unack", firing.id, "--by", "zelda.ops", env=env).returncode == 0
    assert orjson.loads(opscentre("alerts", "--json", env=env).stdout)[0]["acknowledged_by"] is None
    assert [e["action"] for e in audit(env)] == ["acknowledged", "unacknowledged"]


def test_ack_of_an_unknown_alert_is_a_clear_error_and_changes_nothing(env, firing, redis_client):
    result = opscentre("ack", "a-nope", "--by", "zelda.ops", env=env)
    assert result.returncode == 1 and "no alert 'a-nope'" in result.stderr
    assert redis_client.hlen(keys.ALERT_ACKS) == 0 and redis_client.xlen(keys.AUDIT) == 0
    result = opscentre("ack", firing.id, "--by", "zelda.ops", "--note", "x" * 1001, env=env)
    assert result.returncode == 1 and "at most 1000 characters" in result.stderr
    assert redis_client.hlen(keys.ALERT_ACKS) == 0


def test_a_silence_needs_an_end_and_valid_matchers(env, redis_client):
    for args, reason in ((["rule=rain_15min"], "needs an end"),
                         (["rule", "--for", "2h"], "is not a matcher"),
                         (["rule=rain_15min", "--for", "soon"], "is not a duration"),
                         (["rule=rain_15min", "--daily", "25:00-03:00"], "is not a daily window")):
        result = opscentre("silence", *args, "--by", "zelda.ops", env=env)
        assert result.returncode == 1 and reason in result.stderr, (args, result.stderr)
    assert redis_client.hlen(keys.SILENCES) == 0


def test_silences_for_a_time_or_every_night_show_who_made_them_and_can_be_expired(env, redis_client):
    assert opscentre("silence", "rule=feed_stale,key=feed:alerta_rio", "--daily", "01:00-03:00",
                     "--by", "zelda.ops", "--comment", "gauge maintenance", env=env).returncode == 0
    assert opscentre("silence", "zone_id=024", "--for", "2h", "--by", "yuri.ops", env=env).returncode == 0
    silences = orjson.loads(opscentre("silences", "--json", env=env).stdout)
    assert [s["created_by"] for s in silences] == ["zelda.ops", "yuri.ops"]
    assert silences[0]["schedule"] == {"daily": "01:00-03:00", "timezone": "America/Sao_Paulo"}
    assert silences[0]["ends_at"] is None and silences[1]["ends_at"] - silences[1]["starts_at"] == 7200
    result = opscentre("silences", "--expire", silences[1]["id"], "--by", "yuri.ops", env=env)
    assert result.returncode == 0
    assert len(orjson.loads(opscentre("silences", "--json", env=env).stdout)) == 1
    assert {e["action"] for e in audit(env)} == {"silence-created", "silence-expired"}


def test_resolve_by_hand_closes_the_alert_and_is_audited(env, firing, redis_client):
    result = opscentre("resolve", firing.id, "--by", "zelda.ops", "--note", "gauge blocked by leaves", env=env)
    assert result.returncode == 0, result.stderr
    assert orjson.loads(opscentre("alerts", "--json", env=env).stdout) == []
    (entry,) = audit(env)
    assert entry["action"] == "resolved-by-hand" and entry["after"]["note"] == "gauge blocked by leaves"
    assert opscentre("resolve", firing.id, "--by", "zelda.ops", env=env).returncode == 1  # already resolved


def test_stage_5_is_set_by_hand_with_a_note_and_a_second_supervisor_expires_and_is_audited(env, redis_client):
    result = opscentre("stage", "--set", "5", "--by", "mayor.office", env=env)
    assert result.returncode == 1 and "needs a --note" in result.stderr
    result = opscentre("stage", "--set", "5", "--by", "mayor.office", "--note", "city in crisis", "--for", "6h",
                       "--json", env=env)
    assert result.returncode == 0, result.stderr
    asked = orjson.loads(result.stdout)
    assert asked["level"] == 1 and asked["pending"]["level"] == 5 and asked["pending"]["by"] == "mayor.office"
    result = opscentre("stage", "confirm", "--by", "mayor.office", env=env)  # not the same person
    assert result.returncode == 1 and "second supervisor" in result.stderr
    result = opscentre("stage", "confirm", "--by", "civil.defence", "--id", asked["pending"]["id"], "--json", env=env)
    assert result.returncode == 0, result.stderr
    stage = orjson.loads(result.stdout)
    assert stage["level"] == 5 and stage["name"] == "crisis" and stage["manual"] is True and stage["pending"] is None
    assert stage["reasons"] == ["set by mayor.office: city in crisis"]
    override = AlertStore(redis_client).stage_override()
    assert override["confirmed_by"] == "civil.defence" and override["expires_at"] - override["set_at"] == 6 * 3600
    state = orjson.loads(opscentre("state", "--json", env=env).stdout)
    assert state["stage"]["level"] == 5
    # clearing a manual stage waits for a second supervisor too
    asked = orjson.loads(opscentre("stage", "clear", "--by", "mayor.office", "--note", "water down", "--json",
                                   env=env).stdout)
    assert asked["level"] == 5 and asked["pending"]["level"] is None
    cleared = orjson.loads(opscentre("stage", "confirm", "--by", "civil.defence", "--json", env=env).stdout)
    assert cleared["level"] == 1 and cleared["manual"] is False
    actions = [e["action"] for e in audit(env)]
    assert actions.count("stage-changed") == 2 and "stage-override" in actions and "stage-override-cleared" in actions
    assert actions.count("stage-change-requested") == 2 and actions.count("stage-change-confirmed") == 2


def test_stages_1_to_4_are_set_at_once_and_a_waiting_change_can_be_rejected(env, redis_client):
    result = opscentre("stage", "3", "--by", "ana.sup", "--note", "heavy rain coming", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["level"] == 3
    assert opscentre("stage", "--set", "4", "--by", "ana.sup", env=env).returncode == 1  # a note is needed
    assert opscentre("stage", "5", "--by", "ana.sup", "--note", "crisis", env=env).returncode == 0
    result = opscentre("stage", "2", "--by", "bia.sup", "--note", "calmer", env=env)
    assert result.returncode == 1 and "waiting for confirmation" in result.stderr
    shown = opscentre("stage", env=env)
    assert "waiting for a second supervisor: stage 5, asked by ana.sup" in shown.stdout
    result = opscentre("stage", "reject", "--by", "bia.sup", "--note", "not yet", env=env)
    assert result.returncode == 0 and "rejected by bia.sup" in result.stdout
    assert opscentre("stage", "confirm", "--by", "bia.sup", env=env).returncode == 1  # nothing waits
    assert opscentre("stage", "7", "--by", "bia.sup", "--note", "x", env=env).returncode == 1
    assert opscentre("stage", "clear", "--by", "bia.sup", env=env).returncode == 1  # a note is needed
    stage = orjson.loads(opscentre("stage", "--json", env=env).stdout)
    assert stage["level"] == 3 and stage["pending"] is None
    actions = [e["action"] for e in audit(env)]
    assert actions.count("stage-change-rejected") == 1 and actions.count("stage-override") == 1