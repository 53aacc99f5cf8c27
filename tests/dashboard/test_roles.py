"""Roles on the server: for each write the console offers and each role, a crafted POST to Dash's
/_dash-update-component over real HTTP (a real Redis): the roles that may succeed; the others get a
403, an audit entry, and nothing changes in Redis."""

from __future__ import annotations

import time

import pytest
import requests
from city_seed import alert_record

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.notify.deliveries import Delivery, State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.roles import MINIMUM, Action, Role, allows
from opscentre.dashboard import ids
from opscentre.dashboard.roles import guarded_action

PASSWORD = "a long test password"
ALERT_ID = "a-77"
NOTIFICATION = "n-mass-1"


def sign_in(live, username: str, password: str = PASSWORD) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{live.url}/login", data={"username": username, "password": password}, timeout=10,
                            allow_redirects=False)
    assert response.status_code == 302, response.text
    return session


def callback_body(session, live, button: str, states: dict[str, object]) -> dict:
    """What the browser would POST for a click on `button`, from the app's own dependency list."""
    dependencies = session.get(f"{live.url}/_dash-dependencies", timeout=10).json()
    dep = next(d for d in dependencies if d["inputs"][0]["id"] == button)
    parts = dep["output"].strip(".").split("...") if dep["output"].startswith("..") else [dep["output"]]
    outputs = [{"id": p.split(".", 1)[0], "property": p.split(".", 1)[1]} for p in parts]
    return {
        "output": dep["output"],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [{"id": button, "property": "n_clicks", "value": 1}],
        "state": [{"id": s["id"], "property": s["property"], "value": states[s["id"]]} for s in dep["state"]],
        "changedPropIds": [f"{button}.n_clicks"],
    }


ACTIONS = {  # action -> (button, its form's values)
    Action.ACK: (ids.ACK_BUTTON, {ids.ACK_ALERT: ALERT_ID, ids.ACK_NOTE: "pumped the underpass"}),
    Action.RESOLVE: (ids.ACK_RESOLVE, {ids.ACK_ALERT: ALERT_ID, ids.ACK_NOTE: "water gone"}),
    Action.SILENCE: (ids.ACK_SILENCE, {ids.ACK_ALERT: ALERT_ID, ids.ACK_SILENCE_FOR: "4h", ids.ACK_NOTE: "known",
                                       ids.ACK_SILENCE_DAILY: ""}),
    Action.ESCALATE: (ids.ACK_ESCALATE, {ids.ACK_ALERT: ALERT_ID, ids.ACK_NOTE: "the underpass floods again"}),
    Action.APPROVE: (ids.APPROVE_BUTTON, {ids.APPROVALS: NOTIFICATION}),
    Action.RETRY: (ids.RETRY_BUTTON, {ids.DEAD_LETTERS: "d-dead"}),
}
# (Rio's console speaks pt-BR, the city's language)
SUCCESS_TEXT = {Action.ACK: "Reconhecido por", Action.RESOLVE: "Resolvido por", Action.SILENCE: "Silenciado por 4h por",
                Action.ESCALATE: "Escalado por",
                Action.APPROVE: "aprovadas por", Action.RETRY: "Reenfileirada por"}


@pytest.fixture
def city(store, rio_settings):
    """One open alert and a mass send awaiting approval, as the engine and the notifier leave them."""
    AlertStore(store.redis).put([alert_record(ALERT_ID, "firing", zone_id=rio_settings.zones.ids[0],
                                              severity="critical")])
    now = time.time()
    DeliveryStore(store.redis).add([
        Delivery(id=f"d-{i}", notification_id=NOTIFICATION, transition="opened", channel="sms", recipient_id=f"r{i}",
                 target_masked="+55 21 9****-**0{i}", idempotency_key=f"sms|{NOTIFICATION}|opened|r{i}",
                 payload='"Alerta"', state=State.AWAITING_APPROVAL, incident_id="i-1", created_at=now, updated_at=now)
        for i in range(3)] + [
        Delivery(id="d-dead", notification_id="n-2", transition="opened", channel="sms", recipient_id="r9",
                 target_masked="+55 21 9****-**09", idempotency_key="sms|n-2|opened|r9", payload='"Alerta"',
                 state=State.DEAD, attempts=8, last_error="gateway down", created_at=now, updated_at=now)])
    for role in Role:
        operators.add(store.redis, f"{role.value}.user", PASSWORD, role)
    return store


def snapshot(redis) -> tuple:
    """Everything the console's writes could change (the audit stream aside)."""
    deliveries = tuple(sorted((k, tuple(sorted(redis.hgetall(k).items()))) for k in redis.keys(f"{keys.PREFIX}:delivery:*")))
    return (redis.hgetall(keys.ALERT_ACKS), redis.hgetall(keys.ALERTS), redis.hgetall(keys.SILENCES), deliveries,
            redis.hgetall(keys.ALERT_REMINDERS), redis.xlen(keys.OUTBOX))


def changed(redis, action: Action, username: str) -> bool:
    alerts = AlertStore(redis)
    if action is Action.ACK:
        return alerts.acks().get(ALERT_ID, {}).get("by") == username
    if action is Action.RESOLVE:
        return alerts.find(ALERT_ID).state.value == "resolved"
    if action is Action.SILENCE:
        return [s["created_by"] for s in alerts.silences()] == [username]
    if action is Action.RETRY:
        return DeliveryStore(redis).get("d-dead").state is State.QUEUED
    if action is Action.ESCALATE:
        return alerts.reminded()[ALERT_ID]["escalated"] is True and redis.xlen(keys.OUTBOX) == 1
    return all(d.approvals == (username,) for d in DeliveryStore(redis).by_notification(NOTIFICATION))


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
@pytest.mark.parametrize("action", list(ACTIONS), ids=[a.value for a in ACTIONS])
def test_each_write_for_each_role_is_decided_on_the_server(live, city, action, role):
    redis = city.redis
    username = f"{role.value}.user"
    session = sign_in(live, username)
    button, values = ACTIONS[action]
    body = callback_body(session, live, button, values)
    before = snapshot(redis)

    anonymous = requests.post(f"{live.url}/_dash-update-component", json=body, timeout=10)
    assert anonymous.status_code == 401 and snapshot(redis) == before

    response = session.post(f"{live.url}/_dash-update-component", json=body, timeout=10)
    audit = list(AlertStore(redis).audit())
    if allows(role, action):
        assert response.status_code == 200, response.text
        assert SUCCESS_TEXT[action] in response.text and username in response.text
        assert changed(redis, action, username)
        assert not [e for e in audit if e["action"] == "refused"]
    else:
        assert response.status_code == 403, response.text
        reason = response.json()
        assert reason["action"] == action.value and reason["role"] == role.value
        assert f"needs the {MINIMUM[action].value} role" in reason["error"]
        assert snapshot(redis) == before  # nothing changed
        (refusal,) = [e for e in audit if e["action"] == "refused"]
        assert refusal["actor"] == username and refusal["subject"] == action.value
        assert refusal["after"]["role"] == role.value
        again = session.post(f"{live.url}/_dash-update-component", json=body, timeout=10)
        assert again.status_code == 403 and snapshot(redis) == before
        assert len([e for e in AlertStore(redis).audit() if e["action"] == "refused"]) == 1  # once a minute


def test_a_role_change_counts_from_the_next_click_and_a_disabled_user_is_out(live, city):
    redis = city.redis
    session = sign_in(live, "operator.user")
    button, values = ACTIONS[Action.ACK]
    body = callback_body(session, live, button, values)
    operators.set_role(redis, "operator.user", Role.VIEWER)  # demoted while signed in
    assert session.post(f"{live.url}/_dash-update-component", json=body, timeout=10).status_code == 403
    assert not AlertStore(redis).acks()
    operators.set_role(redis, "operator.user", Role.OPERATOR)
    assert session.post(f"{live.url}/_dash-update-component", json=body, timeout=10).status_code == 200
    operators.disable(redis, "operator.user")
    assert session.post(f"{live.url}/_dash-update-component", json=body, timeout=10).status_code == 401


def test_the_page_shows_the_role_and_disables_what_it_may_not_do(live, city):
    viewer = sign_in(live, "viewer.user").get(f"{live.url}/_dash-layout", timeout=30).text
    supervisor = sign_in(live, "supervisor.user").get(f"{live.url}/_dash-layout", timeout=30).text

    def disabled(layout: str, component_id: str) -> bool:
        at = layout.index(f'"id":"{component_id}"')
        start = layout.rfind('"props":{', 0, at)
        return '"disabled":true' in layout[start:layout.find("}", at)] or \
               '"disabled":true' in layout[at:layout.find("}", at)]

    for component_id in (ids.ACK_BUTTON, ids.ACK_RESOLVE, ids.ACK_SILENCE, ids.ACK_ESCALATE, ids.APPROVE_BUTTON,
                         ids.RETRY_BUTTON):
        assert disabled(viewer.replace(" ", ""), component_id), component_id
        assert not disabled(supervisor.replace(" ", ""), component_id), component_id
    assert '"viewer"' in viewer and '"supervisor"' in supervisor


def test_every_console_callback_that_writes_is_guarded(rio_settings, store):
    """A new callback must be classified: guarded with its action, or named here as read-only."""
    from flask import Flask

    from opscentre.dashboard.ops_app import create_ops_app

    read_only = {ids.MAP, ids.MAP_STATE, ids.STATUS_BAR, ids.ALERTS_PANEL, ids.INCIDENT_PANEL, ids.INCIDENT_PANEL_STATE,
                 ids.ACK_ALERT, ids.APPROVALS, ids.DEAD_LETTERS,
                 ids.STAGE_PENDING, ids.STAGE_PENDING_ID, ids.STAGE_CONFIRM, ids.STAGE_REJECT,  # another's request
                 ids.ATTENTION, ids.ATTENTION_STATE, ids.ATTENTION_LIVE,  # what this browser shows: redraws, digests, options
                 ids.PAGE, ids.PAGE_SHOWN, ids.QUEUE_EMPTY, ids.QUEUE_INCIDENTS,
                 ids.AUDIT_TABLE, ids.AUDIT_EXPORT, ids.FEEDS_TABLE, ids.FEEDS_STATE,  # pages/
                 ids.RECIPIENT_NAME, ids.RECIPIENT_PHONE, ids.RECIPIENT_ZONES, ids.RECIPIENT_ROLE,  # the form,
                 ids.RECIPIENT_LANG,  # filled with the recipient chosen (pages/recipients.py)
                 ids.WALL_STAGE, ids.WALL_STAGE_BAR, ids.WALL_SIDE, ids.WALL_STATE, ids.WALL_CYCLE,  # pages/wall.py
                 ids.REPLAY_LABEL, ids.REPLAY_SLIDER,  # components/replay_panel.py (reads the past)
                 ids.NOTIFY_COUNTS, ids.NOTIFY_RECENT, ids.NOTIFY_DEAD, ids.NOTIFY_APPROVALS, ids.NOTIFY_HELD,
                 ids.URL,  # pages/notifications.py's lists; pages/entity.py: a click on the map opens a page
                 ids.TICK}  # (its interval: faster while a big city's new version is built)
    dash_app = create_ops_app(rio_settings, store, True, Flask("roles-test"))
    guarded, unguarded_outputs = [], set()
    for output, spec in dash_app.callback_map.items():
        # (a clientside callback, in the browser, has no server function: it writes nothing stored)
        action = guarded_action(spec["callback"]) if "callback" in spec else None
        if action:
            guarded.append(action)
        else:
            unguarded_outputs |= {o.split(".")[0] for o in output.strip(".").split("...")}
    assert unguarded_outputs <= read_only, unguarded_outputs
    assert sorted(guarded) == sorted([Action.ACK, Action.RESOLVE, Action.SILENCE, Action.ESCALATE, Action.APPROVE,
                                      Action.RETRY,
                                      Action.STAGE,
                                      Action.USERS, Action.USERS,  # add; role, disable, enable, password
                                      Action.RECIPIENTS, Action.RECIPIENTS, Action.WEBHOOKS])
