"""Operator commands: ack, unack, silence, silences, resolve, stage (with the two-person rule of
core/stage_control.py), audit export.

Every action records who, when and what (before -> after) in the audit stream. Notes are
stored as plain text (the UI always renders them escaped).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import orjson

MAX_NOTE = 1000


def add_commands(command: Callable[[str, str], argparse.ArgumentParser], parse_time: Callable) -> None:
    c = command("ack", "acknowledge an alert (who, when, a note)")
    c.add_argument("alert_id")
    c.add_argument("--by", required=True, help="operator name")
    c.add_argument("--note", default="", help="what was done (plain text)")

    c = command("unack", "withdraw an acknowledgement")
    c.add_argument("alert_id")
    c.add_argument("--by", required=True)

    c = command("silence", "mute the notifications of alerts matching labels, for a time or on a schedule")
    c.add_argument("matcher", help="name=value[,name!=value...]: rule, severity, zone_id, entity_id, key, or a label")
    c.add_argument("--for", dest="duration", metavar="DURATION", help="e.g. 2h")
    c.add_argument("--until", type=parse_time, metavar="TIME", help="ISO 8601 end")
    c.add_argument("--daily", metavar="HH:MM-HH:MM", help="only in this window each day (city time)")
    c.add_argument("--by", required=True)
    c.add_argument("--comment", default="")

    c = command("silences", "list silences (or expire one with --expire ID)")
    c.add_argument("--expire", metavar="SILENCE_ID")
    c.add_argument("--by", default="")
    c.add_argument("--json", action="store_true")

    c = command("resolve", "resolve an alert by hand (if its condition still holds, the next evaluation opens a new one)")
    c.add_argument("alert_id")
    c.add_argument("--by", required=True)
    c.add_argument("--note", default="")

    c = command("stage", "show the city stage, or set or clear it by hand (supervisors; stage 5 and clearing a "
                         "manual stage wait for a second supervisor's `stage confirm` within 10 minutes)")
    c.add_argument("what", nargs="?", metavar="LEVEL|clear|confirm|reject",
                   help="1-4: set at once; 5 or clear: ask, a different --by confirms; confirm / reject the waiting change")
    c.add_argument("--set", type=int, choices=[1, 2, 3, 4, 5], dest="level", help="the same as LEVEL")
    c.add_argument("--for", dest="duration", metavar="DURATION", help="the override expires after this (e.g. 6h)")
    c.add_argument("--clear", action="store_true", help="end the manual override (waits for a second supervisor)")
    c.add_argument("--by", default="", help="who: needed to set, clear, confirm or reject")
    c.add_argument("--note", default="", help="why (needed to set or clear)")
    c.add_argument("--id", dest="request_id", default=None, help="confirm / reject: the waiting change's id")
    c.add_argument("--json", action="store_true")

    c = command("audit", "the audit trail of transitions and operator actions")
    c.add_argument("action", choices=["export"], help="export: JSON lines on stdout")
    c.add_argument("--since", type=parse_time, metavar="TIME")


def _stores():
    from opscentre.cli import _store
    from opscentre.core.alert_store import AlertStore

    store = _store()
    return store, AlertStore(store.redis)


def _fail(message: str) -> int:
    print(f"opscentre: {message}", file=sys.stderr)
    return 1


def _note(text: str) -> str | None:
    if len(text) > MAX_NOTE:
        return None
    return text.replace("\x00", "")


def cmd_ack(args) -> int:
    from opscentre.core.alert_store import UnknownAlert

    note = _note(args.note)
    if note is None:
        return _fail(f"a note holds at most {MAX_NOTE} characters")
    if not args.by.strip():
        return _fail("--by needs the operator's name")
    _, alerts = _stores()
    try:
        alert = alerts.acknowledge(args.alert_id, args.by.strip(), note, time.time())
    except UnknownAlert as exc:
        return _fail(str(exc))
    print(f"{alert.id} acknowledged by {args.by.strip()}: {alert.summary}")
    return 0


def cmd_unack(args) -> int:
    from opscentre.core.alert_store import UnknownAlert

    _, alerts = _stores()
    try:
        alert = alerts.unacknowledge(args.alert_id, args.by.strip(), time.time())
    except UnknownAlert as exc:
        return _fail(str(exc))
    print(f"{alert.id} no longer acknowledged")
    return 0


def cmd_silence(args) -> int:
    from opscentre.cli import _settings
    from opscentre.core.alerting.rules import parse_duration
    from opscentre.core.alerting.silences import SilenceError, build_silence

    try:
        duration = parse_duration(args.duration) if args.duration else None
    except ValueError as exc:
        return _fail(f"--for: {exc}")
    settings = _settings(args)
    _, alerts = _stores()
    now = time.time()
    try:
        record = build_silence(args.matcher, now=now, duration_s=duration, until=args.until, daily=args.daily,
                               timezone=settings.city.timezone, comment=args.comment)
    except SilenceError as exc:
        return _fail(str(exc))
    silence_id = alerts.add_silence(record, args.by.strip(), now)
    print(f"silence {silence_id} created by {args.by.strip()}")
    return 0


def cmd_silences(args) -> int:
    from opscentre.core.alert_store import UnknownAlert

    _, alerts = _stores()
    if args.expire:
        try:
            alerts.expire_silence(args.expire, args.by or "operator", time.time())
        except UnknownAlert as exc:
            return _fail(str(exc))
        print(f"silence {args.expire} expired")
        return 0
    silences = alerts.silences()
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(silences) + b"\n")
        return 0
    for s in silences:
        matchers = ",".join(f"{m['name']}{m['op']}{m['value']}" for m in s["matchers"])
        print(f"{s['id']} {matchers} by {s['created_by']} ends {s.get('ends_at')} {s.get('schedule') or ''}")
    return 0


def cmd_resolve(args) -> int:
    from opscentre.core.alert_store import UnknownAlert

    store, alerts = _stores()
    try:
        alert = alerts.resolve_by_hand(args.alert_id, args.by.strip(), args.note, time.time())
    except UnknownAlert as exc:
        return _fail(str(exc))
    except TimeoutError as exc:
        return _fail(str(exc))
    print(f"{alert.id} resolved by {args.by.strip()}")
    return 0


CLI_REASONS = {"no-name": "this needs --by NAME", "no-note": "a stage change needs a --note saying who decided it and why"}


def _stage_action(args) -> tuple[str | None, int | None]:
    """(verb, level) from `stage LEVEL|clear|confirm|reject` or the older `--set N` / `--clear`."""
    what = (args.what or "").strip().lower()
    if what and (args.level is not None or args.clear):
        raise ValueError("give the level or action once (LEVEL, clear, confirm, reject, or --set / --clear)")
    if what in ("confirm", "reject", "clear"):
        return what, None
    if what:
        if not what.isdigit() or int(what) not in (1, 2, 3, 4, 5):
            raise ValueError(f"{what[:20]!r}: a stage is 1 to 5, or clear, confirm, reject")
        return "set", int(what)
    if args.clear:
        return "clear", None
    if args.level is not None:
        return "set", args.level
    return None, None


def _when(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def cmd_stage(args) -> int:
    from opscentre.core import stage_control, state
    from opscentre.core.alerting.rules import parse_duration

    try:
        verb, level = _stage_action(args)
    except ValueError as exc:
        return _fail(str(exc))
    store, alerts = _stores()
    now = time.time()
    by = args.by.strip()
    outcome = None
    if verb is not None:
        try:
            duration = parse_duration(args.duration) if args.duration else None
        except ValueError as exc:
            return _fail(f"--for: {exc}")
        if verb == "confirm":
            def decide(override, pending):
                return stage_control.confirm(by, now, override, pending, args.request_id)
        elif verb == "reject":
            def decide(override, pending):
                return stage_control.reject(by, now, pending, args.request_id, args.note)
        else:
            def decide(override, pending):
                return stage_control.request(level, by, args.note[:MAX_NOTE + 1], now, override, pending, duration)
        outcome = alerts.change_stage(decide, by or "cli", now)
        if outcome.result is stage_control.Result.REFUSED:
            reason = CLI_REASONS.get(outcome.refusal.value) or stage_control.REASONS[outcome.refusal]
            return _fail(f"stage: {reason} Nothing was changed.")
        if outcome.result in (stage_control.Result.APPLIED, stage_control.Result.CONFIRMED):
            from opscentre.cli import _settings
            from opscentre.workers.evaluation import evaluate_city

            evaluate_city(_settings(args), store)
    current = state.stage(store)
    pending = stage_control.waiting(alerts.stage_pending(), time.time())
    if args.json:
        sys.stdout.buffer.write(orjson.dumps({**current, "pending": pending}) + b"\n")
        return 0
    if outcome is not None and outcome.result is stage_control.Result.REJECTED:
        print(f"stage change {outcome.request['id']} rejected by {by}")
    print(f"stage {current['level']} ({current['name']}) since {current['since']}"
          + (" — set by hand" if current.get("manual") else ""))
    for reason in current.get("reasons") or []:
        print(f"  {reason}")
    if pending:
        what = "clear the manual stage" if pending["level"] is None else f"stage {pending['level']}"
        print(f"waiting for a second supervisor: {what}, asked by {pending['by']} at {_when(pending['requested_at'])}"
              f" ({pending['note']}); confirm by {_when(pending['confirm_by'])} with"
              f" `opscentre stage confirm --by NAME --id {pending['id']}`, or `opscentre stage reject --by NAME`")
    return 0


def cmd_audit(args) -> int:
    _, alerts = _stores()
    out = sys.stdout.buffer
    count = 0
    for entry in alerts.audit(since=args.since):
        out.write(orjson.dumps(entry) + b"\n")
        count += 1
    out.flush()
    print(f"{count} audit entries", file=sys.stderr)
    return 0


COMMANDS = {"ack": cmd_ack, "unack": cmd_unack, "silence": cmd_silence, "silences": cmd_silences,
            "resolve": cmd_resolve, "stage": cmd_stage, "audit": cmd_audit}
