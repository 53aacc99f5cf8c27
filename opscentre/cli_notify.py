"""Notification commands: recipients add|import|list|remove, webhooks add|list|remove|enable|disable.
The changes are core/notify/recipient_admin.py's, which the console's Recipients page shares.

Bad input exits 2 with one clear line (a bad phone, an unknown bairro with its close matches,
no place); an unknown id exits 1. Every change is recorded in the audit stream (actor "cli"),
with phone numbers masked; a phone number is never printed unmasked, and a webhook secret only
once, when it is generated.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

EXIT_BAD_INPUT = 2
MAX_CSV_BYTES = 20_000_000
SEVERITIES = ["advisory", "warning", "critical", "emergency"]


def add_commands(command: Callable[[str, str], argparse.ArgumentParser], parse_time: Callable) -> None:
    from opscentre.core.notify.recipients import Language, Role

    c = command("recipients", "the people alerts are texted to: add, import, list, remove")
    actions = c.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("add", help="add one recipient", description="add one recipient (a place is needed: "
                           "--zone, or --point with --radius-m)")
    # Rio's latitudes are negative: take "-22.97,-43.18" as a value, as Python 3.13's argparse does
    a._negative_number_matcher = re.compile(r"-\.?\d")
    a.add_argument("--name", required=True)
    a.add_argument("--phone", required=True, help="mobile number; Brazilian national forms accepted")
    a.add_argument("--zone", action="append", default=[], metavar="BAIRRO", help="name or code; repeat for more")
    a.add_argument("--point", metavar="LAT,LON")
    a.add_argument("--radius-m", type=float, metavar="M", help="with --point: metres around it (at most 50000)")
    a.add_argument("--lang", choices=[lang.value for lang in Language], default=Language.PT_BR.value)
    a.add_argument("--role", choices=[role.value for role in Role], default=Role.SUBSCRIBER.value)
    a.add_argument("--quiet", metavar="HH:MM-HH:MM", help="quiet hours (city time); critical and emergency ignore them")
    i = actions.add_parser("import", help="add recipients from a CSV file",
                           description="columns: name, phone, zones (separated by ;) or lat, lon, radius_m; "
                                       "optional lang, role, quiet_hours")
    i.add_argument("file", type=Path)
    ls = actions.add_parser("list", help="list recipients (phones masked)")
    ls.add_argument("--json", action="store_true")
    r = actions.add_parser("remove", help="remove a recipient")
    r.add_argument("id")

    c = command("webhooks", "partner systems that receive alerts as signed JSON POSTs: add, list, remove, enable, disable")
    actions = c.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("add", help="add a subscriber; its secret is printed once")
    a.add_argument("url")
    a.add_argument("--secret", help="whsec_ + base64 (Standard Webhooks); '-' reads it from stdin; "
                                    "default: generated and printed once")
    a.add_argument("--min-severity", choices=SEVERITIES, default="advisory")
    ls = actions.add_parser("list", help="list subscribers (secrets masked)")
    ls.add_argument("--json", action="store_true")
    r = actions.add_parser("remove", help="remove a subscriber")
    r.add_argument("id")
    e = actions.add_parser("enable", help="send to a disabled subscriber again")
    e.add_argument("id")
    d = actions.add_parser("disable", help="send a subscriber nothing new (kept, with its secret)")
    d.add_argument("id")


def _redis():
    from opscentre.cli import _store

    return _store().redis


def _audit(redis, action: str, subject: str, details: dict, now: float) -> None:
    from opscentre.core.alert_store import AlertStore

    AlertStore(redis).record("cli", action, subject, details, now)


def _refuse(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"opscentre: {message}", file=sys.stderr)
    return code


def _zones(args):
    from opscentre.cli import _settings

    return _settings(args).zones


# -- recipients ------------------------------------------------------------------------------
def cmd_recipients(args) -> int:
    return {"add": _recipients_add, "import": _recipients_import, "list": _recipients_list,
            "remove": _recipients_remove}[args.action](args)


def _recipients_add(args) -> int:
    from opscentre.core.notify import recipient_admin
    from opscentre.core.notify.phones import masked

    zones = _zones(args)
    try:
        recipient = recipient_admin.build_recipient(
            zones, name=args.name, phone=args.phone, zone_texts=args.zone,
            point=_lat_lon(args.point) if args.point is not None else None, radius_m=args.radius_m,
            lang=args.lang, role=args.role, quiet=args.quiet, consent_how="cli:operator", now=time.time())
        recipient_admin.add_recipient(_redis(), "cli", recipient)
    except ValueError as exc:  # (RecipientRefused too)
        return _refuse(str(exc))
    print(f"{recipient.id} added: {masked(recipient.phone)}, {recipient.role.value}, {_where(recipient, zones)}")
    return 0


def _recipients_import(args) -> int:
    from opscentre.core.notify.csv_import import parse_csv
    from opscentre.core.notify.recipient_store import RecipientRefused, RecipientStore

    try:
        size = args.file.stat().st_size
        if size > MAX_CSV_BYTES:
            return _refuse(f"{args.file} is larger than {MAX_CSV_BYTES // 1_000_000} MB: split it")
        data = args.file.read_bytes()
    except OSError as exc:
        return _refuse(f"cannot read {args.file}: {exc.strerror or exc}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # a spreadsheet's "CSV" in Windows-1252 (accents in names and bairros)
        text = data.decode("cp1252", errors="replace")
        print(f"opscentre: {args.file} is not UTF-8; read as Windows-1252", file=sys.stderr)
    zones = _zones(args)
    now = time.time()
    rows, errors = parse_csv(text, zones, now, args.file.name)
    redis = _redis()
    store = RecipientStore(redis)
    added = []
    for row in rows:
        try:
            store.add(row.recipient)
            added.append(row.recipient.id)
        except RecipientRefused as exc:
            errors.append(f"line {row.line}: {exc}")
    errors.sort(key=_line_number)
    for error in errors:
        print(f"{args.file.name}: {error}", file=sys.stderr)
    rejected = sum(1 for error in errors if _line_number(error) > 1)  # rows; not a refused header or empty file
    _audit(redis, "recipients-imported", args.file.name, {"added": len(added), "rejected": rejected, "ids": added}, now)
    print(f"{len(added)} added, {rejected} rejected")
    return 0 if added else EXIT_BAD_INPUT


def _recipients_list(args) -> int:
    from opscentre.core.notify.recipient_store import RecipientStore

    names = _zones(args).name_by_id
    shown = [r.display(names) for r in RecipientStore(_redis()).list()]
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(shown) + b"\n")
        return 0
    for r in shown:
        where = ", ".join(r["zones"]) if r["zones"] else ""
        if r["point"]:
            where += ("; " if where else "") + f"{r['point'][0]:.5f},{r['point'][1]:.5f} +{r['radius_m']:g} m"
        quiet = f"  quiet {r['quiet_hours']}" if r["quiet_hours"] else ""
        print(f"{r['id']}  {r['role']:<10} {r['lang']:<5} {r['phone']:<18} {r['name']}  [{where}]{quiet}")
    print(f"{len(shown)} recipients")
    return 0


def _recipients_remove(args) -> int:
    from opscentre.core.notify.phones import masked
    from opscentre.core.notify.recipient_admin import remove_recipient

    removed = remove_recipient(_redis(), "cli", args.id)
    if removed is None:
        return _refuse(f"no recipient {args.id!r}", code=1)
    print(f"{removed.id} removed ({masked(removed.phone)})")
    return 0


def _lat_lon(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        raise ValueError("--point is LAT,LON in degrees, e.g. -22.9711,-43.1822") from None
    return lat, lon


def _where(recipient, zones) -> str:
    parts = [zones.name_by_id.get(z, z) for z in recipient.zone_ids]
    if recipient.point:
        parts.append(f"{recipient.point[0]:.5f},{recipient.point[1]:.5f} +{recipient.radius_m:g} m")
    return ", ".join(parts)


def _line_number(error: str) -> int:
    match = re.match(r"line (\d+):", error)
    return int(match.group(1)) if match else 0


# -- webhooks --------------------------------------------------------------------------------
def cmd_webhooks(args) -> int:
    return {"add": _webhooks_add, "list": _webhooks_list, "remove": _webhooks_remove, "enable": _webhooks_enable,
            "disable": _webhooks_disable}[args.action](args)


def _webhooks_add(args) -> int:
    from opscentre.core.notify.recipient_admin import add_webhook

    secret = args.secret
    if secret == "-":
        secret = sys.stdin.readline().strip()
    try:
        subscriber = add_webhook(_redis(), "cli", args.url, secret=secret or None, min_severity=args.min_severity)
    except ValueError as exc:
        return _refuse(str(exc))
    print(f"{subscriber.id} added: {subscriber.url} (from {subscriber.min_severity.value} up)")
    if not secret:
        print(f"secret (shown once, give it to the receiver to verify signatures): {subscriber.secret}")
    return 0


def _webhooks_list(args) -> int:
    from opscentre.core.notify.subscribers import SubscriberStore

    shown = [s.display() for s in SubscriberStore(_redis()).list()]
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(shown) + b"\n")
        return 0
    for s in shown:
        print(f"{s['id']}  {s['min_severity']:<9} {s['secret']}  {s['url']}{'' if s['enabled'] else '  (disabled)'}")
    print(f"{len(shown)} webhook subscribers")
    return 0


def _webhooks_remove(args) -> int:
    from opscentre.core.notify.recipient_admin import remove_webhook

    removed = remove_webhook(_redis(), "cli", args.id)
    if removed is None:
        return _refuse(f"no webhook subscriber {args.id!r}", code=1)
    print(f"{removed.id} removed ({removed.url})")
    return 0


def _webhooks_enable(args, enabled: bool = True) -> int:
    from opscentre.core.notify.recipient_admin import set_webhook_enabled

    changed = set_webhook_enabled(_redis(), "cli", args.id, enabled)
    if changed is None:
        return _refuse(f"no webhook subscriber {args.id!r}", code=1)
    print(f"{changed.id} {'enabled' if enabled else 'disabled'} ({changed.url})")
    return 0


def _webhooks_disable(args) -> int:
    return _webhooks_enable(args, enabled=False)


COMMANDS = {"recipients": cmd_recipients, "webhooks": cmd_webhooks}
