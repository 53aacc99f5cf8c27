"""The status bar: city stage, feed health (n/m healthy, unhealthy ones named), last update.

Rendered from a small JSON-able model so a tick can tell whether anything visible changed
and send nothing when it did not. The model is data in no language (local times written in each
language we have); `status_bar(model, t)` and `alerts_panel(model, t)` write it in the language of
`t` (None: the console request's, dashboard/console_language.py). Alert summaries are the rules'
own texts (the city's config) and are shown as written.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import orjson
from dash import html

from opscentre.core.errors import StoreUnavailable
from opscentre.core.read_model import ReadModel, Snapshot
from opscentre.dashboard.city_reading import CityStatus
from opscentre.dashboard.console_language import console_translator
from opscentre.i18n import LANGUAGES, N_, SOURCE_LANGUAGE, Translator, translator
from opscentre.i18n.vocabulary import STAGES
from opscentre.layers.base import local_label
from opscentre.layers.stages import stage_colour

HEALTHY = {"ok"}
UNREACHABLE = N_("Redis unreachable — reconnecting")
# lower-case severities, where a line starts with one
SEVERITY_WORDS = {"advisory": N_("advisory"), "warning": N_("warning"), "critical": N_("critical"),
                  "emergency": N_("emergency")}
# a feed's health as the bar names it (core/models.py FeedStatus)
FEED_STATES = (N_("degraded"), N_("failing"), N_("stale"), N_("unknown"))


class OperatorStatus:
    """The console's status: the read model's `operator/status` document (core/operator_documents.py),
    built once per store version for every console, parsed here once per snapshot. A snapshot
    served stale while Redis is away is not shown: the console says Redis is unreachable."""

    def __init__(self, read_model: ReadModel):
        self.read_model = read_model
        self._parsed: tuple[Snapshot, CityStatus] | None = None

    def __call__(self, _now: float | None = None) -> CityStatus:
        snapshot = self.read_model.get("operator", "status")
        if snapshot.stale:
            raise StoreUnavailable("Redis unreachable: the console shows no stale status")
        parsed = self._parsed
        if parsed is None or parsed[0] is not snapshot:
            doc = orjson.loads(snapshot.body)
            parsed = self._parsed = (snapshot, CityStatus(
                version=snapshot.version, stage=doc["stage"], feeds=doc["feeds"], alerts=doc["alerts"],
                updated_at=doc["updated_at"], simulated=doc["simulated"], incidents=doc["incidents"]))
        return parsed[1]


def status_model(status: CityStatus, tz: tzinfo) -> dict[str, Any]:
    """What the bar and the alerts panel show, as data in no language (the model is made once per
    status and shared by every console; `status_bar(model, t)` writes it in a language). Local
    times are written once per language we have: they name months."""
    counted = {f: v for f, v in status.feeds.items() if v["status"] != "disabled"}
    unhealthy = sorted((_unhealthy(f, v, tz) for f, v in counted.items() if v["status"] not in HEALTHY),
                       key=lambda u: u["feed"])
    return {
        "stage_level": status.stage["level"],
        "stage_name": status.stage["name"],
        "feeds_healthy": len(counted) - len(unhealthy),
        "feeds_total": len(counted),
        "unhealthy": unhealthy,
        "updated": _local_labels(status.updated_at, tz) if status.updated_at else None,
        "alerts": [_alert_item(a) for a in status.alerts],
        "incidents": [_incident_item(i, tz) for i in status.incidents],
    }


def _local_labels(ts: float, tz: tzinfo) -> dict[str, str]:
    return {lang: local_label(ts, tz, translator(lang)) for lang in LANGUAGES}


def _incident_item(incident: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    zones = incident["zones"]
    where = ", ".join(zones[:3]) + (f" +{len(zones) - 3}" if len(zones) > 3 else "")
    return {"severity": incident["severity"], "where": where, "alerts": incident["alerts"],
            "since": _local_labels(incident["opened_at"], tz)}


def _unhealthy(feed_id: str, view: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    if view["status"] == "stale":
        since = _local_labels(view["last_success_ts"], tz) if view.get("last_success_ts") is not None else None
        return {"feed": feed_id, "status": "stale", "since": since}
    return {"feed": feed_id, "status": view["status"]}


def unreachable_model() -> dict[str, Any]:
    return {"unreachable": True}


def _alert_item(alert: dict[str, Any]) -> dict[str, Any]:
    where = alert.get("zone_name") or alert.get("where") or alert.get("zone_id") or alert.get("entity_id")
    severity = alert.get("severity") or "alert"
    return {
        "severity": severity,
        "summary": alert.get("summary"),  # the rule's own text (the city's config): shown as written
        "rule": alert.get("rule") or "",
        "where": where,
        "pending": alert.get("state") == "pending",
        "silenced": bool(alert.get("silenced_by")),  # operator view only, as acks below
        "ack_by": alert.get("acknowledged_by"),  # operator view only: the public projection has no acks
        "ack_note": (alert.get("ack_note") or "").strip()[:80],
    }


def severity_word(t: Translator, severity: str) -> str:
    """'warning' in the language of `t` (lower case: it starts a line of the alerts panel)."""
    return t.gettext(SEVERITY_WORDS[severity]) if severity in SEVERITY_WORDS else severity


def _alert_line(item: dict[str, Any], t: Translator) -> str:
    severity = item["severity"]
    text = item["summary"] or f"{item['rule']} · {item['where'] or t.gettext('city')}"
    line = text if text.lower().startswith(severity) else f"{severity_word(t, severity)} · {text}"
    if item["pending"]:
        line += " " + t.gettext("(pending)")
    if item["silenced"]:
        line += " " + t.gettext("(silenced)")
    if item["ack_by"]:
        line += " · " + t.gettext("ack {name}").format(name=item["ack_by"]) + (f": {item['ack_note']}"
                                                                             if item["ack_note"] else "")
    return line


def _incident_line(item: dict[str, Any], t: Translator) -> str:
    alerts = t.ngettext("{n} alert", "{n} alerts", item["alerts"]).format(n=item["alerts"])
    since = t.gettext("since {time}").format(time=_in(item["since"], t))
    return f"{severity_word(t, item['severity'])} · {item['where']} · {alerts} · {since}"


def _unhealthy_text(item: dict[str, Any], t: Translator) -> str:
    if item["status"] == "stale":
        since = _in(item["since"], t) if item.get("since") else "?"
        return t.gettext("{feed} (stale since {time}: its map layers are greyed)").format(feed=item["feed"],
                                                                                          time=since)
    return f"{item['feed']} ({t.gettext(item['status']) if item['status'] in FEED_STATES else item['status']})"


def _in(labels: dict[str, str], t: Translator) -> str:
    return labels.get(t.lang) or labels.get(SOURCE_LANGUAGE) or next(iter(labels.values()), "")


def status_bar(model: dict[str, Any], t: Translator | None = None) -> list[Any]:
    """The bar in the language of `t` (None: the console request's, dashboard/console_language.py)."""
    t = console_translator(t)
    if model.get("unreachable"):
        return [html.Span(t.gettext(UNREACHABLE), className="status-item status-error", role="alert")]
    level = model["stage_level"]
    feeds_class = "status-item" + (" status-warn" if model["unhealthy"] else "")
    feeds_text = t.gettext("Feeds {healthy}/{total} healthy").format(healthy=model["feeds_healthy"],
                                                                     total=model["feeds_total"])
    if model["unhealthy"]:
        feeds_text += " — " + ", ".join(_unhealthy_text(u, t) for u in model["unhealthy"])
    updated = _in(model["updated"], t) if model["updated"] else t.gettext("no data yet")
    stage_name = t.gettext(STAGES[level][0]) if level in STAGES else model["stage_name"]
    n = len(model["alerts"])
    return [
        html.Span(t.gettext("Stage {level} · {name}").format(level=level, name=stage_name), className="stage-badge",
                  style={"backgroundColor": stage_colour(level)}, title=t.gettext("City operational stage")),
        html.Span(feeds_text, className=feeds_class),
        html.Span(t.gettext("Updated {time}").format(time=updated), className="status-item"),
        html.Span(t.ngettext("{n} active alert", "{n} active alerts", n).format(n=n),
                  className="status-item" + (" status-warn" if model["alerts"] else "")),
    ]


def alerts_panel(model: dict[str, Any], t: Translator | None = None) -> list[Any]:
    t = console_translator(t)
    lines = model.get("alerts") or []
    incidents = model.get("incidents") or []
    parts: list[Any] = []
    if incidents:  # operator view: what is notified is the incident, so it comes first
        parts += [html.Div(t.gettext("Open incidents ({n})").format(n=len(incidents)), className="panel-title"),
                  html.Ul([html.Li(_incident_line(item, t)) for item in incidents[:6]])]
    if lines:
        title = (t.gettext("Active alerts — showing 12 of {n}").format(n=len(lines)) if len(lines) > 12
                 else t.gettext("Active alerts"))
        parts += [html.Div(title, className="panel-title"),
                  html.Ul([html.Li(_alert_line(item, t)) for item in lines[:12]])]
    return parts
