""""Is my bairro affected?": a name as a resident types it -> the answer, in words. Pure.

The name is looked up with accents, case and punctuation ignored (Zones.find: "copacabana",
"COPACABANA", "Jardim Botanico"), and letters that are no accented form typed plainly as well
("osterbro" for Østerbro, "aero" for Ærø); an unknown name says so and suggests close names. A bairro is
affected by the alerts in it and by the city-wide ones. What was typed is only ever shown as
text (a value in a format field, drawn by React), never as markup.
"""

from __future__ import annotations

from typing import Any

from opscentre.core.geo import Zones, fold_name
from opscentre.i18n import Translator

MAX_QUERY = 80  # longer than any bairro name; what is shown back is cut to this
PLAIN_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ł": "l", "đ": "d", "ð": "d",
                               "þ": "th", "ı": "i"})  # letters Unicode does not decompose into a base letter


def find_zone(text: str, zones: Zones) -> str | None:
    """The zone id a resident means, or None (unknown, or more than one zone)."""
    found = zones.find(text)
    if found is not None:
        return found
    key = fold_name(text).translate(PLAIN_LETTERS)
    matches = [zone_id for zone_id, name in zones.name_by_id.items()
               if fold_name(name).translate(PLAIN_LETTERS) == key]
    return matches[0] if len(matches) == 1 else None


def bairro_answer(query: Any, zones: Zones, alerts: list[dict[str, Any]], t: Translator) -> dict[str, Any]:
    """{kind: "empty" | "unknown" | "clear" | "affected", text, alert_ids, suggestions}; `alerts`
    are the page's alert models (texts.alert_model), worst first."""
    text = " ".join(str(query or "").split())[:MAX_QUERY]
    if not text:
        return {"kind": "empty", "text": "", "alert_ids": [], "suggestions": []}
    zone_id = find_zone(text, zones)
    if zone_id is None:
        return {"kind": "unknown", "alert_ids": [],
                "text": t.gettext("We found no neighbourhood called “{name}”.").format(name=text),
                "suggestions": zones.close_matches(text)}
    name = zones.name_by_id.get(zone_id, text)
    here = [a["id"] for a in alerts if a.get("zone_id") in (zone_id, None)]
    if not here:
        return {"kind": "clear", "text": t.gettext("No alerts for {place}.").format(place=name),
                "alert_ids": [], "suggestions": []}
    return {"kind": "affected", "alert_ids": here, "suggestions": [],
            "text": t.ngettext("{n} alert for {place}:", "{n} alerts for {place}:", len(here)).format(
                n=len(here), place=name)}
