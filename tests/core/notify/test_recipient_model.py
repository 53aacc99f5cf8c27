"""The Recipient model's helpers: a new recipient with its consent, what operators see of it
(phone masked, zones by name), and the parsers of quiet hours, language and role."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from opscentre.core.notify.recipients import (
    Language,
    Recipient,
    Role,
    explain,
    parse_lang,
    parse_quiet_hours,
    parse_role,
)


def test_create_gives_a_fresh_id_and_records_consent_now():
    a = Recipient.create(name="Ana", phone="+5521987654321", consent_how="cli:operator", now=10.0, zone_ids=["024"])
    b = Recipient.create(name="Ana", phone="+5521987654321", consent_how="cli:operator", now=10.0, zone_ids=["024"])
    assert a.id != b.id and a.id.startswith("r-")
    assert (a.consent.at, a.consent.how, a.created_at) == (10.0, "cli:operator", 10.0)
    assert (a.lang, a.role) == (Language.PT_BR, Role.SUBSCRIBER)


def test_display_masks_the_phone_and_names_the_zones():
    r = Recipient.create(name="Ana", phone="+5521987654321", consent_how="x", now=1.0, zone_ids=["024", "999"],
                         quiet_hours=("22:00", "07:00"))
    shown = r.display({"024": "Copacabana"})
    assert shown["phone"] == "+55 21 9****-**21" and "987654321" not in str(shown)
    assert shown["zones"] == ["Copacabana", "999"] and shown["zone_ids"] == ["024", "999"]
    assert shown["quiet_hours"] == "22:00-07:00"


@pytest.mark.parametrize("text,expected", [("22:00-07:00", ("22:00", "07:00")), (" 23:30 - 06:00 ", ("23:30", "06:00"))])
def test_quiet_hours_parse_and_may_cross_midnight(text, expected):
    assert parse_quiet_hours(text) == expected


@pytest.mark.parametrize("text", ["22:00", "25:00-07:00", "22-07", "22:00-22:00", "7:00-8:00", "noite"])
def test_bad_quiet_hours_are_refused(text):
    with pytest.raises(ValueError, match="quiet hours"):
        parse_quiet_hours(text)


def test_the_model_refuses_quiet_hours_that_are_not_clock_times():
    with pytest.raises(ValidationError, match="HH:MM"):
        Recipient.create(name="A", phone="+5521987654321", consent_how="x", now=1.0, zone_ids=["1"],
                         quiet_hours=("late", "early"))


def test_language_and_role_parse_in_any_case_and_name_the_choices_otherwise():
    assert parse_lang("pt_br") == Language.PT_BR and parse_lang("EN") == Language.EN
    assert parse_role(" Agent ") == Role.AGENT
    with pytest.raises(ValueError, match="pt-BR, en"):
        parse_lang("fr")
    with pytest.raises(ValueError, match="community, agent, oncall, subscriber"):
        parse_role("boss")


def test_a_validation_error_is_explained_on_one_line_without_the_input():
    with pytest.raises(ValidationError) as caught:
        Recipient.create(name="x" * 500, phone="5521987654321", consent_how="x", now=1.0, zone_ids=["1"])
    line = explain(caught.value)
    assert "\n" not in line
    assert line.startswith("name: String should have at most 120 characters; phone: String should match pattern")
    assert "987654321" not in line and "xxxx" not in line
