"""CAP's vocabulary, shared by the CAP and NWS alerts feeds: status, msgType, severity,
references, times and free text, each turned into our terms or into the reason it is refused."""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from typing import Any

from opscentre.core.models import EventCategory, Severity

KIND = f"event:{EventCategory.WARNING}"  # the `kind` of a rejected warning, as core validation names it
SEVERITIES = {s.value: s for s in Severity}  # CAP's words, lower-cased, are ours
NOT_REAL_STATUSES = {"test", "exercise", "system", "draft"}
MESSAGE_TYPES = {"alert", "update", "cancel"}
MAX_INFOS = 10  # infos per message; references name identifier#1 .. #(MAX_INFOS - 1)
MAX_DESCRIPTION = 4000
MAX_INSTRUCTION = 2000
MAX_TITLE = 2000
DEFAULT_LANGUAGE = "en-US"  # CAP's default for <language>


def status_problem(status: Any) -> str | None:
    """None for status Actual; otherwise why the alert is skipped."""
    if not isinstance(status, str) or not status.strip():
        return "alert has no status"
    if status.strip().lower() == "actual":
        return None
    if status.strip().lower() in NOT_REAL_STATUSES:
        return f"status {status.strip()!r}: not a real alert (test, exercise, system or draft), skipped"
    return f"unknown status {status!r} (expected Actual)"


def message_type_problem(msg_type: Any) -> str:
    if isinstance(msg_type, str) and msg_type.strip().lower() in ("ack", "error"):
        return f"msgType {msg_type.strip()!r} is an acknowledgement or error, not a warning"
    return f"unknown msgType {msg_type!r} (expected Alert, Update or Cancel)"


def severity_of(value: Any) -> tuple[Severity, str | None]:
    """(our Severity, the source's word when it was not one of CAP's)."""
    if isinstance(value, str) and value.strip().lower() in SEVERITIES:
        return SEVERITIES[value.strip().lower()], None
    return Severity.UNKNOWN, (value if isinstance(value, str) and value.strip() else None)


def reference_ids(text: str | None) -> list[str]:
    """CAP `references` ("sender,identifier,sent" separated by whitespace) -> the identifiers."""
    ids = []
    for triple in (text or "").split():
        parts = triple.split(",")
        identifier = parts[1] if len(parts) >= 2 else parts[0]
        if identifier and identifier not in ids:
            ids.append(identifier)
    return ids


def expand_references(ids: list[str]) -> list[str]:
    """Each referenced message's event ids: its identifier and identifier#1.. for further infos."""
    return [f"{i}#{n}" if n else i for i in ids for n in range(MAX_INFOS)]


def choose_infos(languages: list[str], preferred: str | None) -> tuple[list[int], list[str]]:
    """(indices of the infos to keep, the other languages present) — see the module doc."""

    def primary(tag: str) -> str:
        return tag.lower().split("-")[0]

    keep: list[int] = []
    if preferred:
        keep = [i for i, lang in enumerate(languages) if lang.lower() == preferred.lower()] or \
               [i for i, lang in enumerate(languages) if primary(lang) == primary(preferred)]
    if not keep:
        keep = [i for i, lang in enumerate(languages) if lang.lower() == languages[0].lower()]
    kept = {languages[i].lower() for i in keep}
    others = sorted({lang for lang in languages if lang.lower() not in kept})
    return keep, others


def parse_time(value: Any, tz: tzinfo, field: str, required: bool = True) -> tuple[float | None, str | None]:
    """ISO 8601 (CAP's dateTime) -> UNIX seconds. Without an offset, the city's local time."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, (f"{field} is missing" if required else None)
    if not isinstance(value, str):
        return None, f"{field} {value!r} is not a time"
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        return None, f"{field} {value!r} is not an ISO 8601 time"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp(), None


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def clean_text(text: str | None, limit: int) -> str | None:
    """Free text without the source's indentation, cut to `limit` characters."""
    if not text:
        return None
    lines = [line.strip() for line in text.strip().splitlines()]
    return clip("\n".join(lines), limit)


def clip(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def one_line(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def compact(properties: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in properties.items() if v not in (None, [], {})}

