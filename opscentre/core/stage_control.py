"""Setting the city stage by hand, and the two-person rule for the grave changes.

A supervisor sets a stage (1–5) or clears a manual one, always with a note. Stages 1–4 are set at
once. Stage 5 (crisis) and clearing a manual stage are only *asked for*: the request waits, with
who asked, when and the note, until a **different** supervisor confirms it within
CONFIRM_WITHIN_S (10 minutes); after that it has expired and can only be asked for again. Anyone
who may set the stage may reject a waiting request (the one who asked: withdraw it). One request
waits at a time.

The decisions are pure functions of (what is asked, who, now, the override and the request
stored): `request`, `confirm`, `reject` return an `Outcome` saying what to store and what to
audit; alert_store.AlertStore.change_stage applies one in a Redis transaction (the only I/O).
Refusals are codes with an English text marked for translation (REASONS), so the console shows
them in its language and the command line in English.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from opscentre.i18n import N_

CONFIRM_WITHIN_S = 600.0  # a second supervisor confirms within 10 minutes, or the request expires
KEEP_EXPIRED_S = 3600.0  # an expired request is kept this long, to say "expired" rather than "none"
MAX_NOTE = 1000
LEVELS = (1, 2, 3, 4, 5)
CRISIS = 5


class Result(StrEnum):
    APPLIED = "applied"  # the override was set or cleared now
    PENDING = "pending"  # waiting for a second supervisor
    CONFIRMED = "confirmed"  # a second supervisor confirmed: applied
    REJECTED = "rejected"  # a waiting request was rejected (or withdrawn)
    REFUSED = "refused"  # nothing changed (see `refusal`)


class Refusal(StrEnum):
    NO_NAME = "no-name"
    NO_NOTE = "no-note"
    NOTE_TOO_LONG = "note-too-long"
    BAD_LEVEL = "bad-level"
    NOTHING_TO_CLEAR = "nothing-to-clear"
    ALREADY_WAITING = "already-waiting"
    NONE_WAITING = "none-waiting"
    EXPIRED = "expired"
    SAME_PERSON = "same-person"


REASONS: dict[Refusal, str] = {
    Refusal.NO_NAME: N_("A stage change needs the name of who makes it."),
    Refusal.NO_NOTE: N_("A stage change needs a note saying who decided it and why."),
    Refusal.NOTE_TOO_LONG: N_("A note holds at most 1000 characters."),
    Refusal.BAD_LEVEL: N_("The stage is a number from 1 to 5."),
    Refusal.NOTHING_TO_CLEAR: N_("The stage is not set by hand: there is nothing to clear."),
    Refusal.ALREADY_WAITING: N_("Another stage change is waiting for confirmation: confirm or reject it first."),
    Refusal.NONE_WAITING: N_("No stage change is waiting for confirmation."),
    Refusal.EXPIRED: N_("The stage change was not confirmed within 10 minutes and has expired: ask again."),
    Refusal.SAME_PERSON: N_("A second supervisor must confirm: the one who asked cannot."),
}


@dataclass(frozen=True)
class Outcome:
    result: Result
    refusal: Refusal | None = None
    # what to store: None = leave as it is; ("set", record) or ("delete", None)
    override: tuple[str, dict[str, Any] | None] | None = None
    pending: tuple[str, dict[str, Any] | None] | None = None
    audit: list[tuple[str, Any, Any]] = field(default_factory=list)  # (action, before, after)
    request: dict[str, Any] | None = None  # the request this is about (PENDING, CONFIRMED, REJECTED, EXPIRED)

    @property
    def changed(self) -> bool:
        return self.result is not Result.REFUSED


def refused(refusal: Refusal, audit: list | None = None, pending=None, request=None) -> Outcome:
    return Outcome(Result.REFUSED, refusal, pending=pending, audit=audit or [], request=request)


def needs_confirmation(level: int | None) -> bool:
    """Stage 5 and clearing a manual stage (level None) need a second supervisor; 1–4 do not."""
    return level is None or level == CRISIS


def active_override(override: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    """The manual stage in force (an override past its `expires_at` is none)."""
    if not override:
        return None
    expires = override.get("expires_at")
    return override if expires is None or float(expires) > now else None


def waiting(pending: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    """The request still open for confirmation (an expired one is none)."""
    return pending if pending and float(pending["confirm_by"]) > now else None


def same_person(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def _override(level: int, by: str, note: str, now: float, duration_s: float | None,
              confirmed_by: str | None = None) -> dict[str, Any]:
    record = {"level": level, "by": by, "note": note, "set_at": now,
              "expires_at": now + duration_s if duration_s else None}
    if confirmed_by:
        record["confirmed_by"] = confirmed_by
    return record


def request(level: int | None, by: str, note: str, now: float, override: dict[str, Any] | None,
            pending: dict[str, Any] | None, duration_s: float | None = None,
            request_id: str | None = None) -> Outcome:
    """Set the stage to `level` (None: clear the manual stage), asked by `by` with `note`."""
    by, note = (by or "").strip(), (note or "").replace("\x00", "").strip()
    if not by:
        return refused(Refusal.NO_NAME)
    if not note:
        return refused(Refusal.NO_NOTE)
    if len(note) > MAX_NOTE:
        return refused(Refusal.NOTE_TOO_LONG)
    if level is not None and (isinstance(level, bool) or level not in LEVELS):
        return refused(Refusal.BAD_LEVEL)
    if waiting(pending, now):
        return refused(Refusal.ALREADY_WAITING, request=pending)
    current = active_override(override, now)
    if level is None and current is None:
        return refused(Refusal.NOTHING_TO_CLEAR)
    if needs_confirmation(level):
        asked = {"id": request_id or f"sc-{secrets.token_hex(6)}", "level": level, "by": by, "note": note,
                 "requested_at": now, "confirm_by": now + CONFIRM_WITHIN_S, "duration_s": duration_s}
        return Outcome(Result.PENDING, pending=("set", asked), audit=[("stage-change-requested", current, asked)],
                       request=asked)
    after = _override(level, by, note, now, duration_s)
    return Outcome(Result.APPLIED, override=("set", after), pending=("delete", None) if pending else None,
                   audit=[("stage-override", current, after)])


def _matches(pending: dict[str, Any], request_id: str | None) -> bool:
    return request_id is None or pending.get("id") == request_id


def confirm(by: str, now: float, override: dict[str, Any] | None, pending: dict[str, Any] | None,
            request_id: str | None = None) -> Outcome:
    """A second supervisor confirms the waiting request (`request_id`: the one they saw)."""
    by = (by or "").strip()
    if not by:
        return refused(Refusal.NO_NAME)
    if not pending or not _matches(pending, request_id):
        return refused(Refusal.NONE_WAITING)
    if not waiting(pending, now):
        return refused(Refusal.EXPIRED, pending=("delete", None), request=pending,
                       audit=[("stage-change-expired", pending, None)])
    if same_person(by, pending["by"]):
        return refused(Refusal.SAME_PERSON, request=pending)
    current = active_override(override, now)
    confirmed = {**pending, "confirmed_by": by, "confirmed_at": now}
    if pending["level"] is None:
        change = ("delete", None)
        after = None
        action = "stage-override-cleared"
    else:
        after = _override(pending["level"], pending["by"], pending["note"], now, pending.get("duration_s"),
                          confirmed_by=by)
        change = ("set", after)
        action = "stage-override"
    return Outcome(Result.CONFIRMED, override=change, pending=("delete", None), request=confirmed,
                   audit=[("stage-change-confirmed", pending, confirmed), (action, current, after)])


def reject(by: str, now: float, pending: dict[str, Any] | None, request_id: str | None = None,
           note: str = "") -> Outcome:
    """Reject the waiting request (the one who asked may withdraw it the same way)."""
    by = (by or "").strip()
    if not by:
        return refused(Refusal.NO_NAME)
    if not pending or not _matches(pending, request_id) or not waiting(pending, now):
        return refused(Refusal.NONE_WAITING)
    rejected = {**pending, "rejected_by": by, "rejected_at": now, "reject_note": (note or "")[:MAX_NOTE]}
    return Outcome(Result.REJECTED, pending=("delete", None), request=rejected,
                   audit=[("stage-change-rejected", pending, rejected)])
