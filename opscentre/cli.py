"""The `opscentre` command. Thin: parse arguments, call the part that does the work, turn
known failures into one clear line and an exit code."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import orjson

from opscentre.cli_operator import COMMANDS as OPERATOR_COMMANDS
from opscentre.cli_deliveries import COMMANDS as DELIVERY_COMMANDS, add_commands as add_delivery_commands
from opscentre.cli_notify import COMMANDS as NOTIFY_COMMANDS, add_commands as add_notify_commands
from opscentre.cli_users import COMMANDS as USER_COMMANDS, add_commands as add_user_commands

from opscentre import __version__
from opscentre.core.errors import ConfigError, ParseError, StoreUnavailable

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="opscentre",
        description="City operations centre: feeds -> Redis -> alerts -> map. "
        "Environment: REDIS_URL, OPSCENTRE_CONFIG, OPSCENTRE_DATA_DIR (default ./var), PORT (default 8050), "
        "OPSCENTRE_SECRET_KEY; security settings (Redis passwords, allowed hosts, proxies, sessions): "
        "README, 'Security', and docs/security.md.",
    )
    p.add_argument("--version", action="version", version=f"opscentre {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--config", type=Path, help="YAML config (default: $OPSCENTRE_CONFIG or the built-in Rio demo)")
        return c

    c = command("up", "run everything: embedded Redis (unless REDIS_URL), workers, scheduler, web")
    c.add_argument("--speed", type=float, default=1.0, help="simulated time runs N times faster (default 1)")
    c.add_argument("--scenario", help="play a named weather scenario, e.g. storm-2010-04")
    c.add_argument("--seed", type=int, help="simulator seed (default: from the config)")
    c.add_argument("--workers", type=int, default=2, help="feed workers to run (default 2)")

    command("web", "serve the operator console and the public view (granian) on $PORT")
    command("public", "serve only the public view and public API (granian) on $PORT")
    c = command("worker", "run a feed worker (RQ)")
    c.add_argument("--burst", action="store_true", help="work until the queue is empty, then exit")
    command("notifier", "run the notifier: outbox -> deliveries -> SMS and webhooks (any number may run)")
    c = command("cron", "run the scheduler that enqueues each feed's poll at its interval (RQ cron)")
    c.add_argument("--speed", type=float, help="simulator speed (default: the running clock's)")

    c = command("check-config", "validate a config file: exit 0, or print every problem and exit 2")
    c.add_argument("file", nargs="?", type=Path, help="config file (default: --config / $OPSCENTRE_CONFIG / demo)")

    c = command("ingest", "parse a recorded payload of FEED exactly as a poll would, and store it")
    c.add_argument("feed", help="feed id, e.g. simulator")
    c.add_argument("file", type=Path, help="the recorded payload")
    c.add_argument("--as-of", metavar="TIME", type=_as_of,
                   help="replay the payload as of this ISO 8601 time (default: now). Readings older than the "
                        "retention window, or warnings already expired, at that time are rejected")

    c = command("state", "print the city's current state")
    c.add_argument("--json", action="store_true", help="one JSON object (observations, alerts, stage, feeds)")

    c = command("alerts", "list active alerts")
    c.add_argument("--json", action="store_true")

    from opscentre.cli_operator import add_commands

    add_commands(command, _as_of)
    add_notify_commands(command, _as_of)
    add_delivery_commands(command, _as_of)

    c = command("bench", "run a benchmark and print its figures beside a baseline")
    c.add_argument("name", choices=["ingest", "alerts", "notify", "public", "dashboard", "scale", "wall"])
    c.add_argument("--json", action="store_true", help="end with one JSON line")
    c.add_argument("-n", "--observations", "--entities", dest="size", type=int,
                   help="ingest: observations to push (default 500000); alerts: entities (default 50000); "
                        "notify: recipients (default 10000); public: keep-alive connections (default 64); "
                        "dashboard: entities (default 50000); scale: observations per worker count (default 2000000)")
    c.add_argument("--hours", type=float, default=24.0,
                   help="alerts, notify: hours of history per entity of the city (default 24)")
    c.add_argument("--samples", type=int, default=1000,
                   help="alerts, notify: latency probes, 0 to skip the latency part (default 1000)")
    c.add_argument("--ingest-rate", type=float, default=10_000.0,
                   help="alerts, notify: background observations/s during the latency part (default 10000)")
    c.add_argument("--seconds", type=float, default=5.0, help="public: seconds measured per case (default 5); "
                   "dashboard: seconds of the clients' load (default 5)")
    c.add_argument("--clients", type=int, default=200, help="dashboard: simulated consoles (default 200)")
    c.add_argument("--minutes", type=float, default=None,
                   help="wall: minutes /wall is watched in the browser under `up --speed 60` (default 60)")
    c.add_argument("--passes", type=int, default=None,
                   help="scale: passes over the worker counts, one after the other; each count's median is "
                        "reported (default 3)")

    from opscentre.drills import DRILLS
    from opscentre.drills import help_text as drill_help

    c = command("drill", "run a fault drill on loopback (a real Redis, the real write path): inject the fault and "
                "print the figures (lost, duplicated, recovery_s) beside the expected bounds; exit 1 outside them")
    c.add_argument("name", choices=sorted(DRILLS), help=drill_help())
    c.add_argument("--json", action="store_true",
                   help="end with one JSON line: {drill, lost, duplicated, recovery_s, expected, ok, ...}")
    c.add_argument("--short", action="store_true", help="a shortened run (what CI runs)")
    c.add_argument("--minutes", type=float, default=None, help="soak only: how long to run (default 60)")

    add_user_commands(command)
    c = command("set-password", "the older name of `users passwd`: set an account's password (reads it from "
                "stdin, or generates one) and end that account's signed-in sessions")
    c.add_argument("--user", default="operator")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("OPSCENTRE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "config", None):
        os.environ["OPSCENTRE_CONFIG"] = str(args.config.resolve())
    from opscentre.processes.web import StartupError

    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print("configuration refused:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except (StoreUnavailable, StartupError) as exc:
        print(f"opscentre: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _as_of(text: str) -> float:
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2026-02-11T10:15:00-03:00)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _settings(args, path: Path | None = None, check_feeds: bool = True):
    """The config of --config / $OPSCENTRE_CONFIG / the built-in demo (or `path`)."""
    from opscentre.core.settings import load_settings

    return load_settings(path, check_feeds=check_feeds)


def _store():
    from opscentre.core.connection import connect
    from opscentre.core.store import Store

    return Store(connect())


def cmd_up(args) -> int:
    from opscentre.processes.up import run_up

    settings = _settings(args)
    if args.scenario:
        from opscentre.workers.feeds.simulator.scenarios import SCENARIOS

        if args.scenario not in SCENARIOS:
            print(f"opscentre: unknown scenario {args.scenario!r} (known: {', '.join(sorted(SCENARIOS))})",
                  file=sys.stderr)
            return EXIT_CONFIG
    if args.speed <= 0:
        print("opscentre: --speed must be > 0", file=sys.stderr)
        return EXIT_CONFIG
    return run_up(settings, args.speed, args.scenario, args.seed, workers=max(1, args.workers))


def cmd_web(args, public_only: bool = False) -> int:
    from opscentre.core.connection import connect, redis_url
    from opscentre.core.read_model import public_recheck_s
    from opscentre.processes.web import check_port_free, host, port, secret_key, serve

    from opscentre.dashboard.security import WebSecurity

    settings = _settings(args, check_feeds=False)  # (a web process runs no feed: their clients stay out)
    security = WebSecurity.from_env()  # a bad setting is refused here, not in every forked worker
    public_recheck_s()  # (the same)
    connect()  # refuse to start with one clear line when Redis is unreachable
    url, key = redis_url() or "", secret_key()
    bind_host, bind_port = host(), port()
    check_port_free(bind_host, bind_port)
    if bind_host in ("0.0.0.0", "::") and not os.environ.get("OPSCENTRE_ALLOWED_HOSTS"):
        logging.getLogger("opscentre.web").warning(
            "listening on every address, but answering only %s: name this host in OPSCENTRE_ALLOWED_HOSTS",
            ", ".join(security.allowed_hosts))

    def factory():
        if public_only:  # (the console's modules are never imported into the public process)
            from opscentre.dashboard.public_server import create_public_wsgi_app

            return create_public_wsgi_app(settings, url, security)
        from opscentre.dashboard.server import create_wsgi_app

        return create_wsgi_app(settings, url, key, security)

    serve(factory, bind_host, bind_port)
    return 0


def cmd_worker(args) -> int:
    from opscentre.processes.runners import run_worker

    run_worker(_settings(args), burst=args.burst)
    return 0


def cmd_notifier(args) -> int:
    from opscentre.processes.runners import run_notifier

    run_notifier(_settings(args))
    return 0


def cmd_cron(args) -> int:
    from opscentre.processes.runners import run_cron

    run_cron(_settings(args), speed=args.speed)
    return 0


def cmd_check_config(args) -> int:
    settings = _settings(args, args.file)
    feeds = ", ".join(f"{f} every {s.interval_s or 'default'} s" for f, s in settings.enabled_feeds().items())
    rules = f", {len(settings.rules)} alert rules, {len(settings.stage.levels)} stage levels" if settings.rules else ""
    print(f"{settings.source_path}: ok — {settings.city.name}, {len(settings.zones.ids)} zones, feeds: {feeds}{rules}")
    return 0


def cmd_ingest(args) -> int:
    from opscentre.workers.feeds import FEEDS
    from opscentre.workers.jobs import feed_context
    from opscentre.workers.pipeline import store_payload

    if args.feed not in FEEDS:
        print(f"opscentre: unknown feed {args.feed!r} (known: {', '.join(sorted(FEEDS))})", file=sys.stderr)
        return EXIT_CONFIG
    try:
        payload = args.file.read_bytes()
    except OSError as exc:
        print(f"opscentre: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    settings = _settings(args)
    store = _store()
    ctx = feed_context(args.feed, settings, store, time.time())
    if args.as_of is not None:
        from dataclasses import replace
        from datetime import datetime, timezone

        ctx = replace(ctx, now=datetime.fromtimestamp(args.as_of, timezone.utc))
    try:
        summary = store_payload(FEEDS[args.feed], payload, ctx, store)
    except ParseError as exc:
        print(f"opscentre: {args.file} does not parse as {args.feed}: {exc}", file=sys.stderr)
        return 1
    from opscentre.workers.jobs import evaluate_after_store

    evaluated = evaluate_after_store(settings, store, now=args.as_of, kinds=summary.kinds,
                                     entities=summary.entities)
    print(summary.line() + (f"; {evaluated.line()}" if evaluated is not None else ""))
    return 0


def cmd_state(args) -> int:
    from opscentre.core.operator_documents import current_state, operator_read_model

    settings = _settings(args)
    store = _store()
    state = current_state(operator_read_model(store), store)  # (the read model's snapshot: built once per version)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(state) + b"\n")
        return 0
    stage = state["stage"]
    print(f"{settings.city.name}: stage {stage['level']} ({stage['name']})"
          + (" — SIMULATED DATA" if state["simulated"] else ""))
    for feed_id, health in sorted(state["feeds"].items()):
        print(f"  feed {feed_id}: {health['status']}, {health['items']} items, last success {health['last_success']}"
              + (f", last error: {health['last_error']}" if health.get("last_error") else ""))
    kinds: dict[str, int] = {}
    for row in state["observations"]:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    for kind, count in sorted(kinds.items()):
        print(f"  {kind}: {count} entities")
    print(f"  active alerts: {len(state['alerts'])}")
    return 0


def cmd_alerts(args) -> int:
    from opscentre.core.alert_store import AlertStore

    alerts = AlertStore(_store().redis).active()
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(alerts) + b"\n")
    else:
        print(f"{len(alerts)} active alerts")
        for a in alerts:
            print(f"  {a.get('id')} {a.get('severity')} {a.get('rule')} zone {a.get('zone_id')} since {a.get('since')}")
    return 0


def cmd_bench(args) -> int:
    if args.name == "dashboard":
        from opscentre.bench.dashboard import run_dashboard_bench

        result = run_dashboard_bench(_settings(args), args.size or 50_000, clients=args.clients, seconds=args.seconds)
    elif args.name == "public":
        from opscentre.bench.public import run_public_bench

        result = run_public_bench(_settings(args), args.seconds, connections=args.size or 64)
    elif args.name == "notify":
        from opscentre.bench.notify import run_notify_bench

        result = run_notify_bench(_settings(args), args.size or 10_000, latency_samples=args.samples,
                                  ingest_rate=args.ingest_rate, hours=args.hours)
    elif args.name == "alerts":
        from opscentre.bench.alerts import run_alerts_bench

        result = run_alerts_bench(_settings(args), args.size or 50_000, args.hours, args.samples, args.ingest_rate)
    elif args.name == "wall":
        from opscentre.bench.wall import DEFAULT_MINUTES, run_wall_bench

        if args.minutes is not None and args.minutes <= 0:
            print("opscentre: --minutes must be > 0", file=sys.stderr)
            return EXIT_CONFIG
        result = run_wall_bench(_settings(args), args.minutes or DEFAULT_MINUTES)
    elif args.name == "scale":
        from opscentre.bench.scale import PASSES, run_scale_bench

        if args.passes is not None and args.passes < 1:
            print("opscentre: --passes must be >= 1", file=sys.stderr)
            return EXIT_CONFIG
        result = run_scale_bench(_settings(args), args.size or 2_000_000, passes=args.passes or PASSES)
    else:
        from opscentre.bench.ingest import run_ingest_bench

        result = run_ingest_bench(_settings(args), args.size or 500_000, progress=not args.json)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    return 0


def cmd_drill(args) -> int:
    from opscentre.drills import drill

    options = {}
    if args.minutes is not None:
        if args.name != "soak" or args.minutes <= 0:
            print("opscentre: --minutes is for the soak drill, and must be > 0", file=sys.stderr)
            return EXIT_CONFIG
        options["minutes"] = args.minutes
    result = drill(args.name)(_settings(args), short=args.short, progress=True, **options)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    return 0 if result.get("ok") else 1


COMMANDS = {
    "up": cmd_up,
    "web": cmd_web,
    "public": lambda a: cmd_web(a, public_only=True),
    "worker": cmd_worker,
    "cron": cmd_cron,
    "notifier": cmd_notifier,
    "check-config": cmd_check_config,
    "ingest": cmd_ingest,
    "state": cmd_state,
    "alerts": cmd_alerts,
    "bench": cmd_bench,
    "drill": cmd_drill,
}
COMMANDS.update(OPERATOR_COMMANDS)
COMMANDS.update(NOTIFY_COMMANDS)
COMMANDS.update(DELIVERY_COMMANDS)
COMMANDS.update(USER_COMMANDS)
