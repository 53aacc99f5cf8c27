"""`opscentre deliveries`: every message the notifier planned, its state and attempts; dead letters
retried by hand; mass sends released by two different operators. Recipients appear masked."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime

import orjson

EXIT_BAD_INPUT = 2


def add_commands(command: Callable[[str, str], argparse.ArgumentParser], parse_time: Callable) -> None:
    c = command("deliveries", "messages sent or waiting (SMS, webhooks): list them, retry a dead letter "
                              "(retry DELIVERY_ID --by NAME), approve a mass send (approve NOTIFICATION_ID --by NAME)")
    c.add_argument("action", nargs="?", choices=["retry", "approve"], help="without it: list")
    c.add_argument("id", nargs="?", help="retry: a delivery id; approve: a notification id")
    c.add_argument("--by", help="operator name (retry, approve)")
    c.add_argument("--dead", action="store_true", help="only dead letters and messages whose fate is unknown")
    c.add_argument("--incident", help="only the messages of this incident")
    c.add_argument("--json", action="store_true")


def _store():
    from opscentre.core.connection import connect
    from opscentre.core.notify.delivery_store import DeliveryStore

    return DeliveryStore(connect())


def cmd_deliveries(args) -> int:
    if args.action and (not args.id or not (args.by or "").strip()):
        print(f"opscentre: deliveries {args.action} needs an id and --by NAME", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.action == "retry":
        return _retry(args)
    if args.action == "approve":
        return _approve(args)
    return _list(args)


def _list(args) -> int:
    from opscentre.core.notify.deliveries import NEEDS_OPERATOR, State

    store = _store()
    states = sorted(NEEDS_OPERATOR, key=lambda s: s.value) if args.dead else list(State)
    found = [d for state in states for d in store.by_state(state)]
    if args.incident:
        found = [d for d in found if d.incident_id == args.incident]
    found.sort(key=lambda d: d.created_at)
    rows = [d.model_dump(exclude={"payload", "idempotency_key", "counted"}, mode="json") for d in found]
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(rows) + b"\n")
        return 0
    from opscentre.core.settings import load_settings

    tz = load_settings().tz  # the city's time
    print(f"{len(rows)} deliveries" + (" needing an operator" if args.dead else ""))
    for d in found:
        when = datetime.fromtimestamp(d.updated_at, tz).strftime("%Y-%m-%d %H:%M:%S %Z")
        line = (f"  {d.id} {d.channel:<7} {d.target_masked:<24} {d.state.value:<17} attempts {d.attempts}"
                f"{f', {d.segments} segments' if d.segments else ''}"
                f"{f', provider {d.provider_id}' if d.provider_id else ''}  {when}")
        print(line + (f"\n      last error: {d.last_error}" if d.last_error else ""))
    return 0


def _retry(args) -> int:
    from opscentre.core.notify.deliveries import InvalidTransition
    from opscentre.core.notify.delivery_store import UnknownDelivery

    try:
        d = _store().retry(args.id, time.time(), by=args.by.strip())
    except UnknownDelivery:
        print(f"opscentre: no delivery {args.id!r}", file=sys.stderr)
        return 1
    except InvalidTransition as exc:
        print(f"opscentre: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{d.id} to {d.target_masked}: {d.state.value} again (by {args.by.strip()})")
    return 0


def _approve(args) -> int:
    from opscentre.core.notify.deliveries import InvalidTransition, State

    try:
        approved = _store().approve(args.id, args.by.strip(), time.time())
    except InvalidTransition as exc:
        print(f"opscentre: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not approved:
        print(f"opscentre: notification {args.id!r} has no message waiting for approval", file=sys.stderr)
        return 1
    released = sum(d.state is State.QUEUED for d in approved)
    if released:
        print(f"{released} messages released by {', '.join(approved[0].approvals)}")
    else:
        print(f"{len(approved)} messages approved by {args.by.strip()}; a second operator must confirm")
    return 0


COMMANDS = {"deliveries": cmd_deliveries}
