"""/metrics in Prometheus text format, read from the per-feed counters the workers keep in Redis.

A custom collector reads Redis at scrape time (every web process reports the same, shared
numbers). Redis down: the scrape still answers, with opscentre_redis_up 0. The per-feed figures
go to a client on this machine or one presenting OPSCENTRE_HEALTH_TOKEN; anyone else gets
opscentre_redis_up only (security.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import redis
from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from opscentre.core.feed_health import effective_status
from opscentre.core.store import Store
from opscentre.dashboard import redis_clients
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.security import WebSecurity


# metric name (without _total) -> (counter field in Redis, help)
FEED_COUNTERS = {
    "opscentre_feed_polls": ("polls", "Polls of the feed"),
    "opscentre_feed_failures": ("failures", "Failed polls of the feed"),
    "opscentre_feed_observations_stored": ("observations_stored", "Observations stored from the feed"),
    "opscentre_feed_observations_rejected": ("observations_rejected", "Items (readings, events) rejected by validation"),
    "opscentre_feed_items_skipped": ("items_skipped", "Items skipped as out of scope (outside the city, tests...)"),
    "opscentre_feed_events_stored": ("events_stored", "Events (warnings, jams, outages, vehicles) stored from the feed"),
    "opscentre_feed_forecast_steps_stored": ("forecast_steps_stored", "Forecast steps stored from the feed"),
    "opscentre_feed_not_modified": ("not_modified", "Polls answered 304 Not Modified (nothing new)"),
    "opscentre_feed_parse_errors": ("parse_errors", "Payloads of the feed that did not parse"),
    "opscentre_feed_bytes": ("bytes", "Payload bytes fetched from the feed"),
}
UP_STATUSES = {"ok", "degraded"}


class StoreCollector(Collector):
    def __init__(self, client: redis.Redis, details: bool = True):
        self.client, self.details = client, details

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("opscentre_redis_up", "1 when Redis answered this scrape")
        try:
            store = Store(self.client)
            metrics, health = store.all_feed_metrics(), store.all_feed_health()
        except REDIS_DOWN:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        if not self.details:
            return
        now = time.time()
        feeds = sorted(set(metrics) | set(health))
        for name, (field, help_text) in FEED_COUNTERS.items():
            family = CounterMetricFamily(name, help_text, labels=["feed"])
            for feed in feeds:
                family.add_metric([feed], metrics.get(feed, {}).get(field, 0.0))
            yield family
        by_kind = CounterMetricFamily("opscentre_feed_failures_by_kind", "Failed polls of the feed, by kind of "
                                      "failure (timeout, connection, http_status, rate_limited, too_large, parse, "
                                      "config, internal...)", labels=["feed", "kind"])
        for feed in feeds:
            for field, value in sorted(metrics.get(feed, {}).items()):
                if field.startswith("failures_"):
                    by_kind.add_metric([feed, field.removeprefix("failures_")], value)
        yield by_kind
        duration = SummaryMetricFamily("opscentre_feed_poll_duration_seconds", "Time spent polling the feed",
                                       labels=["feed"])
        feed_up = GaugeMetricFamily("opscentre_feed_up", "1 when the feed's effective status is ok or degraded",
                                    labels=["feed"])
        failures = GaugeMetricFamily("opscentre_feed_consecutive_failures", "Failed polls in a row", labels=["feed"])
        last_success = GaugeMetricFamily("opscentre_feed_last_success_timestamp_seconds",
                                         "Unix time of the feed's last successful poll", labels=["feed"])
        for feed in feeds:
            counters, h = metrics.get(feed, {}), health.get(feed, {})
            duration.add_metric([feed], count_value=counters.get("polls", 0.0),
                                sum_value=counters.get("poll_seconds_sum", 0.0))
            feed_up.add_metric([feed], 1 if effective_status(h, now) in UP_STATUSES else 0)
            failures.add_metric([feed], float(h.get("consecutive_failures") or 0))
            if h.get("last_success_ts") is not None:
                last_success.add_metric([feed], float(h["last_success_ts"]))
        yield from (duration, feed_up, failures, last_success)


def metrics_blueprint(redis_url: str, security: WebSecurity) -> Blueprint:
    client = redis_clients.quick(redis_url)
    full, status_only = CollectorRegistry(auto_describe=False), CollectorRegistry(auto_describe=False)
    full.register(StoreCollector(client))
    status_only.register(StoreCollector(client, details=False))
    blueprint = Blueprint("metrics", __name__)

    @blueprint.get("/metrics")
    def metrics():
        registry = full if security.may_see_details() else status_only
        response = Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
        response.headers["Cache-Control"] = "no-store"
        return response

    return blueprint
