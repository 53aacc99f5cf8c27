"""Silences: label matchers that mute an alert's notifications for a while — pure.

A silence never hides or stops an alert: it still fires, escalates and resolves, and the
operator still sees it (marked silenced). It lasts for a duration (`ends_at`) or repeats on a
schedule (every day HH:MM-HH:MM in the city's time zone, e.g. a feed's nightly maintenance),
optionally until a date. A silence with no end at all is refused.

    rule=feed_stale,key=feed:alerta_rio      matchers (alert fields or labels), all must match
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from opscentre.core.alerting.lifecycle import Alert

MATCHABLE_FIELDS = ("rule", "severity", "zone_id", "entity_id", "key", "fingerprint")
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=|!=)\s*(.*?)\s*$")
_DAILY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class SilenceError(ValueError):
    pass


def parse_matchers(text: str) -> list[dict[str, str]]:
    """'rule=rain,zone_id!=024' -> [{name, op, value}]; a label is matched as labels.NAME or NAME."""
    matchers = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _MATCHER.match(part)
        if not match or not match[3]:
            raise SilenceError(f"{part!r} is not a matcher (use name=value or name!=value, comma-separated)")
        matchers.append({"name": match[1], "op": match[2], "value": match[3]})
    if not matchers:
        raise SilenceError("a silence needs at least one matcher, e.g. rule=rain_15min")
    return matchers


def parse_daily(text: str) -> dict[str, str]:
    match = _DAILY.match(text.strip())
    if not match:
        raise SilenceError(f"{text!r} is not a daily window (use HH:MM-HH:MM, e.g. 01:00-03:00)")
    start, end = text.strip().split("-")
    if start == end:
        raise SilenceError("a daily window needs different start and end times")
    return {"daily": f"{start}-{end}"}


def build_silence(matchers: str, *, now: float, duration_s: float | None = None, until: float | None = None,
                  daily: str | None = None, timezone: str = "UTC", comment: str = "") -> dict[str, Any]:
    """A silence record, or SilenceError saying what is wrong with it."""
    parsed = parse_matchers(matchers)
    if duration_s is not None and duration_s <= 0:
        raise SilenceError("--for must be a positive duration")
    if duration_s is None and until is None and daily is None:
        raise SilenceError("a silence needs an end: --for DURATION, --until TIME, or a --daily HH:MM-HH:MM window")
    ends_at = now + duration_s if duration_s is not None else until
    if ends_at is not None and ends_at <= now:
        raise SilenceError("the silence would end before it starts")
    record: dict[str, Any] = {"matchers": parsed, "starts_at": now, "ends_at": ends_at, "comment": comment[:500]}
    if daily:
        record["schedule"] = {**parse_daily(daily), "timezone": timezone}
    return record


def _alert_value(alert: Alert, name: str) -> str | None:
    if name in MATCHABLE_FIELDS:
        value = getattr(alert, name)
        return None if value is None else str(value)
    label = name.removeprefix("labels.")
    value = alert.labels.get(label)
    return None if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def matches(silence: Mapping[str, Any], alert: Alert) -> bool:
    for matcher in silence["matchers"]:
        equal = _alert_value(alert, matcher["name"]) == matcher["value"]
        if equal != (matcher["op"] == "="):
            return False
    return True


def in_effect(silence: Mapping[str, Any], now: float) -> bool:
    if now < silence["starts_at"] or (silence.get("ends_at") is not None and now >= silence["ends_at"]):
        return False
    schedule = silence.get("schedule")
    if not schedule:
        return True
    tz = ZoneInfo(schedule.get("timezone", "UTC"))
    start_text, end_text = schedule["daily"].split("-")
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    local = datetime.fromtimestamp(now, tz)
    clock = local.time()
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # a window across midnight, e.g. 23:00-02:00


def silenced_by(silences: list[Mapping[str, Any]], alert: Alert, now: float) -> list[str]:
    """Ids of the silences in effect that match the alert."""
    return [s["id"] for s in silences if in_effect(s, now) and matches(s, alert)]


def expired(silence: Mapping[str, Any], now: float) -> bool:
    return silence.get("ends_at") is not None and now >= silence["ends_at"]
