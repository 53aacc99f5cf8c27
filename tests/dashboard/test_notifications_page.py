"""The notifications page over real HTTP (a real Redis): deliveries by state with masked
recipients and local times, dead letters and the mass sends awaiting approval; a viewer sees it
all but a crafted Retry or Approve is refused (so is an operator's Retry: dead letters are a
supervisor's), a supervisor's Retry queues a dead letter again, and a send needs two supervisors."""

from __future__ import annotations

import time

import orjson
import pytest
from test_entity_page import by_id
from test_pages import PASSWORD, layout_for, sign_in

from opscentre.core import operators
from opscentre.core.notify import deliveries
from opscentre.core.notify.deliveries import Event, State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.roles import Role
from opscentre.dashboard import ids
from opscentre.dashboard.pages.notifications import delivery_rows, recipient
from opscentre.i18n import translator


@pytest.fixture
def sends(store):
    redis, now = store.redis, time.time()
    deliveries_ = DeliveryStore(redis)
    dead = deliveries.new(notification_id="n-1", transition="opened", channel="sms", recipient_id="r-1",
                          target_masked="+55 21 9****-**21", payload="Chuva forte", now=now - 600, incident_id="i-7")
    hook = deliveries.new(notification_id="n-1", transition="opened", channel="webhook", recipient_id="defesa-civil",
                          target_masked="https://partner.example/hook", payload={"a": 1}, now=now - 600,
                          incident_id="i-7")
    mass = [deliveries.new(notification_id="n-mass", transition="opened", channel="sms", recipient_id=f"m-{i}",
                           target_masked=f"+55 21 9****-**{i:02d}", payload="x", now=now - 300, incident_id="i-8",
                           needs_approval=True) for i in range(3)]
    deliveries_.add([dead, hook, *mass])
    deliveries_.record(dead.id, Event.CLAIM, now - 500)
    deliveries_.record(dead.id, Event.FAILED, now - 499, error="21610 unsubscribed", retryable=False)
    for name, role in (("viewer.user", Role.VIEWER), ("operator.user", Role.OPERATOR),
                       ("sup.ana", Role.SUPERVISOR), ("sup.bia", Role.SUPERVISOR)):
        operators.add(redis, name, PASSWORD, role)
    return {"store": deliveries_, "dead": dead.id, "hook": hook.id}


def action_body(session, live, result_id: str, button_id: str, pick_id: str, value: str) -> dict:
    """A press of the approvals form's button (components/approvals.py), as the browser sends it."""
    dependencies = session.get(f"{live.url}/_dash-dependencies", timeout=30).json()
    output = next(d["output"] for d in dependencies if d["output"].startswith(f"..{result_id}.children..."))
    outputs = [{"id": part.split(".")[0], "property": part.split(".", 1)[1]}
               for part in output.strip(".").split("...")]
    return {"output": output, "outputs": outputs, "inputs": [{"id": button_id, "property": "n_clicks", "value": 1}],
            "state": [{"id": pick_id, "property": "value", "value": value}],
            "changedPropIds": [f"{button_id}.n_clicks"]}


def test_rows_show_a_webhook_by_name_and_a_phone_masked_newest_first(rio_settings, sends):
    got = sends["store"].get_many([sends["dead"], sends["hook"]])
    assert recipient(got[1]) == "defesa-civil · https://partner.example/hook"
    rows = delivery_rows(got, rio_settings.tz, translator("en"))
    assert [r["id"] for r in rows] == [sends["dead"], sends["hook"]]  # the dead letter changed last
    assert rows[0]["recipient"] == "+55 21 9****-**21" and rows[0]["state_text"] == "dead letter"
    assert rows[0]["when"].endswith("(UTC-03)")  # the city's time


def test_a_viewer_sees_the_lists_but_a_crafted_retry_or_approve_is_refused(live, sends):
    session = sign_in(live, "viewer.user")
    page = layout_for(session, live, "/notifications")
    dead_table = orjson.dumps(by_id(page, ids.NOTIFY_DEAD)).decode()
    assert f'"data-delivery":"{sends["dead"]}"' in dead_table and "21610 unsubscribed" in dead_table
    assert sends["hook"] not in dead_table
    assert '"data-notification":"n-mass"' in orjson.dumps(by_id(page, ids.NOTIFY_APPROVALS)).decode()
    recent = orjson.dumps(by_id(page, ids.NOTIFY_RECENT)).decode()
    assert "defesa-civil · https://partner.example/hook" in recent and "+55 21 9****-**21" in recent
    assert by_id(page, ids.RETRY_BUTTON)["disabled"] is True and by_id(page, ids.APPROVE_BUTTON)["disabled"] is True
    retry = action_body(session, live, ids.RETRY_RESULT, ids.RETRY_BUTTON, ids.DEAD_LETTERS, sends["dead"])
    approve = action_body(session, live, ids.APPROVE_RESULT, ids.APPROVE_BUTTON, ids.APPROVALS, "n-mass")
    for who in ("viewer.user", "operator.user"):
        user = sign_in(live, who)
        refused = user.post(f"{live.url}/_dash-update-component", json=retry, timeout=10)
        assert refused.status_code == 403 and refused.json()["action"] == "retry"
        assert user.post(f"{live.url}/_dash-update-component", json=approve, timeout=10).status_code == 403
    assert sends["store"].get(sends["dead"]).state is State.DEAD
    assert all(d.state is State.AWAITING_APPROVAL and not d.approvals for d in sends["store"].by_notification("n-mass"))


def test_a_supervisors_retry_queues_the_dead_letter_and_a_send_needs_two_supervisors(live, sends):
    ana = sign_in(live, "sup.ana")
    retry = action_body(ana, live, ids.RETRY_RESULT, ids.RETRY_BUTTON, ids.DEAD_LETTERS, sends["dead"])
    response = ana.post(f"{live.url}/_dash-update-component", json=retry, timeout=30)
    assert response.status_code == 200 and "sup.ana" in response.text
    again = sends["store"].get(sends["dead"])
    assert again.state is State.QUEUED and again.attempts == 0
    assert sends["dead"] not in orjson.dumps(by_id(layout_for(ana, live, "/notifications"), ids.NOTIFY_DEAD)).decode()
    approve = action_body(ana, live, ids.APPROVE_RESULT, ids.APPROVE_BUTTON, ids.APPROVALS, "n-mass")
    assert ana.post(f"{live.url}/_dash-update-component", json=approve, timeout=30).status_code == 200
    assert all(d.state is State.AWAITING_APPROVAL for d in sends["store"].by_notification("n-mass"))
    twice = ana.post(f"{live.url}/_dash-update-component", json=approve, timeout=30)
    assert "second supervisor" in twice.text or "segundo" in twice.text
    bia = sign_in(live, "sup.bia")
    assert bia.post(f"{live.url}/_dash-update-component", json=approve, timeout=30).status_code == 200
    assert all(d.state is State.QUEUED for d in sends["store"].by_notification("n-mass"))


def test_the_recent_list_filters_by_state(live, sends):
    session = sign_in(live, "viewer.user")
    dependencies = session.get(f"{live.url}/_dash-dependencies", timeout=30).json()
    output = next(d["output"] for d in dependencies if d["output"].startswith(f"..{ids.NOTIFY_COUNTS}.children..."))
    outputs = [{"id": part.split(".")[0], "property": part.split(".", 1)[1]} for part in output.strip(".").split("...")]

    def recent(state: str) -> str:
        body = {"output": output, "outputs": outputs,
                "inputs": [{"id": ids.NOTIFY_TICK, "property": "n_intervals", "value": 1},
                           {"id": ids.NOTIFY_STATE, "property": "value", "value": state},
                           {"id": ids.RETRY_RESULT, "property": "children", "value": None},
                           {"id": ids.APPROVE_RESULT, "property": "children", "value": None}],
                "state": [{"id": ids.NOTIFY_HELD, "property": "data", "value": None}],
                "changedPropIds": [f"{ids.NOTIFY_STATE}.value"]}
        response = session.post(f"{live.url}/_dash-update-component", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return orjson.dumps(response.json()["response"][ids.NOTIFY_RECENT]["children"]).decode()

    dead = recent("dead")
    assert sends["dead"] in dead and dead.count('"data-delivery"') == 1
    waiting = recent("awaiting_approval")
    assert waiting.count('"data-delivery"') == 3 and sends["dead"] not in waiting
    everything = recent("all")
    assert everything.count('"data-delivery"') == 5
