"""Residents subscribe by SMS: what an inbound message asks for, and the reply (pure).

`ALERTA <bairro>` (or `ALERT <bairro>`) subscribes the sender to that bairro; `SAIR` (or `STOP`)
removes every subscription of the number and nothing more is sent to it; anything else gets
the instructions. Replies are in the language of the keyword used (pt-BR for ALERTA / SAIR).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import Enum

from opscentre.core.geo import Zones
from opscentre.core.notify.recipients import Language
from opscentre.i18n import N_, translator

MAX_BODY = 320  # characters of an inbound message looked at (two SMS segments are plenty)


class Ask(str, Enum):
    SUBSCRIBE = "subscribe"
    STOP = "stop"
    HELP = "help"


SUBSCRIBE_WORDS = {"ALERTA": Language.PT_BR, "ALERT": Language.EN}
STOP_WORDS = {"SAIR": Language.PT_BR, "PARAR": Language.PT_BR, "STOP": Language.EN, "UNSUBSCRIBE": Language.EN}

REPLIES = {  # the replies' words; each language's are the catalogue's (opscentre/i18n)
    "subscribed": N_("Civil Defence: you will receive alerts for {zone}. Send STOP to cancel."),
    "stopped": N_("Civil Defence: you will receive no more alerts. Send ALERT and a neighbourhood to come back."),
    "unknown_zone": N_("Civil Defence: we could not find the neighbourhood \"{text}\".{suggestions} "
                       "Send ALERT and its name, e.g. ALERT Copacabana."),
    "suggestions": N_(" Did you mean: {names}?"),
    "help": N_("Civil Defence: to receive alerts send ALERT and your neighbourhood (e.g. ALERT Copacabana). "
               "To cancel send STOP."),
}


@dataclass(frozen=True)
class Request:
    ask: Ask
    lang: Language
    zone_id: str | None = None  # for SUBSCRIBE, when the bairro was found
    zone_text: str = ""  # what the sender wrote after the keyword


def _clean(body: str) -> str:
    text = unicodedata.normalize("NFC", body or "")[:MAX_BODY]
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def parse(body: str, zones: Zones) -> Request:
    text = _clean(body)
    keyword, _, rest = text.partition(" ")
    word = keyword.upper().strip(".!,;:")
    if word in STOP_WORDS:
        return Request(Ask.STOP, STOP_WORDS[word])
    if word in SUBSCRIBE_WORDS:
        return Request(Ask.SUBSCRIBE, SUBSCRIBE_WORDS[word], zones.find(rest) if rest else None, rest[:60])
    return Request(Ask.HELP, Language.PT_BR)


def reply(request: Request, zones: Zones) -> str:
    """The text to answer with, once the request has been carried out."""
    t = translator(request.lang.value)
    texts = {name: t.gettext(text) for name, text in REPLIES.items()}
    if request.ask is Ask.STOP:
        return texts["stopped"]
    if request.ask is Ask.SUBSCRIBE and request.zone_id is not None:
        return texts["subscribed"].format(zone=zones.name_by_id[request.zone_id])
    if request.ask is Ask.SUBSCRIBE and request.zone_text:
        close = zones.close_matches(request.zone_text)
        suggestions = texts["suggestions"].format(names=", ".join(close)) if close else ""
        return texts["unknown_zone"].format(text=request.zone_text, suggestions=suggestions)
    return texts["help"]
