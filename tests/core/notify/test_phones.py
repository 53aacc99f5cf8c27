"""Phone numbers: Brazilian national forms normalised to E.164, numbers that cannot take an SMS
refused with the reason (never echoing the number), and the masked form shown to people."""

from __future__ import annotations

import pytest

from opscentre.core.notify.phones import PhoneError, masked, normalise

RIO_MOBILE = "+5521987654321"


@pytest.mark.parametrize("raw", [
    "(21) 98765-4321",      # as written in Rio
    "021 98765 4321",       # with the trunk 0
    "21987654321",          # digits only
    "+55 21 98765-4321",    # international
    "+5521987654321",       # already E.164
    "  (21)98765-4321 ",    # spaces around
])
def test_brazilian_mobiles_in_national_or_international_form_become_e164(raw):
    assert normalise(raw) == RIO_MOBILE


def test_a_number_of_another_country_keeps_its_country():
    assert normalise("+44 7400 123456") == "+447400123456"
    assert normalise("+1 201 555 0123") == "+12015550123"  # FIXED_LINE_OR_MOBILE: SMS may reach it


def test_the_default_region_decides_national_numbers():
    assert normalise("07400 123456", default_region="GB") == "+447400123456"


@pytest.mark.parametrize("raw,reason", [
    ("", "no phone number given"),
    ("hello", "not a phone number"),
    ("12345", "not a valid number"),
    ("98765-4321", "not a valid number"),  # no area code
    ("(21) 2345-6789", "a fixed line, not a mobile"),
    ("0800 123 4567", "a toll-free number, not a mobile"),
    ("+55 21 98765-4321 ext. 2", "extension"),
    ("9" * 41, "too long"),
])
def test_numbers_that_cannot_take_an_sms_are_refused_with_the_reason(raw, reason):
    with pytest.raises(PhoneError, match=reason) as caught:
        normalise(raw)
    assert isinstance(caught.value, ValueError)


def test_a_refusal_never_repeats_the_number():
    with pytest.raises(PhoneError) as caught:
        normalise("(21) 2345-6789")
    assert "2345" not in str(caught.value) and "6789" not in str(caught.value)


def test_a_rio_mobile_is_masked_keeping_country_area_first_and_last_two_digits():
    assert masked(RIO_MOBILE) == "+55 21 9****-**21"
    assert masked("+5511912345678") == "+55 11 9****-**78"


@pytest.mark.parametrize("e164,national_digits,expected", [
    ("+12015550123", 10, "+1 201-***-**23"),     # the area code kept: never more than half the digits
    ("+447400123456", 10, "+44 740* ****56"),
    ("+4915123456789", 11, "+49 151* *****89"),
    ("+4520123456", 8, "+45 20 ** ** 56"),
])
def test_other_countries_are_masked_with_at_least_half_of_the_national_digits_hidden(e164, national_digits, expected):
    shown = masked(e164)
    assert shown == expected
    assert shown.count("*") * 2 >= national_digits


def test_something_that_is_not_a_number_is_still_masked_but_its_last_two_digits():
    assert masked("+999123456") == "+*******56"
    assert masked("garbage12345") == "garbage***45"
