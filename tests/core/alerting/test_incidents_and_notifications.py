"""Incidents group nearby alerts; an incident transition — not each alert — is notified, through
the durable outbox; reminders and escalation for unacknowledged critical alerts; silences keep
notifications out without losing the alert."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.engine import evaluate
from opscentre.core.alerting.incidents import group
from opscentre.core.alerting.readings import Readings
from opscentre.core.alerting.reminders import due
from opscentre.core.alerting.rules import AlertSeverity, Rule
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.notify import log_channel, outbox
from opscentre.core.settings import load_settings
from opscentre.core.store import Store
from opscentre.workers.evaluation import evaluate_city

RIO = Path(__file__).resolve().parents[3] / "opscentre" / "cities" / "rio" / "demo.yaml"
T0 = 1_780_000_000.0
RAIN = Rule.model_validate({"id": "rain", "kind": "rain_mm", "levels": {"warning": 6.25, "critical": 12.5},
                            "summary": "{severity} rain at {where}"})


@pytest.fixture(scope="module")
def rio():
    return load_settings(RIO)


def zones_apart(rio):
    """Copacabana, a neighbour of it (Leme), and a bairro far from both."""
    neighbours = rio.zones.neighbours
    copacabana = next(z for z, n in rio.zones.name_by_id.items() if n == "Copacabana")
    leme = next(z for z in neighbours[copacabana] if rio.zones.name_by_id[z] == "Leme")
    far = next(z for z in rio.zones.ids if z not in neighbours[copacabana] | neighbours[leme] | {copacabana, leme})
    return copacabana, leme, far


def gauges(rio, zone_ids):
    return {f"g{i}": {"entity_type": "rain_gauge", "zone_id": z, "source": "s", "name": f"gauge in {z}"}
            for i, z in enumerate(zone_ids)}


def step(rio, entities, values, alerts, incidents, t):
    data = Readings.build(entities, rio.zones.ids, {"rain_mm": {e: (v, t, "s") for e, v in values.items()}})
    result = evaluate([RAIN], alerts, data, t)
    update = group(result.transitions, result.alerts, incidents, rio.zones.neighbours, 7200, t)
    return result.alerts, {**incidents, **update.incidents}, update.notifications


def test_neighbouring_zones_share_one_incident_and_a_far_one_gets_its_own(rio):
    copacabana, leme, far = zones_apart(rio)
    entities = gauges(rio, [copacabana, leme, far])
    alerts, incidents, first = step(rio, entities, {"g0": 7.0, "g1": 0.0, "g2": 0.0}, {}, {}, T0)
    alerts, incidents, second = step(rio, entities, {"g0": 7.0, "g1": 8.0, "g2": 0.0}, alerts, incidents, T0 + 300)
    alerts, incidents, third = step(rio, entities, {"g0": 7.0, "g1": 8.0, "g2": 9.0}, alerts, incidents, T0 + 600)
    assert [n["change"] for n in first] == ["opened"]
    assert second == []  # Leme joined Copacabana's incident: nothing new to say
    assert [n["change"] for n in third] == ["opened"]
    by_zone = {tuple(i.zone_ids): i for i in incidents.values()}
    assert sorted(by_zone) == sorted([tuple(sorted([copacabana, leme])), (far,)])
    shared = by_zone[tuple(sorted([copacabana, leme]))]
    assert len(shared.fingerprints) == 2 and [s["change"] for s in shared.timeline] == ["firing", "firing"]


def test_an_incident_is_notified_when_it_escalates_and_when_its_last_alert_resolves(rio):
    copacabana, leme, _ = zones_apart(rio)
    entities = gauges(rio, [copacabana, leme])
    alerts, incidents, _ = step(rio, entities, {"g0": 7.0, "g1": 7.0}, {}, {}, T0)
    alerts, incidents, escalated = step(rio, entities, {"g0": 13.0, "g1": 7.0}, alerts, incidents, T0 + 300)
    alerts, incidents, partly = step(rio, entities, {"g0": 0.0, "g1": 7.0}, alerts, incidents, T0 + 600)
    alerts, incidents, over = step(rio, entities, {"g0": 0.0, "g1": 0.0}, alerts, incidents, T0 + 900)
    assert [(n["change"], n["severity"]) for n in escalated] == [("escalated", "critical")]
    assert partly == []
    assert [n["change"] for n in over] == ["resolved"]
    (incident,) = incidents.values()
    assert incident.state == "resolved" and incident.resolved_at == T0 + 900


def test_an_unacknowledged_critical_alert_is_reminded_and_escalated_once_and_an_ack_stops_both(rio):
    entities = gauges(rio, [rio.zones.ids[0]])
    alerts, _, _ = step(rio, entities, {"g0": 13.0}, {}, {}, T0)
    reminded: dict = {}
    kinds = []
    _, reminded = due(alerts, {}, reminded, 1800, 3600, AlertSeverity.CRITICAL, T0)  # first seen unacknowledged
    for minutes in (10, 30, 45, 60, 61, 90):
        notices, reminded = due(alerts, {}, reminded, 1800, 3600, AlertSeverity.CRITICAL, T0 + 60 * minutes)
        kinds.append([(n["kind"], n["recipients"]) for n in notices])
    assert kinds == [[], [("reminder", "primary")], [], [("escalation", "secondary"), ("reminder", "primary")], [],
                     [("reminder", "primary")]]
    assert reminded[alert_id(alerts)]["count"] == 3
    (alert,) = alerts.values()
    notices, reminded = due(alerts, {alert.id: {"by": "zelda"}}, reminded, 1800, 3600, AlertSeverity.CRITICAL,
                            T0 + 60 * 200)
    assert notices == [] and reminded == {}


def alert_id(alerts) -> str:
    (alert,) = alerts.values()
    return alert.id


def write_rain(store, rio, values: dict[str, float], t: float):
    entities = [Entity(entity_id=e, entity_type="rain_gauge", source="test", zone_id=z,
                       geometry={"type": "Point", "coordinates": list(rio.zones.representative_points[
                           rio.zones.ids.index(z)])})
                for e, (z, _) in values.items()]
    batch = ObservationBatch(source="test", kind="rain_mm", entity_ids=list(values),
                             values=[v for _, v in values.values()], observed_at=[t] * len(values))
    store.write_poll("test", entities, [batch], {"status": "ok"}, {"polls": 1}, retention_s=86400, wall_now=t)


def test_notifications_go_through_the_durable_outbox_to_the_log_channel_at_least_once(rio, redis_client, caplog,
                                                                                       monkeypatch):
    settings = rio.model_copy(update={"rules": [RAIN]})
    copacabana, leme, _ = zones_apart(rio)
    store = Store(redis_client)
    now = time.time()
    write_rain(store, rio, {"g0": (copacabana, 7.0), "g1": (leme, 8.0)}, now)
    evaluate_city(settings, store, now=now)
    (notification,) = outbox.recent(redis_client)
    assert notification["kind"] == "incident" and notification["change"] == "opened"
    assert set(notification["zone_ids"]) == {copacabana, leme} and notification["alerts"] == 2
    # a consumer that read the entry and died before acknowledging it: the entry is not lost
    outbox.read(redis_client, "log", "dead-worker")
    monkeypatch.setattr(outbox, "CLAIM_AFTER_MS", 0)
    with caplog.at_level(logging.WARNING, logger="opscentre.notify"):
        assert log_channel.deliver(redis_client, "worker-2") == 1
    assert "WARNING incident" in caplog.text and "opened" in caplog.text
    assert log_channel.deliver(redis_client, "worker-2") == 0  # delivered and acknowledged: once per channel
    state = AlertStore(redis_client)
    (incident,) = state.incidents().values()
    assert incident.state == "open" and len(incident.fingerprints) == 2


def test_a_silenced_incident_is_kept_out_of_the_outbox_but_its_alerts_still_fire_and_resolve(rio, redis_client):
    settings = rio.model_copy(update={"rules": [RAIN]})
    copacabana, _, _ = zones_apart(rio)
    store = Store(redis_client)
    alerts = AlertStore(redis_client)
    now = time.time()
    alerts.add_silence({"matchers": [{"name": "zone_id", "op": "=", "value": copacabana}], "starts_at": now - 1,
                        "ends_at": now + 3600, "comment": "drill"}, "zelda.ops", now)
    write_rain(store, rio, {"g0": (copacabana, 7.0)}, now)
    evaluate_city(settings, store, now=now)
    assert outbox.recent(redis_client) == []
    assert [(a["state"], len(a["silenced_by"])) for a in alerts.active()] == [("firing", 1)]
    write_rain(store, rio, {"g0": (copacabana, 0.0)}, now + 60)
    evaluate_city(settings, store, now=now + 60)
    assert alerts.active() == [] and outbox.recent(redis_client) == []
    actions = [e["action"] for e in alerts.audit()]
    assert actions.count("notification-silenced") == 2 and "firing" in actions and "resolved" in actions
    assert redis_client.xlen(keys.OUTBOX) == 0
