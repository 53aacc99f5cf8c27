"""The console's stage control on the server, over real HTTP with a real Redis: a crafted POST of each
stage action for each role (viewer and operator refused with 403, audited, nothing changes;
supervisor and admin allowed), and the two-person rule through the console: stage 5 waits, the one
who asked cannot confirm, a second supervisor can, and every step is in the audit stream."""

from __future__ import annotations

import time

import pytest
import requests

from opscentre.core import keys, operators, stage_control
from opscentre.core.alert_store import AlertStore
from opscentre.core.roles import Action, Role, allows
from opscentre.dashboard import ids

PASSWORD = "a long test password"


def sign_in(live, username: str) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{live.url}/login", data={"username": username, "password": PASSWORD}, timeout=10,
                            allow_redirects=False)
    assert response.status_code == 302, response.text
    return session


def stage_body(session, live, button: str, level=None, note="", request_id="") -> dict:
    """What the browser POSTs for a click on one of the stage panel's buttons."""
    dependencies = session.get(f"{live.url}/_dash-dependencies", timeout=10).json()
    dep = next(d for d in dependencies if any(i["id"] == ids.STAGE_SET for i in d["inputs"]))
    parts = dep["output"].strip(".").split("...")
    values = {ids.STAGE_LEVEL: level, ids.STAGE_NOTE: note, ids.STAGE_PENDING_ID: request_id,
              ids.ATTENTION_STATE: {"firing": [], "ringing": [], "stage": 1, "stage_request": request_id or None}}
    return {
        "output": dep["output"],
        "outputs": [{"id": p.split(".", 1)[0], "property": p.split(".", 1)[1]} for p in parts],
        "inputs": [{"id": i["id"], "property": "n_clicks", "value": 1 if i["id"] == button else 0}
                   for i in dep["inputs"]],
        "state": [{"id": s["id"], "property": s["property"], "value": values[s["id"]]} for s in dep["state"]],
        "changedPropIds": [f"{button}.n_clicks"],
    }


def click(session, live, button: str, **form) -> requests.Response:
    return session.post(f"{live.url}/_dash-update-component", json=stage_body(session, live, button, **form),
                        timeout=10)


@pytest.fixture
def people(store):
    for role in Role:
        operators.add(store.redis, f"{role.value}.user", PASSWORD, role)
    operators.add(store.redis, "second.sup", PASSWORD, Role.SUPERVISOR)
    return store


def stage_keys(redis) -> tuple:
    return redis.get(keys.STAGE_OVERRIDE), redis.get(keys.STAGE_PENDING)


def result_of(response: requests.Response) -> str:
    return response.json()["response"][ids.STAGE_RESULT]["children"]


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_each_stage_action_for_each_role_is_decided_on_the_server(live, people, role):
    redis = people.redis
    alerts = AlertStore(redis)
    username = f"{role.value}.user"
    session = sign_in(live, username)
    now = time.time()
    alerts.change_stage(lambda o, p: stage_control.request(3, "second.sup", "drill", now, o, p), "second.sup", now)
    before = stage_keys(redis)
    anonymous = requests.post(f"{live.url}/_dash-update-component",
                              json=stage_body(session, live, ids.STAGE_SET, level=2, note="x"), timeout=10)
    assert anonymous.status_code == 401 and stage_keys(redis) == before
    for button, form in ((ids.STAGE_SET, {"level": 2, "note": "rain easing"}),
                         (ids.STAGE_CLEAR, {"note": "over"}),
                         (ids.STAGE_CONFIRM, {}), (ids.STAGE_REJECT, {})):
        response = click(session, live, button, **form)
        if allows(role, Action.STAGE):
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 403, (button, response.text)
            assert response.json()["action"] == "stage" and response.json()["role"] == role.value
            assert stage_keys(redis) == before  # nothing changed
    audit = list(alerts.audit())
    refusals = [e for e in audit if e["action"] == "refused"]
    if allows(role, Action.STAGE):
        assert not refusals
        mine = [e["action"] for e in audit if e["actor"] == username and e["subject"] == "stage"]
        assert mine == ["stage-override", "stage-change-requested", "stage-change-rejected"]
        assert alerts.stage_override()["level"] == 2 and alerts.stage_override()["by"] == username
        # the clear this user asked for is waiting: they cannot confirm it; they rejected (withdrew) it
        assert alerts.stage_pending() is None
    else:
        (refusal,) = refusals  # once a minute per user and action
        assert refusal["actor"] == username and refusal["subject"] == "stage"


def test_stage_5_from_the_console_waits_for_a_second_supervisor(live, people):
    redis = people.redis
    alerts = AlertStore(redis)
    ana = sign_in(live, "supervisor.user")
    response = click(ana, live, ids.STAGE_SET, level=5, note="landslides in three bairros")
    assert response.status_code == 200, response.text
    assert alerts.stage_override() is None
    pending = alerts.stage_pending()
    assert pending["level"] == 5 and pending["by"] == "supervisor.user"
    shown = response.json()["response"]
    assert shown[ids.STAGE_PENDING_ID]["data"] == pending["id"] and shown[ids.STAGE_CONFIRM]["disabled"] is True
    assert "supervisor.user" in shown[ids.STAGE_PENDING]["children"]
    # this screen's attention store now knows the request its panel shows (so its end moves the store)
    assert shown[ids.ATTENTION_STATE]["data"]["stage_request"] == pending["id"]

    # the one who asked cannot confirm, even with a crafted POST
    same = click(ana, live, ids.STAGE_CONFIRM, request_id=pending["id"])
    assert same.status_code == 200 and alerts.stage_override() is None and alerts.stage_pending()

    # another supervisor's console shows it with Confirm enabled, and confirms
    bia = sign_in(live, "second.sup")
    layout = bia.get(f"{live.url}/_dash-layout", timeout=30).text
    assert "landslides in three bairros" in layout
    response = click(bia, live, ids.STAGE_CONFIRM, request_id=pending["id"])
    assert response.status_code == 200, response.text
    assert "second.sup" in result_of(response)
    override = alerts.stage_override()
    assert override["level"] == 5 and override["by"] == "supervisor.user" and override["confirmed_by"] == "second.sup"
    assert alerts.stage_pending() is None
    assert [(e["actor"], e["action"]) for e in alerts.audit() if e["subject"] == "stage"] == [
        ("supervisor.user", "stage-change-requested"), ("second.sup", "stage-change-confirmed"),
        ("second.sup", "stage-override")]

    # an operator cannot sneak a clear in
    operator = sign_in(live, "operator.user")
    assert click(operator, live, ids.STAGE_CLEAR, note="done").status_code == 403
    assert alerts.stage_override()["level"] == 5 and alerts.stage_pending() is None


def test_the_stage_panel_is_disabled_for_roles_that_may_not(live, people):
    viewer = sign_in(live, "operator.user").get(f"{live.url}/_dash-layout", timeout=30).text.replace(" ", "")
    supervisor = sign_in(live, "supervisor.user").get(f"{live.url}/_dash-layout", timeout=30).text.replace(" ", "")

    def disabled(layout: str, component_id: str) -> bool:
        at = layout.index(f'"id":"{component_id}"')
        start = layout.rfind('"props":{', 0, at)
        return '"disabled":true' in layout[start:layout.find("}", at)] or \
               '"disabled":true' in layout[at:layout.find("}", at)]

    for component_id in (ids.STAGE_SET, ids.STAGE_CLEAR, ids.STAGE_LEVEL, ids.STAGE_NOTE):
        assert disabled(viewer, component_id), component_id
        assert not disabled(supervisor, component_id), component_id


def test_the_stage_panel_answers_in_the_language_each_user_picked(live, people, rio_settings):
    assert rio_settings.city.language == "pt-BR"
    city = sign_in(live, "supervisor.user")
    picked = sign_in(live, "second.sup")
    assert picked.get(f"{live.url}/?lang=en", timeout=10).status_code == 200  # kept in that user's session
    assert "Escolha" in result_of(click(city, live, ids.STAGE_SET))  # no stage chosen: the city's language
    assert result_of(click(picked, live, ids.STAGE_SET)) == "Choose a stage first."
