"""What to do, per hazard: Defesa Civil's advice, short enough for an SMS.

All the advice texts are listed here (messages.py puts them in `{advice}`, the CAP documents in
`<instruction>`), in English; each language's wording is the translation catalogue's
(opscentre/i18n). 199 is Defesa Civil's emergency number in Brazil, 193 the fire brigade's. A
hazard may have stronger advice from critical up (`URGENT_TEXT`), e.g. leaving a house on a slope
before the landslide, not after.
"""

from __future__ import annotations

from opscentre.core.alerting.rules import AlertSeverity
from opscentre.i18n import N_, translator

LANGUAGES = ("pt-BR", "en")  # the languages the advice is checked in (the catalogue has every language)

ADVICE_TEXT = {
    "rain": N_("Never cross a flooded street. Civil Defence 199."),
    "landslide": N_("Watch slopes for cracks and creaking. Civil Defence 199."),
    "flood": N_("Keep away from rivers and channels. Civil Defence 199."),
    "heat": N_("Drink water; avoid the sun from 10:00 to 16:00."),
    "wind": N_("Keep away from trees and power lines. Civil Defence 199."),
    "air": N_("Avoid exercise outdoors."),
}

URGENT_TEXT = {
    "rain": N_("Stay somewhere safe, away from flooded areas. Civil Defence 199."),
    "landslide": N_("If you live on a slope, go to the support point. Civil Defence 199."),
    "flood": N_("Move to higher ground. Civil Defence 199."),
    "heat": N_("Drink water often and go to a cooling point."),
}


# {topic: {lang: text}}, as the catalogue words it
ADVICE = {topic: {lang: translator(lang).gettext(text) for lang in LANGUAGES} for topic, text in ADVICE_TEXT.items()}
URGENT = {topic: {lang: translator(lang).gettext(text) for lang in LANGUAGES} for topic, text in URGENT_TEXT.items()}


def advice_for(topic: str, severity: AlertSeverity, lang: str) -> str:
    """The advice for a hazard at a severity, in a language ("" when there is none; English
    where the language's catalogue lacks it)."""
    urgent = severity.rank >= AlertSeverity.CRITICAL.rank and topic in URGENT_TEXT
    text = (URGENT_TEXT if urgent else ADVICE_TEXT).get(topic)
    return translator(lang).gettext(text) if text else ""
