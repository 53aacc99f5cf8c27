"""Operator commands: ack, unack, silence, silences, resolve, stage, audit export.

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

    c = command("stage", "show the city stage, or set it by hand (5 = crisis is only ever set by hand)")
    c.add_argument("--set", type=int, choices=[1, 2, 3, 4, 5], dest="level")
    c.add_argument("--for", dest="duration", metavar="DURATION", help="the override expires after this (e.g. 6h)")
    c.add_argument("--clear", action="store_true", help="end the manual override; the stage is derived again")
    c.add_argument("--by", default="")
    c.add_argument("--note", default="")
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


def cmd_stage(args) -> int:
    from opscentre.core import state
    from opscentre.core.alerting.rules import parse_duration

    store, alerts = _stores()
    now = time.time()
    if args.level is not None or args.clear:
        if not args.by.strip():
            return _fail("setting the stage needs --by NAME")
        if args.clear:
            alerts.set_stage_override(None, args.by.strip(), now)
        else:
            if args.level == 5 and not args.note.strip():
                return _fail("stage 5 (crisis) needs a --note saying who decided it and why")
            try:
                expires = now + parse_duration(args.duration) if args.duration else None
            except ValueError as exc:
                return _fail(f"--for: {exc}")
            alerts.set_stage_override({"level": args.level, "by": args.by.strip(), "note": args.note[:MAX_NOTE],
                                       "set_at": now, "expires_at": expires}, args.by.strip(), now)
        from opscentre.cli import _settings
        from opscentre.workers.evaluation import evaluate_city

        evaluate_city(_settings(args), store)
    current = state.stage(store)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(current) + b"\n")
    else:
        print(f"stage {current['level']} ({current['name']}) since {current['since']}"
              + (" — set by hand" if current.get("manual") else ""))
        for reason in current.get("reasons") or []:
            print(f"  {reason}")
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
