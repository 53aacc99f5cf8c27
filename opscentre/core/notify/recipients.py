"""Recipients: the people an alert may be texted to, and where they are.

A recipient is *somewhere*: one or more zones (bairros), or a point with a radius. Routing
(core/notify/routing.py) turns either into the set of zones it touches, once per configuration.
Phone numbers are E.164 and never leave the notify room unmasked (`phones.masked`).
"""

from __future__ import annotations

import functools
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Role(str, Enum):
    COMMUNITY = "community"  # NUDEC volunteers, community contacts in the bairro
    AGENT = "agent"  # Defesa Civil agents
    ONCALL = "oncall"  # the centre's on-call operators
    SUBSCRIBER = "subscriber"  # residents who subscribed (by SMS or by hand)


class Language(str, Enum):
    PT_BR = "pt-BR"
    EN = "en"


class Consent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: float  # unix s
    how: str  # e.g. "sms:ALERTA Copacabana", "cli:operator", "import:contacts.csv:12"


class Recipient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(min_length=1, max_length=120)
    phone: str = Field(pattern=r"^\+[1-9]\d{6,14}$")  # E.164
    lang: Language = Language.PT_BR
    role: Role = Role.SUBSCRIBER
    zone_ids: tuple[str, ...] = ()
    point: tuple[float, float] | None = None  # lat, lon
    radius_m: float | None = Field(None, gt=0, le=50_000)
    consent: Consent
    quiet_hours: tuple[str, str] | None = None  # ("22:00", "07:00") local time; critical and emergency ignore them
    created_at: float

    @field_validator("name")
    @classmethod
    def _printable(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("a name needs a visible character")
        if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
            raise ValueError("a name may not hold control characters or line breaks")
        return name

    @field_validator("quiet_hours")
    @classmethod
    def _clock_times(cls, quiet: tuple[str, str] | None) -> tuple[str, str] | None:
        if quiet is not None:
            if not all(_CLOCK.match(t) for t in quiet):
                raise ValueError("quiet hours are two HH:MM times (00:00-23:59)")
            if quiet[0] == quiet[1]:
                raise ValueError("quiet hours must start and end at different times")
        return quiet

    @field_validator("point")
    @classmethod
    def _on_earth(cls, point: tuple[float, float] | None) -> tuple[float, float] | None:
        if point is not None and not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
            raise ValueError("a point is latitude -90..90, longitude -180..180")
        return point

    @model_validator(mode="after")
    def _somewhere(self) -> Recipient:
        if not self.zone_ids and self.point is None:
            raise ValueError("a recipient needs a place: zones, or a point with a radius")
        if (self.point is None) != (self.radius_m is None):
            raise ValueError("a point needs a radius (and a radius a point)")
        return self

    @classmethod
    def create(cls, *, name: str, phone: str, consent_how: str, now: float, zone_ids: Sequence[str] = (),
               point: tuple[float, float] | None = None, radius_m: float | None = None,
               lang: Language | str = Language.PT_BR, role: Role | str = Role.SUBSCRIBER,
               quiet_hours: tuple[str, str] | None = None) -> Recipient:
        """A new recipient: a fresh id, created now, consent given now in the way `consent_how` says.
        `phone` must already be E.164 (`phones.normalise`); raises pydantic's ValidationError."""
        return cls(id=new_id(), name=name, phone=phone, lang=lang, role=role, zone_ids=tuple(zone_ids),
                   point=point, radius_m=radius_m, consent=Consent(at=now, how=consent_how),
                   quiet_hours=quiet_hours, created_at=now)

    @functools.cached_property
    def masked_phone(self) -> str:
        """The phone as operators and logs see it (phones.masked, which keeps what it made: parsing
        a number costs more than the rest of planning its message)."""
        from opscentre.core.notify.phones import masked

        return masked(self.phone)

    def display(self, zone_names: Mapping[str, str]) -> dict[str, Any]:
        """What an operator may see: the phone masked, zones by name (and code)."""
        return {"id": self.id, "name": self.name, "phone": self.masked_phone, "lang": self.lang.value,
                "role": self.role.value, "zones": [zone_names.get(z, z) for z in self.zone_ids],
                "zone_ids": list(self.zone_ids), "point": list(self.point) if self.point else None,
                "radius_m": self.radius_m, "quiet_hours": "-".join(self.quiet_hours) if self.quiet_hours else None,
                "consent": {"at": self.consent.at, "how": self.consent.how}, "created_at": self.created_at}


def explain(exc: Exception) -> str:
    """A pydantic ValidationError as one line of reasons, without the input values (which may
    hold a phone number)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for error in errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def new_id() -> str:
    return "r-" + secrets.token_hex(6)


def parse_quiet_hours(text: str) -> tuple[str, str]:
    """"22:00-07:00" -> ("22:00", "07:00") (may cross midnight); ValueError with the reason."""
    start, sep, end = text.strip().partition("-")
    start, end = start.strip(), end.strip()
    if not sep or not _CLOCK.match(start) or not _CLOCK.match(end):
        raise ValueError("quiet hours are HH:MM-HH:MM, e.g. 22:00-07:00")
    if start == end:
        raise ValueError("quiet hours must start and end at different times")
    return start, end


def parse_lang(text: str) -> Language:
    """"pt-BR", "pt_br", "EN" -> Language; ValueError naming the choices."""
    wanted = text.strip().replace("_", "-").casefold()
    for lang in Language:
        if lang.value.casefold() == wanted:
            return lang
    raise ValueError(f"language must be one of {', '.join(lang.value for lang in Language)}")


def parse_role(text: str) -> Role:
    wanted = text.strip().casefold()
    for role in Role:
        if role.value == wanted:
            return role
    raise ValueError(f"role must be one of {', '.join(role.value for role in Role)}")
