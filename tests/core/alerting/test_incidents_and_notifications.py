"""Incidents group nearby alerts; an incident transition — not each alert — is notified, through
the durable outbox; reminders and escalation for unacknowledged critical alerts; silences keep
notifications out without losing the alert."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson
import pytest

from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.engine import evaluate
from opscentre.core.alerting.incidents import Incident, group
from opscentre.core.alerting.lifecycle import Alert, AlertState, Change, Transition
from opscentre.core.alerting.readings import Readings
from opscentre.core.alerting.reminders import due
from opscentre.core.alerting.rules import AlertSeverity, Rule
from opscentre.core.alerting.stage import StageCriterion, StageLevel, StageSettings
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


def test_neighbouring_zones_share_one_incident_a_far_one_gets_its_own_and_each_new_zone_is_told_once(rio):
    copacabana, leme, far = zones_apart(rio)
    entities = gauges(rio, [copacabana, leme, far])
    alerts, incidents, first = step(rio, entities, {"g0": 7.0, "g1": 0.0, "g2": 0.0}, {}, {}, T0)
    alerts, incidents, second = step(rio, entities, {"g0": 7.0, "g1": 8.0, "g2": 0.0}, alerts, incidents, T0 + 300)
    alerts, incidents, third = step(rio, entities, {"g0": 7.0, "g1": 8.0, "g2": 9.0}, alerts, incidents, T0 + 600)
    assert [(n["change"], n["trigger_zone_ids"]) for n in first] == [("opened", [copacabana])]
    # Leme joined Copacabana's incident: one notice, for Leme alone (Copacabana was told already)
    assert [(n["change"], n["trigger_zone_ids"], n["zone_ids"]) for n in second] == [
        ("spread", [leme], sorted([copacabana, leme]))]
    assert [(n["change"], n["trigger_zone_ids"]) for n in third] == [("opened", [far])]
    by_zone = {tuple(i.zone_ids): i for i in incidents.values()}
    assert sorted(by_zone) == sorted([tuple(sorted([copacabana, leme])), (far,)])
    shared = by_zone[tuple(sorted([copacabana, leme]))]
    assert len(shared.fingerprints) == 2 and [s["change"] for s in shared.timeline] == ["firing", "firing"]
    assert shared.notified == {copacabana: AlertSeverity.WARNING, leme: AlertSeverity.WARNING}
    _, _, steady = step(rio, entities, {"g0": 7.0, "g1": 8.0, "g2": 9.0}, alerts, incidents, T0 + 900)
    assert steady == []


def test_an_incident_is_notified_when_it_escalates_and_when_its_last_alert_resolves(rio):
    copacabana, leme, _ = zones_apart(rio)
    entities = gauges(rio, [copacabana, leme])
    alerts, incidents, opened = step(rio, entities, {"g0": 7.0, "g1": 7.0}, {}, {}, T0)
    alerts, incidents, escalated = step(rio, entities, {"g0": 13.0, "g1": 7.0}, alerts, incidents, T0 + 300)
    alerts, incidents, partly = step(rio, entities, {"g0": 0.0, "g1": 7.0}, alerts, incidents, T0 + 600)
    alerts, incidents, over = step(rio, entities, {"g0": 0.0, "g1": 0.0}, alerts, incidents, T0 + 900)
    assert [(n["trigger_zone_ids"], n["zone_severity"]) for n in opened] == [
        (sorted([copacabana, leme]), {copacabana: "warning", leme: "warning"})]
    assert [(n["change"], n["severity"], n["trigger_zone_ids"], n["rules"]) for n in escalated] == [
        ("escalated", "critical", [copacabana], ["rain"])]
    assert partly == []
    # the end goes to every zone that was told, at the level it was told
    assert [(n["change"], n["zone_severity"], n["trigger_severity"]) for n in over] == [
        ("resolved", {copacabana: "critical", leme: "warning"}, "critical")]
    (incident,) = incidents.values()
    assert incident.state == "resolved" and incident.resolved_at == T0 + 900


def test_an_escalation_back_to_a_level_its_zone_was_already_told_is_not_notified_again(rio):
    copacabana, _, _ = zones_apart(rio)
    entities = gauges(rio, [copacabana])
    alerts, incidents, _ = step(rio, entities, {"g0": 13.0}, {}, {}, T0)
    alerts, incidents, down = step(rio, entities, {"g0": 7.0}, alerts, incidents, T0 + 300)
    alerts, incidents, up_again = step(rio, entities, {"g0": 13.0}, alerts, incidents, T0 + 600)
    assert down == [] and up_again == []
    (incident,) = incidents.values()
    assert [s["change"] for s in incident.timeline] == ["firing", "de-escalated", "escalated"]


def forecast_alert(zone_id: str, severity: str, lead_s: float, t: float) -> Alert:
    fingerprint = f"rain_forecast_48h|zone:{zone_id}"
    return Alert(id=f"a-{zone_id}", fingerprint=fingerprint, rule="rain_forecast_48h", key=f"zone:{zone_id}",
                 state=AlertState.FIRING, severity=AlertSeverity(severity), value=30.0, where=f"zone {zone_id}",
                 zone_id=zone_id, labels={"domain": "weather", "public": True}, lead_time_s=lead_s,
                 started_at=t, since=t, fired_at=t, updated_at=t)


def test_a_forecast_for_saude_in_an_incident_grown_to_campo_grande_names_saude_alone_with_its_lead_time(rio):
    by_name = {n: z for z, n in rio.zones.name_by_id.items()}
    saude, campo_grande = by_name["Saúde"], by_name["Campo Grande"]
    union = sorted(rio.zones.ids[:66] + [saude, campo_grande])
    assert len(set(union)) >= 67
    in_campo_grande = forecast_alert(campo_grande, "critical", 3600, T0)
    grown = Incident(id="i-storm", severity=AlertSeverity.CRITICAL, zone_ids=sorted(set(union)),
                     fingerprints=[in_campo_grande.fingerprint], opened_at=T0, updated_at=T0,
                     notified={z: AlertSeverity.CRITICAL for z in union if z != saude})
    alert = forecast_alert(saude, "warning", 3 * 3600, T0 + 60)
    transition = Transition(alert_id=alert.id, fingerprint=alert.fingerprint, rule=alert.rule, change=Change.FIRING,
                            at=T0 + 60, state_before=None, state_after=AlertState.FIRING, severity_before=None,
                            severity_after=AlertSeverity.WARNING, value=30.0, zone_id=saude)
    alerts = {alert.fingerprint: alert, in_campo_grande.fingerprint: in_campo_grande}
    update = group([transition], alerts, {grown.id: grown}, rio.zones.neighbours, 7200, T0 + 60)
    (notice,) = update.notifications
    assert notice["change"] == "spread" and notice["incident_id"] == "i-storm"
    assert notice["trigger_zone_ids"] == [saude] and campo_grande in notice["zone_ids"]
    assert (notice["trigger_severity"], notice["severity"]) == ("warning", "critical")
    assert notice["rules"] == ["rain_forecast_48h"] and notice["lead_time_s"] == 3 * 3600
    assert notice["public"] is True and notice["domains"] == ["weather"]
    assert [(a["alert_id"], a["lead_time_s"]) for a in notice["trigger_alerts"]] == [(alert.id, 3 * 3600)]


def test_an_incident_stored_before_zones_were_tracked_counts_its_zones_as_told_its_severity():
    stored = {"id": "i-old", "severity": "warning", "zone_ids": ["024", "023"], "fingerprints": [],
              "opened_at": T0, "updated_at": T0}
    incident = Incident.model_validate_json(orjson.dumps(stored))
    assert incident.notified == {"024": AlertSeverity.WARNING, "023": AlertSeverity.WARNING}
    assert Incident.model_validate_json(incident.model_dump_json()).notified == incident.notified


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


def test_a_stage_change_is_put_in_the_outbox_with_the_stage_record_and_a_steady_stage_is_not(rio, redis_client):
    stage = StageSettings(levels=[StageLevel(level=3, any_of=[StageCriterion(rule="rain", min_severity="warning")])],
                          hold_down=0)
    settings = rio.model_copy(update={"rules": [RAIN], "stage": stage})
    copacabana, _, _ = zones_apart(rio)
    store, alerts = Store(redis_client), AlertStore(redis_client)
    now = time.time()

    def stage_notices():
        return [(n["level"], n["previous"], n["name"]) for n in reversed(outbox.recent(redis_client, 100))
                if n["kind"] == "stage"]

    evaluate_city(settings, store, now=now)
    assert stage_notices() == []  # a fresh centre at stage 1: nothing changed
    write_rain(store, rio, {"g0": (copacabana, 7.0)}, now)
    evaluate_city(settings, store, now=now)
    evaluate_city(settings, store, now=now + 15)
    assert stage_notices() == [(3, 1, "attention")] and alerts.stage()["level"] == 3
    write_rain(store, rio, {"g0": (copacabana, 0.0)}, now + 30)
    for i in range(3):
        evaluate_city(settings, store, now=now + 60 + i)
    assert stage_notices() == [(3, 1, "attention"), (2, 3, "mobilisation"), (1, 2, "normal")]
    (stage_3,) = [n for n in outbox.recent(redis_client, 100) if n["kind"] == "stage" and n["level"] == 3]
    assert stage_3["at"] == now and stage_3["manual"] is False and any("rain" in r for r in stage_3["reasons"])
