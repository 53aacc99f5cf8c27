"""`opscentre drill sentinel-failover`: a real primary, replica and three sentinels on loopback;
the whole centre (`opscentre up`) through Sentinel, texting through the bench's SMS gateway on
loopback; the primary SIGKILLed during ingest, with a message's request held at the gateway."""

from __future__ import annotations

import os

import orjson
import redis

from opscentre.core.settings import load_settings
from opscentre.drills.sentinel_failover import (
    MASTER,
    SentinelGroup,
    _notification_figures,
    _wait,
    storm_text,
)
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


def test_notifications_are_counted_per_stormed_contact_at_the_gateway_exactly_once():
    phones = {"z1": "+5521970000001", "z2": "+5521970000002", "z3": "+5521970000003", "z4": "+5521970000004"}
    acked = {"z1": 10.0, "z2": 11.0, "z3": 12.0}  # z4: no storm acknowledged there
    begun_wall = {z: 1000.0 + t for z, t in acked.items()}
    kill = {"killed_wall": 1011.5, "held": True, "synced": True, "window_from": 11.9, "window_from_wall": 1011.9}
    storm = "[CRÍTICO] Chuva muito forte em "

    def message(to: str, created: float, body: str = storm + "Paquetá.") -> dict:
        return {"to": to, "body": body, "created": created}

    def figures(messages: list[dict]) -> dict:
        return _notification_figures(messages, storm, phones, acked, begun_wall, kill, promoted=14.0,
                                     promoted_wall=1014.0)

    once_each = [message(phones["z1"], 1010.1), message(phones["z2"], 1011.2), message(phones["z3"], 1015.0),
                 message(phones["z2"], 1016.0, "[ALERTA] Calor extremo em Paquetá.")]  # the simulator's: apart
    f = figures(once_each)
    assert (f["notifications_expected"], f["notifications_lost"], f["notifications_duplicated"]) == (3, 0, 0)
    assert f["other_messages"] == 1 and f["storm_messages_to_others"] == 0
    assert f["without_notifications_s"] == 3.8 and f["messages_after_promotion"] == 2
    assert f["storms_in_replication_window"] == 1 and f["messages_in_replication_window"] == 0  # z3 at 12.0

    resent_and_missing = [message(phones["z1"], 1010.1), message(phones["z1"], 1016.0), message(phones["z3"], 1015.0),
                          message(phones["z3"], 1017.0, storm + "Paquetá e Caju."), message(phones["z4"], 1015.5)]
    f = figures(resent_and_missing)
    assert (f["notifications_lost"], f["notifications_duplicated"], f["notifications_identical_repeats"]) == (1, 2, 1)
    assert f["notifications_lost_bairros"] == ["z2"] and f["storm_messages_to_others"] == 1


def test_the_storm_text_is_how_the_notifier_words_a_critical_rain_alert():
    assert storm_text(load_settings()) == "[CRÍTICO] Chuva muito forte em "


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
    # notifications: every acknowledged storm's contact has exactly one message at the gateway (the bound is
    # what the old primary acknowledged after the replica was seen caught up: almost always 0, then 0 and 0)
    assert result["notifications_expected"] >= 3 and result["killed_with_message_held"] is True
    assert result["notifications_lost"] <= result["expected"]["notifications_lost_max"]
    assert result["notifications_duplicated"] <= result["expected"]["notifications_duplicated_max"]
    assert result["storms_unacknowledged"] == 0
    assert result["messages_after_promotion"] >= 1  # the notifier texted through the new primary
    # the message whose answer came back with the primary dead: recorded once, never sent again
    assert result["notifications_settled"] is True and result["deliveries_by_state"].get("sending", 0) == 0
    assert result["held_message"]["attempts"] == 1 and result["held_message"]["state"] in ("sent", "delivered")
    assert "without writes:" in run.stderr and "expected: 0" in run.stderr and "notifications:" in run.stderr
