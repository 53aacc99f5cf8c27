"""The storm of April 2010, played accelerated through the real parts: the simulator's payload
stored by the pipeline into Redis every 15 simulated minutes, the rules evaluated after each
poll exactly as a worker does. Rio's built-in rules must warn before the rain, raise and
escalate the rain alerts, walk the stage 1 -> 2 -> 3 -> 4 and back down, and resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from opscentre.core.alert_store import AlertStore
from opscentre.core.settings import FeedSettings, load_settings
from opscentre.core.store import Store
from opscentre.workers.evaluation import evaluate_city
from opscentre.workers.feeds import FEEDS
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.pipeline import store_payload
from opscentre.core.settings import feed_options

RIO = Path(__file__).resolve().parents[2] / "opscentre" / "cities" / "rio" / "demo.yaml"
STORM_START = datetime(2010, 4, 5, 12, tzinfo=UTC)
STEP = timedelta(minutes=15)


@pytest.fixture(scope="module")
def storm_settings():
    settings = load_settings(RIO)
    simulator = FeedSettings(options={"seed": 2010, "gauges": "alerta_rio_gauges.json", "road_segments": 50,
                                      "scenario": "storm-2010-04", "scenario_start": STORM_START.timestamp()})
    return settings.model_copy(update={"feeds": {"simulator": simulator}})


def play(settings, store: Store, hours_before: float, hours_after: float):
    """Every 15 simulated minutes: poll, store, evaluate. Yields (hours since the storm began,
    stage level, transitions of that evaluation as (rule, change, severity))."""
    feed = FEEDS["simulator"]
    options = feed_options(settings, "simulator")
    alerts = AlertStore(store.redis)
    seen = len(list(alerts.audit()))
    t = STORM_START - timedelta(hours=hours_before)
    while t <= STORM_START + timedelta(hours=hours_after):
        ctx = FeedContext("simulator", options, settings, t)
        stored = store_payload(feed, feed.fetch(ctx), ctx, store)
        # as the worker does: the poll's own evaluation (what it stored), then the timer's (all)
        evaluate_city(settings, store, now=t.timestamp(), kinds=stored.kinds, entities=stored.entities)
        summary = evaluate_city(settings, store, now=t.timestamp())
        audit = list(alerts.audit())
        changes = [(e["before"]["rule"], e["action"], (e["after"] or {}).get("severity"))
                   for e in audit[seen:] if e["actor"] == "engine" and e["before"] and "rule" in e["before"]]
        seen = len(audit)
        yield (t - STORM_START).total_seconds() / 3600, summary.stage, changes
        t += STEP


def test_the_april_2010_storm_raises_escalates_and_resolves_alerts_and_walks_the_stage(storm_settings, redis_client):
    store = Store(redis_client)
    timeline = list(play(storm_settings, store, hours_before=6, hours_after=34))
    stages = [stage for _, stage, _ in timeline]

    def first(level):
        return next(h for h, stage, _ in timeline if stage == level)

    def first_fired(rule):
        return next(h for h, _, changes in timeline if any(r == rule and c == "firing" for r, c, _ in changes))

    # up: each stage reached in order, the forecast's stage 2 hours before the heavy rain
    assert stages[0] == 1
    assert first(2) < first(3) < first(4)
    assert first_fired("rain_forecast_3h") < first_fired("rain_stage") - 2
    assert first_fired("rain_forecast_48h") < first_fired("rain_1h")
    # the storm's alerts: rain classes that escalate, the siren criterion, landslide risk, rivers
    changes = [c for _, _, step in timeline for c in step]
    assert ("rain_15min", "escalated", "critical") in changes
    for rule in ("siren_criterion", "landslide_risk", "river_level", "rain_stage"):
        assert (rule, "firing") in {(r, c) for r, c, _ in changes}, rule
    # down: after the last stage 4 the city walks back 3 -> 2 -> 1, one level at a time
    last_four = max(i for i, stage in enumerate(stages) if stage == 4)
    descent = [s for i, s in enumerate(stages[last_four:]) if i == 0 or s != stages[last_four + i - 1]]
    assert descent[:4] == [4, 3, 2, 1]  # (ordinary showers after the storm may call stage 2 again)
    assert stages[-1] <= 2
    # and the rain alerts are over: resolved (nothing pending or firing is left of them)
    open_rain = [a for a in AlertStore(redis_client).active() if a["rule"] in ("rain_15min", "rain_stage")]
    assert open_rain == []
    assert any(c == "resolved" for r, c, _ in changes if r == "rain_15min")
    # a stage change says why, in the history
    history = AlertStore(redis_client).stage_history(count=200)
    assert any(h["level"] == 4 and any("rain_stage critical" in r or "wind critical" in r for r in h["reasons"])
               for h in history)
