"""Recipients: the people an alert may be texted to, and where they are.

A recipient is *somewhere*: one or more zones (bairros), or a point with a radius. Routing
(core/notify/routing.py) turns either into the set of zones it touches, once per configuration.
Phone numbers are E.164 and never leave the notify room unmasked (`phones.masked`).
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator


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

    @model_validator(mode="after")
    def _somewhere(self) -> Recipient:
        if not self.zone_ids and self.point is None:
            raise ValueError("a recipient needs a place: zones, or a point with a radius")
        if (self.point is None) != (self.radius_m is None):
            raise ValueError("a point needs a radius (and a radius a point)")
        return self
