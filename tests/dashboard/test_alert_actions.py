"""The alert actions beyond acknowledge and resolve, over real HTTP with a real Redis: escalate (the
secondary recipients told now, once: the reminders do not escalate it again) and silence in a daily
window (a schedule in the city's time zone; a malformed window is refused and nothing is stored)."""

from __future__ import annotations

import time

import orjson
from test_roles import ALERT_ID, callback_body, city, sign_in  # noqa: F401 (city: the fixture)

from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting import reminders
from opscentre.core.alerting.rules import AlertSeverity
from opscentre.dashboard import ids


def test_an_operator_escalates_an_alert_once_to_the_secondary_recipients(live, city):  # noqa: F811
    session = sign_in(live, "operator.user")
    body = callback_body(session, live, ids.ACK_ESCALATE, {ids.ACK_ALERT: ALERT_ID, ids.ACK_NOTE: "needs Defesa Civil"})
    response = session.post(f"{live.url}/_dash-update-component", json=body, timeout=10)
    assert response.status_code == 200 and "operator.user" in response.text
    (entry,) = city.redis.xrange(keys.OUTBOX)
    notice = orjson.loads(entry[1][b"d"])
    assert (notice["kind"], notice["recipients"], notice["alert_id"], notice["by"]) == \
        ("escalation", "secondary", ALERT_ID, "operator.user")
    alerts = AlertStore(city.redis)
    assert [e["action"] for e in alerts.audit()][-1] == "escalated-by-hand"
    # the reminders see it escalated: no second escalation when its time comes
    notices, _state = reminders.due(alerts.alerts(), alerts.acks(), alerts.reminded(), every_s=0, escalate_after_s=1,
                                    min_severity=AlertSeverity.WARNING, now=time.time() + 3600)
    assert [n for n in notices if n["kind"] == "escalation"] == []


def test_a_silence_in_a_daily_window_is_stored_as_a_schedule_in_the_citys_time(live, city, rio_settings):  # noqa: F811
    session = sign_in(live, "operator.user")
    values = {ids.ACK_ALERT: ALERT_ID, ids.ACK_SILENCE_FOR: "daily", ids.ACK_NOTE: "nightly maintenance",
              ids.ACK_SILENCE_DAILY: "25:00-03:00"}
    refused = session.post(f"{live.url}/_dash-update-component", json=callback_body(session, live, ids.ACK_SILENCE,
                                                                                       values), timeout=10)
    assert refused.status_code == 200 and "HH:MM-HH:MM" in refused.text
    assert AlertStore(city.redis).silences() == []
    values[ids.ACK_SILENCE_DAILY] = "01:00-03:00"
    done = session.post(f"{live.url}/_dash-update-component", json=callback_body(session, live, ids.ACK_SILENCE,
                                                                                    values), timeout=10)
    assert done.status_code == 200 and "01:00-03:00" in done.text
    (silence,) = AlertStore(city.redis).silences()
    assert silence["schedule"] == {"daily": "01:00-03:00", "timezone": rio_settings.city.timezone}
    assert silence["ends_at"] is None and silence["created_by"] == "operator.user"
