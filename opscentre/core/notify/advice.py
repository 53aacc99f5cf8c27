"""What to do, per hazard and language: Defesa Civil's advice, short enough for an SMS.

All the advice texts live here (messages.py puts them in `{advice}`). 199 is Defesa Civil's
emergency number in Brazil, 193 the fire brigade's. A hazard may have stronger advice from
critical up (`URGENT`), e.g. leaving a house on a slope before the landslide, not after.
"""

from __future__ import annotations

from opscentre.core.alerting.rules import AlertSeverity

ADVICE: dict[str, dict[str, str]] = {
    "rain": {"pt-BR": "Não atravesse ruas alagadas. Defesa Civil 199.",
             "en": "Never cross a flooded street. Civil Defence 199."},
    "landslide": {"pt-BR": "Atenção a rachaduras e estalos na encosta. Defesa Civil 199.",
                  "en": "Watch slopes for cracks and creaking. Civil Defence 199."},
    "flood": {"pt-BR": "Afaste-se de rios e canais. Defesa Civil 199.",
              "en": "Keep away from rivers and channels. Civil Defence 199."},
    "heat": {"pt-BR": "Beba água e evite o sol das 10h às 16h.",
             "en": "Drink water; avoid the sun from 10:00 to 16:00."},
    "wind": {"pt-BR": "Fique longe de árvores e fios elétricos. Defesa Civil 199.",
             "en": "Keep away from trees and power lines. Civil Defence 199."},
    "air": {"pt-BR": "Evite exercícios ao ar livre.",
            "en": "Avoid exercise outdoors."},
}

URGENT: dict[str, dict[str, str]] = {
    "rain": {"pt-BR": "Fique em local seguro e longe de áreas alagadas. Defesa Civil 199.",
             "en": "Stay somewhere safe, away from flooded areas. Civil Defence 199."},
    "landslide": {"pt-BR": "Se mora em encosta, vá para o ponto de apoio. Defesa Civil 199.",
                  "en": "If you live on a slope, go to the support point. Civil Defence 199."},
    "flood": {"pt-BR": "Vá para um local alto. Defesa Civil 199.",
              "en": "Move to higher ground. Civil Defence 199."},
    "heat": {"pt-BR": "Beba água sempre e procure um ponto de resfriamento.",
             "en": "Drink water often and go to a cooling point."},
}


def advice_for(topic: str, severity: AlertSeverity, lang: str) -> str:
    """The advice for a hazard at a severity, in a language ("" when there is none)."""
    table = URGENT if severity.rank >= AlertSeverity.CRITICAL.rank and topic in URGENT else ADVICE
    texts = table.get(topic) or {}
    return texts.get(lang) or texts.get("pt-BR", "")
