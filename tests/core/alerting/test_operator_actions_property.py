"""Property (hypothesis), through a real Redis: acknowledgements and silences never lose an
alert — whatever operators do, the alert fires, escalates and resolves exactly as it would
without them; they only change who is told."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.rules import Rule
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.settings import load_settings
from opscentre.core.store import Store
from opscentre.workers.evaluation import evaluate_city

RIO = load_settings(Path(__file__).resolve().parents[3] / "opscentre" / "cities" / "rio" / "demo.yaml")
RULE = Rule.model_validate({"id": "rain", "kind": "rain_mm", "levels": {"warning": 6.25, "critical": 12.5},
                            "clear": {"warning": 5.0}, "keep_firing_for": "10m"})
SETTINGS = RIO.model_copy(update={"rules": [RULE]})
ZONE = RIO.zones.ids[0]
GAUGE = Entity(entity_id="g", entity_type="rain_gauge", source="test", zone_id=ZONE,
               geometry={"type": "Point", "coordinates": list(RIO.zones.representative_points[0])})


def play(client: redis.Redis, steps: list[tuple[float, str | None]]) -> list[tuple[str, str | None]]:
    """Store each value and evaluate; act as an operator where asked. Returns the engine's
    transitions as (change, severity) in order."""
    client.flushall()
    store, alerts = Store(client), AlertStore(client)
    t0 = time.time()
    for i, (value, action) in enumerate(steps):
        t = t0 + 300 * i
        batch = ObservationBatch(source="test", kind="rain_mm", entity_ids=["g"], values=[value], observed_at=[t])
        store.write_poll("test", [GAUGE] if i == 0 else [], [batch], {"status": "ok"}, {}, 86400, t)
        evaluate_city(SETTINGS, store, now=t)
        open_alerts = alerts.active()
        if action == "ack" and open_alerts:
            alerts.acknowledge(open_alerts[0]["id"], "zelda.ops", "on it", t)
        elif action == "silence":
            alerts.add_silence({"matchers": [{"name": "rule", "op": "=", "value": "rain"}], "starts_at": t,
                                "ends_at": t + 3600, "comment": ""}, "zelda.ops", t)
    return [(e["action"], (e["after"] or {}).get("severity")) for e in alerts.audit()
            if e["actor"] == "engine" and e["action"] not in ("stage-changed", "notification-silenced")]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from([0.0, 3.0, 5.5, 7.0, 13.0]), st.sampled_from([None, None, "ack",
                                                                                          "silence"])),
                min_size=2, max_size=12))
def test_acks_and_silences_never_change_what_the_alert_does(redis_server, steps):
    client = redis.Redis.from_url(redis_server.url)
    try:
        with_actions = play(client, steps + [(0.0, None)] * 3)  # then dry long enough to resolve
        without = play(client, [(value, None) for value, _ in steps] + [(0.0, None)] * 3)
    finally:
        client.close()
    assert with_actions == without
    if any(change == "firing" for change, _ in without):
        assert without[-1][0] == "resolved"  # every alert that fired has resolved
