"""Replay reads the city as it was at a moment from what is stored: the history streams, the stage
history and the audit's alert transitions (real Redis; the moments are wall times between writes)."""

from __future__ import annotations

import time

from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.engine import evaluate
from opscentre.core.alerting.readings import Readings
from opscentre.core.alerting.rules import Rule
from opscentre.core.alerting.stage import StageDecision
from opscentre.core.models import ObservationBatch
from opscentre.core.replay import alerts_at, latest_at, stage_at
from opscentre.core.store import Store

GAUGES = {"g1": {"entity_type": "rain_gauge", "zone_id": "z1", "source": "s", "name": "Tijuca"},
          "g2": {"entity_type": "rain_gauge", "zone_id": "z2", "source": "s", "name": "Centro"}}
RAIN = Rule.model_validate({"id": "rain", "kind": "rain_mm", "entity_type": "rain_gauge",
                            "levels": {"warning": 6.25, "critical": 12.5}, "clear": {"warning": 5.0, "critical": 10.0},
                            "summary": "{severity} rain at {where}: {value:.1f} mm", "labels": {"public": True}})


def a_moment_later() -> float:
    """A wall time strictly between the writes before and after it (stream ids are milliseconds)."""
    time.sleep(0.01)
    moment = time.time()
    time.sleep(0.01)
    return moment


def poll(store: Store, values: dict[str, float]) -> None:
    now = time.time()
    store.write_poll("s", [], [ObservationBatch(source="s", kind="rain_mm", entity_ids=list(values),
                                                values=list(values.values()), observed_at=[now] * len(values))],
                     {"status": "ok", "last_success_ts": now}, {"polls": 1}, 24 * 3600, now)


def test_each_entity_has_its_last_reading_stored_by_the_moment(redis_client):
    store = Store(redis_client)
    poll(store, {"g1": 1.0, "g2": 2.0})
    first = a_moment_later()
    poll(store, {"g1": 30.0})  # only g1 reports again
    second = a_moment_later()
    poll(store, {"g1": 0.0, "g2": 0.0})
    at_first, at_second = latest_at(redis_client, ["rain_mm"], first), latest_at(redis_client, ["rain_mm"], second)
    assert {e: v[0] for e, v in at_first["rain_mm"].items()} == {"g1": 1.0, "g2": 2.0}
    assert {e: v[0] for e, v in at_second["rain_mm"].items()} == {"g1": 30.0, "g2": 2.0}
    assert at_second["rain_mm"]["g1"][2] == "s"  # (value, observed_at, source), as the live latest
    assert latest_at(redis_client, ["rain_mm"], first - 3600)["rain_mm"] == {}  # before any poll: nothing


def test_reading_stops_once_every_entity_is_found(redis_client):
    store = Store(redis_client)
    for i in range(1200):  # more than a page of entries
        poll(store, {"g1": float(i), "g2": float(i)})
    latest = latest_at(redis_client, ["rain_mm"], time.time() + 1, wanted={"rain_mm": 2})
    assert {e: v[0] for e, v in latest["rain_mm"].items()} == {"g1": 1199.0, "g2": 1199.0}


def evaluate_and_store(alerts: AlertStore, previous: dict, values: dict[str, float], stage: StageDecision | None = None):
    now = time.time()
    latest = {"rain_mm": {e: (v, now, "s") for e, v in values.items()}}
    result = evaluate([RAIN], previous, Readings.build(GAUGES, ["z1", "z2"], latest, None, None, None), now,
                      names={"g1": "Tijuca", "g2": "Centro"})
    alerts.apply(result, previous, stage, now)
    return result.alerts


def test_the_alerts_open_at_a_moment_are_folded_from_the_audits_transitions(redis_client):
    alerts = AlertStore(redis_client)
    state = evaluate_and_store(alerts, {}, {"g1": 0.0, "g2": 0.0})
    before_any = a_moment_later()
    state = evaluate_and_store(alerts, state, {"g1": 20.0, "g2": 0.0})  # g1 critical
    while_g1 = a_moment_later()
    state = evaluate_and_store(alerts, state, {"g1": 8.0, "g2": 9.0})  # g1 down to warning, g2 warning
    both = a_moment_later()
    evaluate_and_store(alerts, state, {"g1": 0.0, "g2": 0.0})  # every alert resolved
    after = a_moment_later()
    assert alerts_at(redis_client, before_any) == []
    (g1,) = alerts_at(redis_client, while_g1)
    assert (g1["rule"], g1["state"], g1["severity"], g1["zone_id"], g1["entity_id"]) == \
        ("rain", "firing", "critical", "z1", "g1")
    assert g1["labels"] == {"public": True} and g1["since"].endswith("Z")
    assert sorted((a["entity_id"], a["severity"]) for a in alerts_at(redis_client, both)) == [("g1", "warning"),
                                                                                           ("g2", "warning")]
    assert alerts_at(redis_client, after) == []
    assert alerts.active() == []  # (live agrees)


def test_the_stage_at_a_moment_is_the_last_recorded_by_then(redis_client):
    alerts = AlertStore(redis_client)
    before_any = a_moment_later()
    alerts.apply(evaluate([RAIN], {}, Readings.build(GAUGES, ["z1", "z2"], {}, None, None, None), time.time()), {},
                 StageDecision(level=3, reasons=["test"], alert_ids=[]), time.time())
    at_three = a_moment_later()
    assert stage_at(redis_client, before_any)["level"] == 1
    assert stage_at(redis_client, at_three)["level"] == 3 and stage_at(redis_client, at_three)["since"].endswith("Z")
