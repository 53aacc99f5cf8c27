"""CAP 1.2 messages for the public alerts (OASIS Common Alerting Protocol, docs/open-data-alerts.md).

An alert's life is a chain of messages: Alert when it fires, an Update at each escalation or
de-escalation, a Cancel when it resolves; each names every earlier one in `references`
("sender,identifier,sent" triples). A message's identifier is the alert id and its place in the
chain ("a-1f2e3d4c5b.2") and its `sent` the time of the transition it tells, so the same
transition always gives the same message. `status` is Exercise while any of the city's data is
simulated, Actual only for real feeds. Each message carries one <info> per language (pt-BR, en)
with the same facts, worded from the SMS vocabulary (core/notify/messages.py) and Defesa Civil's
advice (core/notify/advice.py), every word from the one translation catalogue (opscentre/i18n);
its areas are the alert's bairros (polygons and codes).

Pure: everything comes in as arguments (PublicAlert, Publisher). Built with lxml, never by
pasting strings.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from lxml import etree

from opscentre.core.alerting.lifecycle import Alert, AlertState
from opscentre.core.alerting.rules import AlertSeverity, Rule
from opscentre.core.geo import Zones
from opscentre.core.models import KINDS
from opscentre.core.notify import messages
from opscentre.core.notify.advice import advice_for
from opscentre.i18n import N_, translated, translator
from opscentre.open_data.cap_area import cap_polygons

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MEDIA_TYPE = "application/cap+xml"
LANGUAGES = ("pt-BR", "en")
LIFETIME_S = 12 * 3600  # an Alert / Update expires this long after its onset unless followed
CANCEL_LIFETIME_S = 3600  # a Cancel is kept as long as the resolved alert is (engine.RESOLVED_KEEP_S)
SHOWN_NAMES = 3
UPDATES = ("escalated", "de-escalated")

SEVERITY = {AlertSeverity.ADVISORY: "Minor", AlertSeverity.WARNING: "Moderate",
            AlertSeverity.CRITICAL: "Severe", AlertSeverity.EMERGENCY: "Extreme"}
CATEGORY = {"rain": "Met", "flood": "Met", "heat": "Met", "wind": "Met", "landslide": "Geo", "air": "Env",
            "traffic": "Transport", "power": "Infra", "feed": "Other", "other": "Other"}

# Every human-readable string this module adds (English; each language's wording is the catalogue's,
# opscentre/i18n); the rest comes from messages.py
TEXT = {
    "sender_name": N_("{city} Operations Centre"),
    "since": N_("Since {time} (local time)."),
    "forecast": N_("Forecast {lead}, from {time} (local time)."),
    "measured": N_("Value: {value} {unit}."),
    "ended": N_("Ended at {time} (local time)."),
    "all_clear": N_("The alert is over. Follow Civil Defence's advice (199)."),
    "city_wide": N_("{city} (city-wide)"),
    "exercise": N_("Simulated data: an exercise, not a real alert."),
}


@dataclass(frozen=True)
class Change:
    """One transition of an alert, as the audit stream recorded it."""

    action: str  # firing | escalated | de-escalated | resolved | resolved-by-hand
    at: float
    severity_before: str | None = None
    severity_after: str | None = None
    value: float | None = None  # the measured value at the transition


@dataclass(frozen=True)
class PublicAlert:
    alert: Alert
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class Message:
    msg_type: str  # Alert | Update | Cancel
    identifier: str
    sent: float  # UNIX seconds, whole
    severity: AlertSeverity
    value: float | None = None  # the value the transition was made on


@dataclass(frozen=True)
class Publisher:
    """Who publishes, and what they know of the city."""

    sender: str
    city: str
    tz: tzinfo
    zones: Zones
    zone_code_name: str  # geocode valueName, e.g. the city's zone id property ("codbairro")
    rules: dict[str, Rule]
    simulated: bool
    base_url: str | None = None  # "https://host/" — for <web> and the Atom links


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_UNFOLDED = str.maketrans({"ø": "o", "æ": "ae", "ß": "ss", "đ": "d", "ł": "l", "þ": "th"})  # no NFKD form


def default_sender(city: str) -> str:
    """A sender for a city that names none (city.cap_sender): opscentre@<city-as-a-slug>."""
    folded = unicodedata.normalize("NFKD", city.lower().translate(_UNFOLDED)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    return f"opscentre@{slug or 'city'}"


def publisher(settings: Any, simulated: bool, base_url: str | None = None) -> Publisher:
    return Publisher(sender=settings.city.cap_sender or default_sender(settings.city.name), city=settings.city.name,
                     tz=settings.tz, zones=settings.zones, zone_code_name=settings.city.zone_id_property,
                     rules={r.id: r for r in settings.rules}, simulated=simulated, base_url=base_url)


def cap_time(ts: float, tz: tzinfo) -> str:
    """CAP's dateTime: whole seconds with the offset, UTC written -00:00 (never Z)."""
    text = datetime.fromtimestamp(int(ts), tz).isoformat()
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def cap_path(alert_id: str) -> str:
    return messages.CAP_PATH.format(alert_id=alert_id).lstrip("/")


# ---- the chain of messages ----------------------------------------------------------------


def messages_of(item: PublicAlert) -> list[Message]:
    """Alert, Update per severity change, Cancel once resolved — oldest first."""
    alert = item.alert
    ordered = sorted(item.changes, key=lambda c: c.at)
    fired_at = alert.fired_at if alert.fired_at is not None else alert.started_at
    first = next((c for c in ordered if c.action == "firing" and c.severity_after), None)
    escalations = [c for c in ordered if c.action in UPDATES and c.severity_after and c.at >= fired_at]
    severity = AlertSeverity(first.severity_after if first else
                             (escalations[0].severity_before or alert.severity) if escalations else alert.severity)
    chain = [("Alert", fired_at, severity, first.value if first and first.value is not None else alert.value)]
    for change in escalations:
        chain.append(("Update", max(change.at, chain[-1][1]), AlertSeverity(change.severity_after),
                      change.value if change.value is not None else chain[-1][3]))
    if alert.state == AlertState.RESOLVED:
        resolved_at = alert.resolved_at if alert.resolved_at is not None else alert.since
        chain.append(("Cancel", max(resolved_at, chain[-1][1]), chain[-1][2], chain[-1][3]))
    return [Message(kind, f"{alert.id}.{n}", float(int(at)), sev, value)
            for n, (kind, at, sev, value) in enumerate(chain, 1)]


def references(earlier: list[Message], pub: Publisher) -> str:
    return " ".join(f"{pub.sender},{m.identifier},{cap_time(m.sent, pub.tz)}" for m in earlier)


# ---- one document -------------------------------------------------------------------------


def cap_document(item: PublicAlert, pub: Publisher, message: Message | None = None) -> bytes:
    """The CAP XML of the alert's latest message (or of `message`, one of its chain)."""
    return etree.tostring(cap_element(item, pub, message), xml_declaration=True, encoding="UTF-8")


def cap_element(item: PublicAlert, pub: Publisher, message: Message | None = None) -> etree._Element:
    chain = messages_of(item)
    message = message or chain[-1]
    earlier = chain[:chain.index(message)]
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _add(root, "identifier", message.identifier)
    _add(root, "sender", pub.sender)
    _add(root, "sent", cap_time(message.sent, pub.tz))
    _add(root, "status", "Exercise" if pub.simulated else "Actual")
    _add(root, "msgType", message.msg_type)
    _add(root, "scope", "Public")
    if pub.simulated:
        _add(root, "note", " / ".join(translator(lang).gettext(TEXT["exercise"]) for lang in LANGUAGES))
    if earlier:
        _add(root, "references", references(earlier, pub))
    for lang in LANGUAGES:
        _info(root, item, pub, message, lang)
    return root


def _add(parent: etree._Element, name: str, text: str) -> etree._Element:
    child = etree.SubElement(parent, f"{{{CAP_NS}}}{name}")
    child.text = _NOT_XML.sub("", text)  # a feed's entity name may carry control characters
    return child


def _info(root: etree._Element, item: PublicAlert, pub: Publisher, message: Message, lang: str) -> None:
    alert, rule = item.alert, pub.rules.get(item.alert.rule)
    topic = messages.topic_of(rule, alert.rule)
    cancel = message.msg_type == "Cancel"
    # a forecast's onset: when the engine last measured it, plus the lead it measured then
    forecast = bool(alert.lead_time_s and alert.lead_time_s >= 60 and not cancel)
    onset = max(message.sent, float(int(alert.updated_at + alert.lead_time_s))) if forecast else message.sent
    lead = onset - message.sent if forecast else None
    text = translated(TEXT, lang)
    info = etree.SubElement(root, f"{{{CAP_NS}}}info")
    _add(info, "language", lang)
    _add(info, "category", CATEGORY.get(topic, "Other"))
    _add(info, "event", messages.HAZARD[lang].get(topic, alert.rule).capitalize())
    if cancel:
        _add(info, "responseType", "AllClear")
    _add(info, "urgency", "Past" if cancel else ("Immediate" if lead is None else
                                                 "Expected" if lead <= 3600 else "Future"))
    _add(info, "severity", SEVERITY[message.severity])
    _add(info, "certainty", "Observed" if lead is None else "Likely")
    code = etree.SubElement(info, f"{{{CAP_NS}}}eventCode")
    _add(code, "valueName", "opscentre:rule")
    _add(code, "value", alert.rule)
    _add(info, "effective", cap_time(message.sent, pub.tz))
    if forecast:
        _add(info, "onset", cap_time(onset, pub.tz))
    _add(info, "expires", cap_time(message.sent + CANCEL_LIFETIME_S if cancel else onset + LIFETIME_S, pub.tz))
    _add(info, "senderName", text["sender_name"].format(city=pub.city))
    headline = headline_of(alert, topic, message, _names(alert, pub, lang), lead, lang, pub.city)
    _add(info, "headline", headline)
    _add(info, "description", _description(alert, rule, message, headline, lead, lang, pub))
    instruction = text["all_clear"] if cancel else advice_for(topic, message.severity, lang)
    if instruction:
        _add(info, "instruction", instruction)
    if pub.base_url:
        _add(info, "web", pub.base_url.rstrip("/") + "/public/")
    _areas(info, alert, pub, lang)


def _names(alert: Alert, pub: Publisher, lang: str) -> list[str]:
    name = pub.zones.name_by_id.get(alert.zone_id) if alert.zone_id else None
    return [name] if name else [translator(lang).gettext(TEXT["city_wide"]).format(city=pub.city)]


def headline_of(alert: Alert, topic: str, message: Message, names: list[str], lead: float | None, lang: str,
                city: str) -> str:
    """The SMS template's words (messages.TEMPLATES) without the advice, which is the instruction."""
    severity = message.severity.value
    fields = {**{k: "" for k in messages.SAMPLE_FIELDS}, "city": city, "level": messages.LEVEL[lang][severity],
              "intensity": messages.INTENSITY[lang][severity], "places": messages.places(names, SHOWN_NAMES, lang),
              "place": names[0], "hazard": messages.HAZARD[lang].get(topic, alert.rule), "subject": alert.where,
              "rule": alert.rule, "advice": ""}
    templates = messages.TEMPLATES[lang]
    if message.msg_type == "Cancel":
        name = "resolved"
    elif lead is not None:
        fields["lead"] = messages.lead_words(lead, lang)
        name = f"{topic}_forecast" if f"{topic}_forecast" in templates else "forecast"
    else:
        name = topic if topic in templates else "other"
    return " ".join(templates[name].format(**fields).split())


def _description(alert: Alert, rule: Rule | None, message: Message, headline: str, lead: float | None, lang: str,
                 pub: Publisher) -> str:
    text = translated(TEXT, lang)
    local = datetime.fromtimestamp(message.sent, pub.tz).strftime("%d/%m/%Y %H:%M")
    if message.msg_type == "Cancel":
        return f"{headline} {text['ended'].format(time=local)}"
    started = datetime.fromtimestamp(alert.fired_at or alert.started_at, pub.tz).strftime("%d/%m/%Y %H:%M")
    parts = [headline]
    unit = _unit(rule)
    if message.value is not None and unit is not None:  # the value of the transition, not the latest
        value = f"{message.value:.1f}".replace(".", "," if lang == "pt-BR" else ".")
        parts.append(text["measured"].format(value=value, unit=unit))
    parts.append(text["forecast"].format(lead=messages.lead_words(lead, lang), time=started) if lead is not None
                 else text["since"].format(time=started))
    return " ".join(parts)


def _unit(rule: Rule | None) -> str | None:
    """The unit of the rule's value, when its kinds share one (a compound rule's may not)."""
    if rule is None:
        return None
    kinds = set(rule.kinds()) | ({rule.forecast_kind} if rule.forecast_kind else set())
    units = {KINDS[k].unit for k in kinds if k in KINDS}
    return units.pop() if len(units) == 1 else None


def _areas(info: etree._Element, alert: Alert, pub: Publisher, lang: str) -> None:
    zones = pub.zones
    if alert.zone_id and alert.zone_id in zones.name_by_id:
        index = zones.ids.index(alert.zone_id)
        area = etree.SubElement(info, f"{{{CAP_NS}}}area")
        _add(area, "areaDesc", zones.names[index])
        for polygon in cap_polygons(zones.geometries[index]):
            _add(area, "polygon", polygon)
        geocode = etree.SubElement(area, f"{{{CAP_NS}}}geocode")
        _add(geocode, "valueName", pub.zone_code_name)
        _add(geocode, "value", alert.zone_id)
        return
    area = etree.SubElement(info, f"{{{CAP_NS}}}area")  # city-wide (or a zone the city no longer has)
    _add(area, "areaDesc", translator(lang).gettext(TEXT["city_wide"]).format(city=pub.city))
    for polygon in cap_polygons(zones.union):
        _add(area, "polygon", polygon)
