"""/healthz: component status as JSON; 503 when Redis, every worker or the scheduler is down, or
when Redis cannot persist (it then refuses every write with MISCONF: nothing is stored).

Anyone gets the status and its code; the components (worker names carry the host name and
PIDs) only a client on this machine or one presenting OPSCENTRE_HEALTH_TOKEN (security.py).

Answers within ~2 s even when Redis is unreachable (its own short-timeout client).
Feed problems are reported but do not fail the check: a feed that cannot reach the internet
is a degraded feed, not a dead operations centre.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import redis
from flask import Blueprint, jsonify
from rq.cron_scheduler_registry import get_registry_key as cron_schedulers_key

from opscentre.core import keys
from opscentre.core.feed_health import effective_status
from opscentre.core.notify.channels.sms import SmsSettings
from opscentre.core.notify.deliveries import NEEDS_OPERATOR
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.store import Store
from opscentre.dashboard import redis_clients
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.security import WebSecurity

WORKER_FRESH_S = 60
SCHEDULER_FRESH_S = 150

log = logging.getLogger("opscentre.health")
_PERSISTENCE_SEEN = {"ok": True}  # this process's last finding, so the log says a change once


def _beats(beats: dict[str, float], now: float, fresh_s: float) -> dict[str, Any]:
    ages = {name: round(now - float(ts), 1) for name, ts in beats.items()}
    fresh = sorted(name for name, age in ages.items() if age < fresh_s)
    return {"status": "ok" if fresh else "down", "fresh": len(fresh), "last_beat_age_s": ages}


def health_report(client: redis.Redis, now: float) -> tuple[bool, dict[str, Any]]:
    """(healthy, report). Healthy means Redis answers and can persist, a worker and a scheduler beat recently."""
    try:
        refusal = _ping(client)
        store = Store(client)
        workers = _beats(store.heartbeats(), now, WORKER_FRESH_S)
        # RQ's cron scheduler registry: zset name -> last heartbeat (unix s). Read here because
        # core.Store has no accessor for an RQ-owned key yet.
        schedulers = {k.decode(): s for k, s in client.zrange(cron_schedulers_key(), 0, -1, withscores=True)}
        scheduler = _beats(schedulers, now, SCHEDULER_FRESH_S)
        feeds = {feed_id: effective_status(h, now) for feed_id, h in store.all_feed_health().items()}
        notifications = _notifications(client, store, now)
        persistence = _persistence(client, refusal)
    except REDIS_DOWN as exc:
        report = {"status": "down",
                  "components": {"redis": {"status": "down", "error": type(exc).__name__},
                                 "workers": {"status": "unknown"}, "scheduler": {"status": "unknown"},
                                 "feeds": {"status": "unknown"}}}
        return False, report
    feeds_ok = all(s in ("ok", "disabled") for s in feeds.values())
    healthy = workers["status"] == "ok" and scheduler["status"] == "ok" and persistence["status"] == "ok"
    report = {
        "status": "ok" if healthy and feeds_ok and notifications["status"] == "ok"
        else ("degraded" if healthy else "down"),
        "components": {
            "redis": {"status": "ok"},
            "persistence": persistence,
            "workers": workers,
            "scheduler": scheduler,
            "feeds": {"status": "ok" if feeds_ok else "degraded", "feeds": feeds},
            "notifications": notifications,
        },
    }
    return healthy, report


def _ping(client: redis.Redis) -> str | None:
    """PING; a Redis that cannot persist answers it (and every write) with MISCONF, but still
    serves reads: that refusal's text, for the report."""
    try:
        client.ping()
    except redis.ResponseError as exc:
        if not str(exc).startswith("MISCONF"):
            raise
        return str(exc)
    return None


def _persistence(client: redis.Redis, refusal: str | None) -> dict[str, Any]:
    """Whether Redis can write its append-only file. When it cannot (a full or read-only disk:
    the `disk-full` drill) it answers reads and refuses every write with MISCONF until it can:
    polls fail, nothing new is stored. Down then, and said once in the log."""
    try:
        info = client.info("persistence")
    except redis.ResponseError:  # a managed Redis that does not show it
        info = {}
    failed = refusal is not None or (info.get("aof_enabled") and info.get("aof_last_write_status", "ok") != "ok")
    if not failed:
        if not _PERSISTENCE_SEEN["ok"]:
            log.warning("Redis writes its append-only file again: writes are accepted")
            _PERSISTENCE_SEEN["ok"] = True
        return {"status": "ok", "aof": "on" if info.get("aof_enabled") else ("off" if info else "unknown")}
    error = ("Redis cannot persist: it refuses every write until it can, so nothing new is stored "
             f"({refusal or 'aof_last_write_status: err'}). Free space where its data lives (its log says more)")
    if _PERSISTENCE_SEEN["ok"]:
        log.error("%s", error)
        _PERSISTENCE_SEEN["ok"] = False
    return {"status": "down", "error": error}


def _notifications(client: redis.Redis, store: Store, now: float) -> dict[str, Any]:
    """Whether a notifier runs, SMS on or off (and why: a choice, not a fault), and how many
    deliveries are in each state. Degraded when no notifier beats (alerts would reach nobody
    outside the room) or a dead letter or a message of unknown fate waits for an operator."""
    sms = SmsSettings.from_env(os.environ)
    counts = DeliveryStore(client).counts()
    waiting_for_operator = sum(counts.get(s.value, 0) for s in NEEDS_OPERATOR)
    notifier = _beats(store.heartbeats(keys.NOTIFIER_HEARTBEAT), now, WORKER_FRESH_S)
    return {"status": "degraded" if waiting_for_operator or notifier["status"] != "ok" else "ok",
            "notifier": notifier, "sms": "enabled" if sms.enabled else sms.disabled_reason, "webhook": "enabled",
            "deliveries": {state: n for state, n in counts.items() if n}}


def health_blueprint(redis_url: str, security: WebSecurity) -> Blueprint:
    client = redis_clients.quick(redis_url)
    blueprint = Blueprint("health", __name__)

    @blueprint.get("/healthz")
    def healthz():
        healthy, report = health_report(client, time.time())
        response = jsonify(report if security.may_see_details() else {"status": report["status"]})
        response.status_code = 200 if healthy else 503
        response.headers["Cache-Control"] = "no-store"
        return response

    return blueprint
