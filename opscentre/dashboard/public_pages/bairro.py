""""Is my bairro affected?": a name as a resident types it -> the answer, in words. Pure.

The name is looked up with accents, case and punctuation ignored (Zones.find: "copacabana",
"COPACABANA", "Jardim Botanico"); an unknown name says so and suggests close names. A bairro is
affected by the alerts in it and by the city-wide ones. What was typed is only ever shown as
text (a value in a format field, drawn by React), never as markup.
"""

from __future__ import annotations

from typing import Any

from opscentre.core.geo import Zones
from opscentre.i18n import Translator

MAX_QUERY = 80  # longer than any bairro name; what is shown back is cut to this


def bairro_answer(query: Any, zones: Zones, alerts: list[dict[str, Any]], t: Translator) -> dict[str, Any]:
    """{kind: "empty" | "unknown" | "clear" | "affected", text, alert_ids, suggestions}; `alerts`
    are the page's alert models (texts.alert_model), worst first."""
    text = " ".join(str(query or "").split())[:MAX_QUERY]
    if not text:
        return {"kind": "empty", "text": "", "alert_ids": [], "suggestions": []}
    zone_id = zones.find(text)
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
