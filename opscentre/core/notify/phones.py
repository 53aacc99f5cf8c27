"""Phone numbers: parsed and validated with `phonenumbers`, stored as E.164, shown masked.

Brazilian numbers are accepted in national form ("(21) 98765-4321", "021 98765 4321",
"21987654321") as well as international ("+55 21 98765-4321"). Only numbers that can receive
an SMS are accepted: mobile, or the "fixed line or mobile" numbers of countries whose plans do
not tell them apart (the US, Denmark...).

Errors never repeat the number given: they end up on terminals and in import reports.
"""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

SMS_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
MAX_INPUT = 40  # characters; longer is not a phone number as anyone types one

_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "a fixed line",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.VOIP: "a VoIP number",
    PhoneNumberType.PERSONAL_NUMBER: "a personal number",
    PhoneNumberType.PAGER: "a pager",
    PhoneNumberType.UAN: "a universal access number",
    PhoneNumberType.VOICEMAIL: "a voicemail number",
}

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "not a phone number (unknown country code)",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "not a phone number (too short)",
    NumberParseException.TOO_SHORT_NSN: "not a phone number (too short)",
    NumberParseException.TOO_LONG: "not a phone number (too long)",
}


class PhoneError(ValueError):
    """A phone number that cannot receive an SMS; the message is the reason, without the number."""


def normalise(raw: str, default_region: str = "BR") -> str:
    """The E.164 form ("+5521987654321") of a number that can receive SMS, or PhoneError."""
    text = (raw or "").strip()
    if not text:
        raise PhoneError("no phone number given")
    if len(text) > MAX_INPUT:
        raise PhoneError("not a phone number (too long)")
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        raise PhoneError(_PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    if number.extension:
        raise PhoneError("a number with an extension cannot receive SMS")
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("not a valid number (wrong length or area code for its country)")
    kind = phonenumbers.number_type(number)
    if kind not in SMS_TYPES:
        raise PhoneError(f"{_TYPE_NAMES.get(kind, 'not a mobile number')}, not a mobile: SMS needs a mobile number")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=1 << 17)  # parsing a number costs ~0.1 ms: a notifier masks each recipient's once
def masked(e164: str) -> str:
    """The number for display: country code, area code, the first digit and the last two kept,
    the rest as '*' — "+55 21 9****-**21". At least half of the national digits are always
    masked: where area code and first digit would show more, fewer leading digits are kept
    ("+1 201-***-**23", "+44 740* ****56")."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return _mask_digits(e164)
    national = phonenumbers.national_significant_number(number)
    if len(national) < 4:
        return _mask_digits(e164)
    keep_last = 2
    keep_first = max(0, min(phonenumbers.length_of_national_destination_code(number) + 1,
                            len(national) // 2 - keep_last))
    shown = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    country, _, rest = shown.partition(" ")
    out, seen = [], 0
    for char in rest:
        if char.isdigit():
            out.append(char if seen < keep_first or seen >= len(national) - keep_last else "*")
            seen += 1
        else:
            out.append(char)
    return f"{country} {''.join(out)}"


def _mask_digits(text: str) -> str:
    """Something that is not a parseable number: every digit but the last two masked."""
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    hidden = set(digits[:-2]) if len(digits) > 2 else set(digits)
    return "".join("*" if i in hidden else c for i, c in enumerate(text))
