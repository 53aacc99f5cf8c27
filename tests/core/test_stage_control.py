"""The two-person rule for the stage (core/stage_control.py): the pure decisions, by property and
by example, and the thin store (AlertStore.change_stage) on a real Redis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from opscentre.core import keys, stage_control as sc
from opscentre.core.alert_store import AlertStore
from opscentre.core.stage_control import CONFIRM_WITHIN_S, Refusal, Result

T0 = 1_780_000_000.0
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz.", min_size=1, max_size=12)
notes = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and "\x00" not in s)
levels = st.sampled_from([None, 1, 2, 3, 4, 5])
MANUAL_3 = {"level": 3, "by": "ana", "note": "drill", "set_at": T0 - 60, "expires_at": None}


@settings(max_examples=200, deadline=None)
@given(level=levels, by=names, note=notes, manual=st.booleans())
def test_stages_1_to_4_are_set_at_once_and_stage_5_or_a_clear_waits(level, by, note, manual):
    override = MANUAL_3 if manual else None
    out = sc.request(level, by, note, T0, override, None)
    if level is None and not manual:
        assert out.result is Result.REFUSED and out.refusal is Refusal.NOTHING_TO_CLEAR and not out.audit
    elif level in (1, 2, 3, 4):
        assert out.result is Result.APPLIED
        assert out.override == ("set", {"level": level, "by": by.strip(), "note": note.strip(), "set_at": T0,
                                        "expires_at": None})
        assert out.pending is None and [a for a, *_ in out.audit] == ["stage-override"]
    else:
        assert out.result is Result.PENDING and out.override is None
        verb, asked = out.pending
        assert verb == "set" and asked["level"] == level and asked["by"] == by.strip()
        assert asked["confirm_by"] == T0 + CONFIRM_WITHIN_S
        assert [a for a, *_ in out.audit] == ["stage-change-requested"]


@settings(max_examples=200, deadline=None)
@given(level=st.sampled_from([None, 5]), asker=names, other=names, wait=st.floats(0, 3 * CONFIRM_WITHIN_S))
def test_only_a_different_person_within_ten_minutes_can_confirm(level, asker, other, wait):
    out = sc.request(level, asker, "why", T0, MANUAL_3, None)
    pending = out.pending[1]
    confirmed = sc.confirm(other, T0 + wait, MANUAL_3, pending)
    if wait >= CONFIRM_WITHIN_S:
        assert confirmed.result is Result.REFUSED and confirmed.refusal is Refusal.EXPIRED
        assert confirmed.override is None and confirmed.pending == ("delete", None)
    elif other.strip().casefold() == asker.strip().casefold():
        assert confirmed.result is Result.REFUSED and confirmed.refusal is Refusal.SAME_PERSON
        assert confirmed.override is None and confirmed.pending is None
    else:
        assert confirmed.result is Result.CONFIRMED and confirmed.pending == ("delete", None)
        if level is None:
            assert confirmed.override == ("delete", None)
        else:
            verb, record = confirmed.override
            assert record["level"] == 5 and record["by"] == asker and record["confirmed_by"] == other
        assert [a for a, *_ in confirmed.audit][0] == "stage-change-confirmed"


def test_the_same_person_in_another_case_or_with_spaces_is_the_same_person():
    pending = sc.request(5, "Ana.Sup", "crisis", T0, None, None).pending[1]
    assert sc.confirm(" ana.sup ", T0 + 1, None, pending).refusal is Refusal.SAME_PERSON


def test_one_request_waits_at_a_time_and_an_expired_one_no_longer_blocks():
    pending = sc.request(5, "ana", "crisis", T0, None, None).pending[1]
    assert sc.request(2, "bia", "calm", T0 + 5, None, pending).refusal is Refusal.ALREADY_WAITING
    later = sc.request(2, "bia", "calm", T0 + CONFIRM_WITHIN_S + 1, None, pending)
    assert later.result is Result.APPLIED and later.pending == ("delete", None)


def test_a_note_and_a_name_are_needed_and_the_level_is_1_to_5():
    assert sc.request(3, "ana", "  ", T0, None, None).refusal is Refusal.NO_NOTE
    assert sc.request(3, " ", "x", T0, None, None).refusal is Refusal.NO_NAME
    assert sc.request(6, "ana", "x", T0, None, None).refusal is Refusal.BAD_LEVEL
    assert sc.request(True, "ana", "x", T0, None, None).refusal is Refusal.BAD_LEVEL
    assert sc.request(3, "ana", "x" * 1001, T0, None, None).refusal is Refusal.NOTE_TOO_LONG
    expired = {**MANUAL_3, "expires_at": T0 - 1}
    assert sc.request(None, "ana", "x", T0, expired, None).refusal is Refusal.NOTHING_TO_CLEAR


def test_confirm_and_reject_name_the_request_they_saw():
    pending = sc.request(5, "ana", "crisis", T0, None, None, request_id="sc-1").pending[1]
    assert sc.confirm("bia", T0 + 1, None, pending, request_id="sc-2").refusal is Refusal.NONE_WAITING
    assert sc.confirm("bia", T0 + 1, None, None).refusal is Refusal.NONE_WAITING
    assert sc.reject("bia", T0 + 1, pending, request_id="sc-2").refusal is Refusal.NONE_WAITING
    withdrawn = sc.reject("ana", T0 + 1, pending, request_id="sc-1")  # the one who asked may withdraw
    assert withdrawn.result is Result.REJECTED and withdrawn.pending == ("delete", None)
    assert sc.reject("bia", T0 + CONFIRM_WITHIN_S, pending).refusal is Refusal.NONE_WAITING
    assert all(reason for reason in sc.REASONS.values()) and set(sc.REASONS) == set(Refusal)


# ---- the store ----------------------------------------------------------------------------------

@pytest.fixture
def alerts(redis_client):
    return AlertStore(redis_client)


def actions(alerts) -> list[tuple[str, str]]:
    return [(e["actor"], e["action"]) for e in alerts.audit()]


def test_stage_5_waits_then_a_second_supervisor_sets_it_all_audited(alerts, redis_client):
    out = alerts.change_stage(lambda o, p: sc.request(5, "ana", "river over its banks", T0, o, p), "ana", T0)
    assert out.result is Result.PENDING and alerts.stage_override() is None
    pending = alerts.stage_pending()
    assert pending["level"] == 5 and pending["by"] == "ana" and pending["note"] == "river over its banks"
    assert 0 < redis_client.pttl(keys.STAGE_PENDING)
    same = alerts.change_stage(lambda o, p: sc.confirm("ana", T0 + 60, o, p), "ana", T0 + 60)
    assert same.refusal is Refusal.SAME_PERSON and alerts.stage_override() is None and alerts.stage_pending()
    out = alerts.change_stage(lambda o, p: sc.confirm("bia", T0 + 120, o, p, pending["id"]), "bia", T0 + 120)
    assert out.result is Result.CONFIRMED and alerts.stage_pending() is None
    override = alerts.stage_override()
    assert override["level"] == 5 and override["by"] == "ana" and override["confirmed_by"] == "bia"
    assert actions(alerts) == [("ana", "stage-change-requested"), ("bia", "stage-change-confirmed"),
                               ("bia", "stage-override")]
    # clearing it waits too, and can be rejected
    alerts.change_stage(lambda o, p: sc.request(None, "bia", "water down", T0 + 200, o, p), "bia", T0 + 200)
    assert alerts.stage_pending()["level"] is None
    out = alerts.change_stage(lambda o, p: sc.reject("caio", T0 + 210, p), "caio", T0 + 210)
    assert out.result is Result.REJECTED and alerts.stage_pending() is None and alerts.stage_override()["level"] == 5
    assert actions(alerts)[-2:] == [("bia", "stage-change-requested"), ("caio", "stage-change-rejected")]


def test_an_expired_request_cannot_be_confirmed_and_its_expiry_is_audited(alerts):
    alerts.change_stage(lambda o, p: sc.request(5, "ana", "crisis", T0, o, p), "ana", T0)
    late = T0 + CONFIRM_WITHIN_S + 1
    out = alerts.change_stage(lambda o, p: sc.confirm("bia", late, o, p), "bia", late)
    assert out.refusal is Refusal.EXPIRED and alerts.stage_override() is None and alerts.stage_pending() is None
    assert actions(alerts)[-1] == ("bia", "stage-change-expired")


def test_stages_1_to_4_are_stored_at_once(alerts):
    out = alerts.change_stage(lambda o, p: sc.request(3, "ana", "heavy rain coming", T0, o, p), "ana", T0)
    assert out.result is Result.APPLIED and alerts.stage_override()["level"] == 3
    refused = alerts.change_stage(lambda o, p: sc.request(4, "ana", "", T0, o, p), "ana", T0)
    assert refused.refusal is Refusal.NO_NOTE and alerts.stage_override()["level"] == 3
    assert actions(alerts) == [("ana", "stage-override")]
