"""The one place that knows poll intervals: registers every enabled feed with RQ's cron scheduler."""

from __future__ import annotations

import logging

from rq.cron import CronScheduler

from opscentre.core import keys
from opscentre.core.settings import Settings
from opscentre.core.store import Store
from opscentre.workers.feeds import FEEDS

log = logging.getLogger("opscentre.schedule")

POLL_JOB_TIMEOUT_S = 240  # a multi-request poll (Open-Meteo batches, OpenAQ stations) with retries (its lock is a renewed lease)
POLL_RESULT_TTL_S = 300


def poll_interval(settings: Settings, feed_id: str, speed: float = 1.0) -> int:
    """Wall-clock seconds between polls of a feed (at least 1). Simulated feeds run `speed` times faster."""
    feed = FEEDS[feed_id]
    configured = settings.feeds.get(feed_id)
    interval = (configured.interval_s if configured else None) or feed.default_interval_s
    if feed.follows_sim_clock:
        interval = interval / speed
    return max(1, round(interval))


def poll_intervals(settings: Settings, speed: float = 1.0) -> dict[str, int]:
    return {feed_id: poll_interval(settings, feed_id, speed) for feed_id in settings.enabled_feeds()}


def build_scheduler(settings: Settings, store: Store, speed: float = 1.0) -> CronScheduler:
    from opscentre.workers import jobs  # jobs reads intervals from here

    scheduler = CronScheduler(connection=store.redis, logging_level="WARNING")
    for feed_id, interval in poll_intervals(settings, speed).items():
        scheduler.register(
            jobs.poll,
            queue_name=keys.FEED_QUEUE,
            args=(feed_id,),
            interval=interval,
            job_timeout=POLL_JOB_TIMEOUT_S,
            result_ttl=POLL_RESULT_TTL_S,
            ttl=max(interval * 3, 60),  # a poll that waited this long in the queue is dropped, not run late
            failure_ttl=24 * 3600,
            name=f"poll:{feed_id}",
        )
    if settings.rules:
        scheduler.register(
            jobs.evaluate,
            queue_name=keys.FEED_QUEUE,
            interval=settings.alerting.evaluate_every_s,
            job_timeout=POLL_JOB_TIMEOUT_S,
            result_ttl=POLL_RESULT_TTL_S,
            ttl=max(settings.alerting.evaluate_every_s * 3, 60),
            failure_ttl=24 * 3600,
            name="evaluate",
        )
        scheduler.register(
            jobs.deliver,
            queue_name=keys.FEED_QUEUE,
            interval=settings.alerting.evaluate_every_s,
            job_timeout=POLL_JOB_TIMEOUT_S,
            result_ttl=POLL_RESULT_TTL_S,
            ttl=max(settings.alerting.evaluate_every_s * 3, 60),
            failure_ttl=24 * 3600,
            name="deliver",
        )
    for feed_id, feed_settings in settings.feeds.items():
        if not feed_settings.enabled:
            store.set_feed_disabled(feed_id)
    return scheduler
