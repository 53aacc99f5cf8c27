"""The public page's words, in one language: pure functions from the view data (view_data.py)
to small JSON-able models whose every string comes from the catalogue (opscentre.i18n), with
times in the city's zone. Components draw the models; a tick compares them to send only what
changed.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from babel.dates import format_date

from opscentre.core.alerting.rules import AlertSeverity
from opscentre.core.notify.advice import advice_for
from opscentre.i18n import LANGUAGES, Translator
from opscentre.i18n.vocabulary import HAZARDS, SEVERITIES, SEVERITY_ICONS, STAGE_ICONS, STAGES
from opscentre.layers.stages import stage_colour

ADVICE_LANGUAGES = ("pt-BR", "en")  # Defesa Civil's advice texts (core/notify/advice.py); others: English
SEVERITY_LEVEL = {"advisory": 2, "warning": 3, "critical": 4, "emergency": 5}  # colour as the stage's


def local_time(ts: float | None, tz: tzinfo, now: float, lang: str) -> str:
    """"14:05" in the city's zone; another day: "5 de dez. 14:05" (the date in the language's words)."""
    if ts is None:
        return ""
    when, today = datetime.fromtimestamp(ts, tz), datetime.fromtimestamp(now, tz)
    clock = when.strftime("%H:%M")
    if when.date() == today.date():
        return clock
    return f"{format_date(when.date(), format='medium', locale=LANGUAGES.get(lang, 'en'))} {clock}"


def parse_time(value: Any) -> float | None:
    """An alert's time (ISO 8601 UTC, as the store gives it, or seconds) as seconds."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def stage_model(level: int, t: Translator) -> dict[str, Any]:
    level = level if level in STAGES else 1
    name, meaning = STAGES[level]
    return {"level": level, "icon": STAGE_ICONS[level], "colour": stage_colour(level),
            "heading": t.gettext("City stage"), "of": t.gettext("Stage {level} of 5").format(level=level),
            "name": t.gettext(name), "meaning": t.gettext(meaning)}


def alert_model(alert: dict[str, Any], t: Translator, tz: tzinfo, now: float) -> dict[str, Any]:
    severity = str(alert.get("severity") or "warning")
    level_word = t.gettext(SEVERITIES.get(severity, SEVERITIES["warning"]))
    hazard = t.gettext(HAZARDS.get(str(alert.get("topic")), HAZARDS["other"]))
    place = alert.get("zone_name") or alert.get("zone_id") or t.gettext("the whole city")
    try:
        advice = advice_for(str(alert.get("topic")), AlertSeverity(severity),
                            t.lang if t.lang in ADVICE_LANGUAGES else "en")
    except ValueError:
        advice = ""
    since = local_time(parse_time(alert.get("since")), tz, now, t.lang)
    return {"id": str(alert.get("id")), "zone_id": alert.get("zone_id"), "zone_name": alert.get("zone_name"),
            "severity": severity,
            "icon": SEVERITY_ICONS.get(severity, "▲"),
            "colour": stage_colour(SEVERITY_LEVEL.get(severity, 3)),
            "level": level_word,
            "headline": t.gettext("{level}: {hazard} in {place}").format(level=level_word, hazard=hazard, place=place),
            "advice": advice,
            "since": t.gettext("Since {time}").format(time=since) if since else ""}


def updated_text(data: dict[str, Any], t: Translator, tz: tzinfo, now: float) -> str:
    if not data.get("reachable", True):
        return t.gettext("Data temporarily unavailable — reconnecting")
    if data.get("stale"):
        return t.gettext("Data as of {time} — reconnecting").format(time=local_time(data["as_of"], tz, now, t.lang))
    if data.get("updated_at") is None:
        return t.gettext("No data yet")
    return t.gettext("Updated at {time}").format(time=local_time(data["updated_at"], tz, now, t.lang))


def page_model(data: dict[str, Any], t: Translator, tz: tzinfo, now: float) -> dict[str, Any]:
    """What the live parts of the page show: stage, update time, the alerts (worst first) and the
    bairros they name."""
    alerts = [alert_model(a, t, tz, now) for a in data.get("alerts") or []]
    alerts.sort(key=lambda a: (-SEVERITY_LEVEL.get(a["severity"], 0), a["headline"]))
    zones: dict[str, str] = {}  # bairro -> its worst alert's level word
    for alert in alerts:
        if alert["zone_name"]:
            zones.setdefault(alert["zone_name"], alert["level"])
    return {
        "reachable": bool(data.get("reachable", True)),
        "stage": stage_model(int(data.get("stage_level") or 1), t) if data.get("reachable", True) else None,
        "updated": updated_text(data, t, tz, now),
        "alerts": alerts,
        "zones": sorted(zones.items()),
    }
