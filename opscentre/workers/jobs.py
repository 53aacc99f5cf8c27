"""RQ job entry points — thin: take `now` once, fetch, hand the payload to the pipeline,
record health. One job per poll, never one per observation."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import datetime, timezone
from functools import lru_cache

from opscentre.core import keys, locks
from opscentre.core.clock import sim_now
from opscentre.core.connection import connect
from opscentre.core.errors import NotModified, OpscentreError
from opscentre.core.models import FeedStatus
from opscentre.core.settings import Settings, feed_options, load_settings
from opscentre.core.state import iso_utc
from opscentre.core.store import Store
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.evaluation import EvaluationSummary, evaluate_city, read_kinds
from opscentre.workers.pipeline import PollSummary, store_payload
from opscentre.workers.schedule import poll_interval

log = logging.getLogger("opscentre.poll")

# A poll holds its feed's lock as a lease (core/locks.py): renewed while the poll runs, lapsed
# this long after a worker killed mid-poll, when the next poll of the feed runs again.
POLL_LOCK_S = locks.LEASE_S
MAX_ERROR_TEXT = 500


@lru_cache(maxsize=1)
def _process_settings() -> Settings:
    return load_settings()


@lru_cache(maxsize=1)
def _process_store() -> Store:
    return Store(connect(check=False))


def poll(feed_id: str) -> dict:
    """Poll one feed once. Never raises for a feed failure: it is recorded on the feed's health."""
    return poll_feed(feed_id, _process_settings(), _process_store())


def poll_feed(feed_id: str, settings: Settings, store: Store) -> dict:
    with locks.Lease(store.redis, keys.poll_lock(feed_id), POLL_LOCK_S) as lease:
        if lease.token is None:
            return {"feed": feed_id, "skipped": "previous poll of this feed is still running"}
        summary = _poll_once(feed_id, settings, store)
        return {"feed": feed_id, "stored": summary.stored, "rejected": summary.rejected} if summary else {
            "feed": feed_id, "failed": True}


def _poll_once(feed_id: str, settings: Settings, store: Store) -> PollSummary | None:
    feed = FEEDS[feed_id]
    wall_now = time.time()
    started = time.perf_counter()
    ctx = feed_context(feed_id, settings, store, wall_now)
    interval = poll_interval(settings, feed_id, _speed(store) if feed.follows_sim_clock else 1.0)
    before = store.feed_health(feed_id)
    # Health values are decoded as numbers where they look like one: an ETag of 12345 must go
    # back to the server as the text it was.
    ctx.http.etag, ctx.http.last_modified = (None if before.get(k) is None else str(before[k])
                                             for k in ("etag", "last_modified"))
    try:
        payload = feed.fetch(ctx)
        summary = store_payload(feed, payload, ctx, store, wall_now=wall_now, started=started,
                                http_status=ctx.http.status, interval_s=interval)
    except NotModified:
        _record_not_modified(store, feed_id, before, wall_now, started, interval)
        return PollSummary(feed_id, 0, 0, 0, time.perf_counter() - started, 0)
    except OpscentreError as exc:
        _record_failure(store, feed_id, exc.kind, str(exc), wall_now, started, interval)
        return None
    except Exception as exc:  # a bug in a feed module must not kill the worker or lose state
        log.exception("feed %s: unexpected error", feed_id)
        _record_failure(store, feed_id, "internal", f"{type(exc).__name__}: {exc}", wall_now, started, interval)
        return None
    if before.get("status") == FeedStatus.FAILING.value:
        log.info("feed %s recovered after %s failed polls", feed_id, before.get("consecutive_failures"))
    evaluate_after_store(settings, store, kinds=summary.kinds, entities=summary.entities)
    return summary


def evaluate_after_store(settings: Settings, store: Store, now: float | None = None,
                         kinds: set[str] | None = None,
                         entities: dict[str, set[str]] | None = None) -> EvaluationSummary | None:
    """Evaluate the rules that read what was just stored (`kinds`; None: every rule), for the
    keys of the `entities` whose readings were stored (see evaluate_city). A failure here never
    fails the poll (the timer evaluation runs again within seconds); it is logged. None when
    there is nothing to evaluate: no rule reads what was stored."""
    if not settings.rules or (kinds is not None and not read_kinds(settings) & set(kinds)):
        return None
    try:
        return evaluate_city(settings, store, now=now, kinds=kinds, entities=entities)
    except Exception:
        log.exception("alert evaluation failed")
        return None


def deliver() -> dict:
    """Drain the notification outbox to the channels (for now: the log channel)."""
    from opscentre.core.notify import log_channel

    consumer = f"{socket.gethostname()}:{os.getpid()}"
    return {"log": log_channel.deliver(_process_store().redis, consumer)}


def evaluate() -> dict:
    """The timer evaluation (RQ cron): `for` durations, staleness and forecasts move with time."""
    summary = evaluate_city(_process_settings(), _process_store())
    return {"transitions": summary.transitions, "open": summary.open_alerts, "stage": summary.stage,
            "skipped": summary.skipped}


def _record_not_modified(store: Store, feed_id: str, before: dict, wall_now: float, started: float,
                         interval: float) -> None:
    duration = time.perf_counter() - started
    status = before.get("status") if before.get("status") in (FeedStatus.OK, FeedStatus.DEGRADED) else FeedStatus.OK
    store.record_not_modified(
        feed_id,
        {"status": str(status), "last_poll": iso_utc(wall_now), "last_success": iso_utc(wall_now),
         "last_success_ts": wall_now, "http_status": 304, "duration_ms": round(duration * 1000, 1),
         "interval_s": interval, "bytes": 0},
        {"polls": 1, "not_modified": 1, "poll_seconds_sum": duration},
    )
    if before.get("status") == FeedStatus.FAILING.value:
        log.info("feed %s recovered after %s failed polls", feed_id, before.get("consecutive_failures"))


def feed_context(feed_id: str, settings: Settings, store: Store, wall_now: float) -> FeedContext:
    """The context of one poll: options from the config (simulator overrides from the clock)."""
    feed = FEEDS[feed_id]
    options = feed_options(settings, feed_id)
    now = wall_now
    if feed.follows_sim_clock:
        clock = store.sim_clock()
        now = sim_now(clock, wall_now)
        overrides = {k: clock[k] for k in ("seed", "scenario", "scenario_start")
                     if clock and clock.get(k) not in (None, "") and k in type(options).model_fields}
        if overrides:
            options = options.model_copy(update=overrides)
    return FeedContext(feed_id, options, settings, datetime.fromtimestamp(now, timezone.utc))


def _speed(store: Store) -> float:
    clock = store.sim_clock()
    return float(clock.get("speed") or 1) if clock else 1.0


def _record_failure(store: Store, feed_id: str, kind: str, message: str, wall_now: float,
                    started: float, interval: float) -> None:
    message = redact(message)[:MAX_ERROR_TEXT]
    duration = time.perf_counter() - started
    before = store.record_failure(
        feed_id,
        {"status": FeedStatus.FAILING.value, "last_poll": iso_utc(wall_now), "last_error": message,
         "last_error_kind": kind, "last_error_at": iso_utc(wall_now), "duration_ms": round(duration * 1000, 1),
         "interval_s": interval, "simulated": FEEDS[feed_id].simulated},
        {"polls": 1, "failures": 1, f"failures_{kind}": 1, "parse_errors": 1 if kind == "parse" else 0,
         "poll_seconds_sum": duration},
    )
    if before.get("status") != FeedStatus.FAILING.value:  # log the transition, not every poll
        log.warning("feed %s is down (%s): %s", feed_id, kind, message)


def redact(text: str) -> str:
    """Remove secret values (from the environment) from an error message before storing it."""
    for name, value in os.environ.items():
        if value and len(value) >= 6 and any(w in name.upper() for w in ("KEY", "TOKEN", "SECRET", "PASSWORD", "URL", "DSN")):
            text = text.replace(value, "***")
    return text
