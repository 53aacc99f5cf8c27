"""Messages: a notification rendered for people (SMS text) and for partner systems (webhook JSON).

Pure: `render` and `webhook_body` read only what they are given (and the translation catalogue).
A message names bairros (never codes), says the level in words, what to do (advice.py) and, for
a forecast, how soon. Templates are per hazard ("topic": rain, landslide, flood, heat...), written
in English here and worded in each language by the one catalogue (opscentre/i18n: `TEMPLATES[lang]`);
the config may override any of them under `notify.templates`, checked when the config is loaded
(`TemplateSet`).

SMS are counted as the network sends them (GSM 03.38): GSM-7 when every character is in the
GSM-7 basic set or its extension table (which costs two septets), else UCS-2; 160 / 153 septets
per single / concatenated segment, 70 / 67 UTF-16 units for UCS-2. A message longer than
`notify.max_segments` is shortened: the bairro list first, then the advice — never the level or
the main bairro.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, create_model, field_validator

from opscentre.core.alerting.engine import format_lead
from opscentre.core.alerting.incidents import CITY_WIDE
from opscentre.core.alerting.rules import AlertSeverity, Rule
from opscentre.core.notify.advice import advice_for
from opscentre.i18n import N_, Translator, translated, translator
from opscentre.i18n.vocabulary import SEVERITIES, STAGES

if TYPE_CHECKING:
    from opscentre.core.settings import Settings

DEFAULT_LANG = "pt-BR"
LANGUAGES = ("pt-BR", "en")  # a recipient's (recipients.Language); the words are the catalogue's
SHOWN_NAMES = 3  # more bairros than this: the first two "and N more"

# ---- vocabulary and templates: English, worded in each language by the catalogue (opscentre/i18n)


def _intensities(t: Translator) -> dict[str, str]:
    """Alerta Rio's rain classes: moderada, forte, muito forte (and beyond)."""
    return {"advisory": t.pgettext("rain", "Moderate"), "warning": t.pgettext("rain", "Heavy"),
            "critical": t.pgettext("rain", "Very heavy"), "emergency": t.pgettext("rain", "Extreme")}


def _hazards(t: Translator) -> dict[str, str]:
    """The hazard as a word within a sentence ("the rain alert")."""
    return {"rain": t.pgettext("hazard", "rain"), "landslide": t.pgettext("hazard", "landslide"),
            "flood": t.pgettext("hazard", "flood"), "heat": t.pgettext("hazard", "heat"),
            "wind": t.pgettext("hazard", "wind"), "air": t.pgettext("hazard", "air quality"),
            "traffic": t.pgettext("hazard", "traffic"), "power": t.pgettext("hazard", "power outage"),
            "feed": t.pgettext("hazard", "stale data")}


TEMPLATE_TEXT = {
    "rain": N_("[{level}] {intensity} rain in {places}. {advice}"),
    "rain_forecast": N_("[{level}] {intensity} rain forecast {lead} in {places}. {advice}"),
    "landslide": N_("[{level}] Landslide risk in {places}. {advice}"),
    "flood": N_("[{level}] River or channel at a risk level in {places}. {advice}"),
    "heat": N_("[{level}] Extreme heat in {places}. {advice}"),
    "wind": N_("[{level}] Strong wind in {places}. {advice}"),
    "air": N_("[{level}] Poor air quality in {places}. {advice}"),
    "traffic": N_("[{level}] Heavy traffic in {places}."),
    "power": N_("[{level}] Power outage in {places}."),
    "feed": N_("[{level}] No recent data from {subject}."),
    "other": N_("[{level}] {hazard} in {places}."),
    "forecast": N_("[{level}] {hazard} forecast {lead} in {places}. {advice}"),
    "resolved": N_("[OVER] The {hazard} alert for {places} has ended."),
    "stage_up": N_("[COR] {city} moves up to stage {stage} ({stage_name})."),
    "stage_down": N_("[COR] {city} steps down to stage {stage} ({stage_name})."),
    "reminder": N_("[REMINDER] {level} unacknowledged for {ago}: {subject}"),
}

# {lang: {key: words}}: the level as the console names a severity, the stage as it names a stage
LEVEL = {lang: {s: translator(lang).gettext(word).upper() for s, word in SEVERITIES.items()} for lang in LANGUAGES}
STAGE = {lang: {n: translator(lang).gettext(words[0]).lower() for n, words in STAGES.items()} for lang in LANGUAGES}
INTENSITY = {lang: _intensities(translator(lang)) for lang in LANGUAGES}
HAZARD = {lang: _hazards(translator(lang)) for lang in LANGUAGES}
TEMPLATES = {lang: translated(TEMPLATE_TEXT, lang) for lang in LANGUAGES}
TEMPLATE_NAMES = tuple(TEMPLATE_TEXT)
# every field a template may name, with a sample to check templates against
SAMPLE_FIELDS = {"level": "ALERTA", "intensity": "forte", "hazard": "chuva", "places": "Copacabana e Leme",
                 "place": "Copacabana", "lead": "em 3 h", "advice": "Defesa Civil 199.", "subject": "Copacabana",
                 "rule": "rain_15min", "city": "Rio de Janeiro", "stage": 3, "stage_name": "atenção", "previous": 2,
                 "previous_name": "mobilização", "ago": "45 min"}


def template_problem(text: str) -> str | None:
    """Why a template cannot be filled in, or None."""
    try:
        text.format(**SAMPLE_FIELDS)
    except KeyError as exc:
        return f"unknown field {{{exc.args[0]}}} (fields: {', '.join(SAMPLE_FIELDS)})"
    except (ValueError, IndexError, AttributeError) as exc:
        return f"not a valid template: {exc}"
    return None


def _check_template(cls, text: str | None) -> str | None:
    problem = None if text is None else template_problem(text)
    if problem:
        raise ValueError(problem)
    return text


# `notify.templates.<lang>`: any built-in template replaced; an unknown name or field is refused at load
TemplateSet = create_model(
    "TemplateSet", __config__=ConfigDict(extra="forbid", frozen=True),
    __validators__={"_fill_in": field_validator("*")(classmethod(_check_template))},
    **{name: (str | None, None) for name in TEMPLATE_NAMES})


# ---- SMS encoding and segments (GSM 03.38) ---------------------------------------------------

GSM_BASIC = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                      "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")  # escape + character: two septets each
GSM7, UCS2 = "GSM-7", "UCS-2"
PER_SEGMENT = {GSM7: (160, 153), UCS2: (70, 67)}  # single, each of a concatenated message
_LOOKALIKE = {"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "°": "o", "\u00a0": " ",
              "•": "-", "«": '"', "»": '"'}


@dataclass(frozen=True)
class Message:
    text: str
    segments: int
    encoding: str  # GSM-7 | UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)


def encoding_of(text: str) -> str:
    return GSM7 if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text) else UCS2


def _units(text: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if c in GSM_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]  # a surrogate pair outside the BMP


def count(text: str) -> Message:
    """The text as it would be sent: its encoding, length in units and segments. An escape
    sequence or a surrogate pair is never split across two segments."""
    encoding = encoding_of(text)
    units = _units(text, encoding)
    single, multi = PER_SEGMENT[encoding]
    total = sum(units)
    if total <= single:
        return Message(text, 1, encoding, total)
    segments, used = 1, 0
    for size in units:
        if used + size > multi:
            segments, used = segments + 1, 0
        used += size
    return Message(text, segments, encoding, total)


def transliterate(text: str) -> str:
    """Keep GSM-7 characters ("é", "à", "ü", "Ç" are), drop accents from the rest ("ç" -> "c",
    "ã" -> "a"), a few look-alikes ("–" -> "-"), and anything else becomes "?"."""
    out = []
    for c in text:
        if c in GSM_BASIC or c in GSM_EXTENSION:
            out.append(c)
        elif c in _LOOKALIKE:
            out.append(_LOOKALIKE[c])
        else:
            bare = "".join(b for b in unicodedata.normalize("NFKD", c) if b in GSM_BASIC)
            out.append(bare or "?")
    return "".join(out)


# ---- rendering -----------------------------------------------------------------------------

def topic_of(rule: Rule | None, rule_id: str = "") -> str:
    """The hazard a rule speaks of: its `topic` label, or what it measures."""
    if rule is None:
        return "landslide" if "landslide" in rule_id else ("rain" if "rain" in rule_id else "other")
    if rule.labels.get("topic"):
        return str(rule.labels["topic"])
    domain = str(rule.labels.get("domain", ""))
    kinds = set(rule.kinds()) | ({rule.forecast_kind} if rule.forecast_kind else set())
    if rule.feeds or rule.stale_after is not None or domain == "system":
        return "feed"
    if domain == "geotechnical" or "landslide" in rule.id:
        return "landslide"
    if domain == "hydrology" or kinds & {"river_level_m", "river_discharge_m3s"}:
        return "flood"
    if domain == "heat" or "air_temp_c" in kinds:
        return "heat"
    if any(k.startswith("rain") for k in kinds):
        return "rain"
    for topic, matches in (("wind", {"wind_speed_ms"}), ("air", {"aqi", "pm25_ugm3", "pm10_ugm3", "o3_ugm3",
                                                                  "no2_ugm3"}),
                           ("traffic", {"jam_km", "jam_level", "traffic_speed_kmh", "transit_delay_s"}),
                           ("power", {"outage_customers"})):
        if kinds & matches:
            return topic
    return "other"


def lead_words(seconds: float | None, lang: str) -> str:
    """format_lead's "now", "in 3 h" in a language ("agora", "em 3 h")."""
    text = format_lead(seconds)
    t = translator(lang)
    if text == "now":
        return t.pgettext("lead time", "now")
    return t.gettext("in {duration}").format(duration=text.removeprefix("in "))


def places(names: list[str], shown: int, lang: str) -> str:
    """"Copacabana, Leme e Ipanema"; beyond `shown`: "Copacabana, Leme e mais 3 bairros"."""
    t = translator(lang)
    if len(names) <= shown:
        return names[0] if len(names) == 1 else t.gettext("{names} and {last}").format(
            names=", ".join(names[:-1]), last=names[-1])
    rest = len(names) - shown
    return t.ngettext("{names} and {n} more neighbourhood", "{names} and {n} more neighbourhoods", rest).format(
        names=", ".join(names[:shown]), n=rest)


def render(notification: Mapping[str, Any], recipient_lang: str, zone_names: Mapping[str, str],
           settings: Settings) -> Message:
    """The SMS for one notification in one language, within `notify.max_segments` if it can be."""
    lang = str(getattr(recipient_lang, "value", recipient_lang))
    lang = lang if lang in TEMPLATES else DEFAULT_LANG
    name, fields, names = _fields(notification, lang, zone_names, settings)
    notify = settings.notify
    first = len(names) if len(names) <= SHOWN_NAMES else SHOWN_NAMES - 1
    message = None
    for shown, with_advice in ((first, True), (1, True), (1, False)):  # the list gives way first, then the advice
        values = {**fields, "places": places(names, shown, lang) if names else fields["city"],
                  "advice": fields["advice"] if with_advice else ""}
        text = " ".join(_fill(settings, lang, name, values).split())
        message = count(transliterate(text) if notify.transliterate else text)
        if message.segments <= notify.max_segments:
            return message
    return _cut(message.text, notify.max_segments)


def _cut(text: str, cap: int) -> Message:
    """The last resort for a text that will not fit (a long custom template): its beginning."""
    keep = min(len(text), PER_SEGMENT[GSM7][0] * cap)
    while keep > 0 and count(text[:keep].rstrip() + "...").segments > cap:
        keep -= 1
    return count(text[:keep].rstrip() + "...")


def _fill(settings: Settings, lang: str, name: str, values: dict[str, Any]) -> str:
    """The configured template filled in; the built-in one if a format spec does not suit a value
    (fields are checked at load time, but "{stage:d}" in a rain template only fails here)."""
    own = getattr(settings.notify.templates.get(lang), name, None)
    if own:
        try:
            return own.format(**values)
        except (ValueError, KeyError, IndexError, AttributeError):
            pass
    return TEMPLATES[lang][name].format(**values)


def _fields(n: Mapping[str, Any], lang: str, zone_names: Mapping[str, str], settings: Settings
            ) -> tuple[str, dict[str, Any], list[str]]:
    """(template name, the fields, the bairro names — the main one first)."""
    city = settings.city.name
    kind = n.get("kind")
    fields: dict[str, Any] = {**{k: "" for k in SAMPLE_FIELDS}, "city": city}
    if kind == "stage":
        level, previous = int(n["level"]), int(n.get("previous") or 1)
        fields.update(stage=level, stage_name=STAGE[lang].get(level, str(level)), previous=previous,
                      previous_name=STAGE[lang].get(previous, str(previous)))
        return ("stage_up" if level > previous else "stage_down"), fields, []
    severity = AlertSeverity(n.get("trigger_severity") or n.get("severity") or "warning")
    fields.update(level=LEVEL[lang][severity.value], intensity=INTENSITY[lang][severity.value],
                  subject=n.get("title", ""))
    if kind in ("reminder", "escalation"):
        fields["ago"] = format_lead(n.get("unacknowledged_for_s")).removeprefix("in ")
        return "reminder", fields, []
    rules = {r.id: r for r in settings.rules}
    rule_ids = list(n.get("rules") or [])
    topic = topic_of(rules.get(rule_ids[0]), rule_ids[0]) if rule_ids else "other"
    triggers = n.get("trigger_alerts") or []
    names = [zone_names.get(z) or (city if z == CITY_WIDE else None)
             for z in (n.get("trigger_zone_ids") or n.get("zone_ids") or [])]
    names = list(dict.fromkeys(x for x in names if x)) or [city]
    fields.update(hazard=HAZARD[lang].get(topic, rule_ids[0] if rule_ids else "alerta"), place=names[0],
                  rule=rule_ids[0] if rule_ids else "", advice=advice_for(topic, severity, lang),
                  subject=(triggers[0].get("where") if triggers else "") or n.get("title", ""))
    if n.get("change") == "resolved":
        return "resolved", fields, names
    lead = n.get("lead_time_s")
    if lead is not None and lead >= 60:
        fields["lead"] = lead_words(lead, lang)
        return (f"{topic}_forecast" if f"{topic}_forecast" in TEMPLATES[lang] else "forecast"), fields, names
    return (topic if topic in TEMPLATES[lang] else "other"), fields, names


# ---- webhooks ------------------------------------------------------------------------------

def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


CAP_PATH = "/api/public/alerts/{alert_id}.cap"  # where the public side serves an alert's CAP document


def cap_url(public_url: str | None, alert: Mapping[str, Any]) -> str | None:
    """An alert's CAP document, for a public alert and a known public URL (OPSCENTRE_PUBLIC_URL)."""
    if not public_url or not alert.get("public") or not alert.get("alert_id"):
        return None
    return public_url.rstrip("/") + CAP_PATH.format(alert_id=alert["alert_id"])


def webhook_body(notification: Mapping[str, Any], zone_names: Mapping[str, str],
                 public_url: str | None = None) -> dict[str, Any]:
    """The JSON a partner system receives: what changed, how bad, where (codes and names), when
    (ISO 8601 UTC), and the CAP document of each public alert in it when the public URL is known
    (`cap_url`: the main alert's; null otherwise)."""
    n = notification
    kind = n.get("kind")
    triggers = n.get("trigger_alerts") or []
    body: dict[str, Any] = {"notification_id": n.get("id"), "at": iso(n.get("at")),
                            "cap_url": cap_url(public_url, triggers[0]) if triggers else None}
    if kind == "stage":
        return {**body, "type": "stage.changed", "transition": "raised" if n["level"] > n["previous"] else "lowered",
                "stage": {"level": n["level"], "name": n.get("name"), "previous": n["previous"],
                          "manual": bool(n.get("manual"))}}

    def zone(z: str) -> dict[str, Any]:
        return {"code": z, "name": zone_names.get(z, "city-wide" if z == CITY_WIDE else z),
                "severity": (n.get("zone_severity") or {}).get(z)}

    if kind == "incident":
        lead = n.get("lead_time_s")
        return {**body, "type": f"incident.{n['change']}", "transition": n["change"],
                "incident": {"id": n["incident_id"], "severity": n["severity"], "title": n.get("title", ""),
                             "alerts": n.get("alerts"), "zones": [zone(z) for z in n.get("zone_ids") or []]},
                "severity": n.get("trigger_severity") or n["severity"],
                "zones": [zone(z) for z in n.get("trigger_zone_ids") or n.get("zone_ids") or []],
                "rules": list(n.get("rules") or []),
                "expected_at": iso(n["at"] + lead) if lead else None,
                "alerts": [{"id": a["alert_id"], "rule": a["rule"], "severity": a["severity"],
                            "zone": zone(a["zone_id"]) if a.get("zone_id") else None, "where": a.get("where"),
                            "value": a.get("value"), "summary": a.get("summary"),
                            "started_at": iso(a.get("started_at")),
                            "expected_at": iso(n["at"] + a["lead_time_s"]) if a.get("lead_time_s") else None,
                            "cap_url": cap_url(public_url, a)}
                           for a in triggers]}
    return {**body, "type": f"alert.{kind}", "transition": kind, "severity": n.get("severity"),
            "alert": {"id": n.get("alert_id"), "title": n.get("title", ""),
                      "unacknowledged_for_s": n.get("unacknowledged_for_s")},
            "zones": [zone(z) for z in n.get("zone_ids") or []]}
