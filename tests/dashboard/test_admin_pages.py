"""The admin pages over real HTTP (a real Redis): /users and /recipients. An admin adds a user and
the password the page showed once signs in at /login; a new password ends the user's sessions;
the last enabled admin can neither disable nor demote themselves; an operator's or supervisor's
crafted POST to each write callback is a 403 and changes nothing; a viewer sees "admins only";
recipients are added, edited and removed with their phone masked, hostile input is refused with
its reason and stores nothing; a webhook is disabled and enabled. Every change is in the audit
with the admin as its actor."""

from __future__ import annotations

import re

import orjson
import pytest
import requests

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.notify.subscribers import SubscriberStore, WebhookSubscriber
from opscentre.core.roles import Role
from opscentre.dashboard import ids

PASSWORD = "a long test password"
ANA = "+5521987654321"
ANA_DIGITS = ("21987654321", "98765-4321", "987654321")  # any of these would be the number unmasked


def sign_in(live, username: str, password: str = PASSWORD) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{live.url}/login", data={"username": username, "password": password}, timeout=10,
                            allow_redirects=False)
    assert response.status_code == 302, (username, response.status_code)
    assert session.get(f"{live.url}/users?lang=en", timeout=10).status_code == 200  # (the answers' words, in English)
    return session


def refused_sign_in(live, username: str, password: str) -> bool:
    response = requests.post(f"{live.url}/login", data={"username": username, "password": password}, timeout=10,
                             allow_redirects=False)
    return response.status_code == 401


def layout_for(session, live, path: str) -> str:
    response = session.get(f"{live.url}/_dash-layout", headers={"Referer": f"{live.url}{path}"}, timeout=30)
    assert response.status_code == 200
    return response.text.replace(" ", "")


def click(session, live, button: str, states: dict[str, object]) -> requests.Response:
    """What the browser POSTs for a click on `button`, built from the app's own dependency list."""
    dependencies = session.get(f"{live.url}/_dash-dependencies", timeout=10).json()
    dep = next(d for d in dependencies if any(i["id"] == button for i in d["inputs"]))
    parts = dep["output"].strip(".").split("...") if dep["output"].startswith("..") else [dep["output"]]
    outputs = [{"id": p.split(".", 1)[0], "property": p.split(".", 1)[1]} for p in parts]
    body = {
        "output": dep["output"],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [{"id": i["id"], "property": i["property"], "value": 1 if i["id"] == button else None}
                   for i in dep["inputs"]],
        "state": [{"id": s["id"], "property": s["property"], "value": states.get(s["id"])} for s in dep["state"]],
        "changedPropIds": [f"{button}.n_clicks"],
    }
    return session.post(f"{live.url}/_dash-update-component", json=body, timeout=30)


def said(response: requests.Response, result_id: str) -> str:
    """The text the callback put in its result element (children, flattened)."""
    assert response.status_code == 200, response.text
    children = response.json()["response"]
    found = next(v for k, v in children.items() if k == result_id)["children"]

    def text(node) -> str:
        if node is None:
            return ""
        if isinstance(node, str):
            return node
        if isinstance(node, list):
            return " ".join(text(n) for n in node)
        return text(node.get("props", {}).get("children"))

    return text(found)


def audit(redis) -> list[dict]:
    return list(AlertStore(redis).audit())


def snapshot(redis) -> dict:
    """What an admin write could change: accounts, roles, disabled, recipients, webhooks."""
    return {key: sorted(redis.hgetall(key).items()) for key in
            (keys.OPERATORS, keys.OPERATOR_ROLES, keys.RECIPIENTS, keys.WEBHOOKS)} | {
        "disabled": sorted(redis.smembers(keys.OPERATORS_DISABLED))}


@pytest.fixture
def people(store):
    for role in Role:
        operators.add(store.redis, f"{role.value}.user", PASSWORD, role)
    return store.redis


def test_an_admin_adds_a_user_and_the_password_shown_once_signs_in(live, people):
    admin = sign_in(live, "admin.user")
    answer = click(admin, live, ids.USERS_ADD, {ids.USERS_NEW_NAME: "bia", ids.USERS_NEW_ROLE: "supervisor"})
    text = said(answer, ids.USERS_RESULT)
    assert "bia added as supervisor" in text
    password = re.search(r"only its hash is kept\):\s+(\S+)", text).group(1)
    assert operators.role_of(people, "bia") == Role.SUPERVISOR
    assert password not in people.hget(keys.OPERATORS, "bia").decode()  # (a hash)
    bia = sign_in(live, "bia", password)
    assert '"data-user":"bia"' in layout_for(admin, live, "/users")

    reset = said(click(admin, live, ids.USERS_RESET, {ids.USERS_PICK: "bia"}), ids.USERS_RESULT)
    assert "New password for bia; 1 session(s) ended" in reset
    new_password = re.search(r"only its hash is kept\):\s+(\S+)", reset).group(1)
    assert bia.get(f"{live.url}/_dash-layout", timeout=10).status_code == 401  # her session ended
    assert refused_sign_in(live, "bia", password)
    sign_in(live, "bia", new_password)
    entries = [(e["actor"], e["action"], e["subject"]) for e in audit(people) if e["subject"] == "bia"]
    assert ("admin.user", "user-added", "bia") in entries and ("admin.user", "password-set", "bia") in entries
    assert password not in orjson.dumps(audit(people)).decode()


def test_an_admin_changes_a_role_disables_and_enables_and_the_table_says_when_each_signed_in(live, people):
    admin = sign_in(live, "admin.user")
    role = said(click(admin, live, ids.USERS_SET_ROLE, {ids.USERS_PICK: "viewer.user", ids.USERS_PICK_ROLE: "operator"}),
                ids.USERS_RESULT)
    assert role == "viewer.user is now operator." and operators.role_of(people, "viewer.user") == Role.OPERATOR
    assert "viewer.user disabled" in said(click(admin, live, ids.USERS_DISABLE, {ids.USERS_PICK: "viewer.user"}),
                                          ids.USERS_RESULT)
    assert refused_sign_in(live, "viewer.user", PASSWORD)
    assert said(click(admin, live, ids.USERS_ENABLE, {ids.USERS_PICK: "viewer.user"}),
                ids.USERS_RESULT) == "viewer.user enabled."
    sign_in(live, "viewer.user")
    table = layout_for(admin, live, "/users")
    row = table[table.index('"data-user":"viewer.user"') - 600:table.index('"data-user":"viewer.user"')]
    assert "(UTC-03)" in row  # its last sign-in, in the city's time
    assert [e["action"] for e in audit(people) if e["subject"] == "viewer.user" and e["actor"] == "admin.user"] == \
        ["role-changed", "user-disabled", "user-enabled"]
    refused = said(click(admin, live, ids.USERS_SET_ROLE, {ids.USERS_PICK: "nobody", ids.USERS_PICK_ROLE: "admin"}),
                   ids.USERS_RESULT)
    assert refused == "Not done: no user 'nobody'" and not operators.exists(people, "nobody")


def test_the_last_enabled_admin_can_neither_disable_nor_demote_themselves(live, people):
    admin = sign_in(live, "admin.user")
    before = snapshot(people)
    for button, states in ((ids.USERS_DISABLE, {}), (ids.USERS_SET_ROLE, {ids.USERS_PICK_ROLE: "supervisor"})):
        text = said(click(admin, live, button, {ids.USERS_PICK: "admin.user", **states}), ids.USERS_RESULT)
        assert text == "Not done: admin.user is the last enabled admin: make another account admin first"
    assert snapshot(people) == before
    click(admin, live, ids.USERS_SET_ROLE, {ids.USERS_PICK: "supervisor.user", ids.USERS_PICK_ROLE: "admin"})
    assert said(click(admin, live, ids.USERS_SET_ROLE, {ids.USERS_PICK: "admin.user", ids.USERS_PICK_ROLE: "viewer"}),
                ids.USERS_RESULT) == "admin.user is now viewer."


WRITES = [
    (ids.USERS_ADD, {ids.USERS_NEW_NAME: "mallory", ids.USERS_NEW_ROLE: "admin"}),
    (ids.USERS_SET_ROLE, {ids.USERS_PICK: "{me}", ids.USERS_PICK_ROLE: "admin"}),
    (ids.USERS_DISABLE, {ids.USERS_PICK: "admin.user"}),
    (ids.USERS_ENABLE, {ids.USERS_PICK: "admin.user"}),
    (ids.USERS_RESET, {ids.USERS_PICK: "admin.user"}),
    (ids.RECIPIENT_SAVE, {ids.RECIPIENT_NAME: "Mallory", ids.RECIPIENT_PHONE: "(21) 99876-5432",
                          ids.RECIPIENT_ZONES: ["COPA"], ids.RECIPIENT_ROLE: "community", ids.RECIPIENT_LANG: "en"}),
    (ids.RECIPIENT_REMOVE, {ids.RECIPIENT_PICK: "{recipient}"}),
    (ids.WEBHOOK_ENABLE, {ids.WEBHOOK_PICK: "{webhook}"}),
    (ids.WEBHOOK_DISABLE, {ids.WEBHOOK_PICK: "{webhook}"}),
]


def test_a_crafted_post_to_each_admin_write_by_an_operator_or_supervisor_is_refused(live, people, rio_settings):
    copacabana = rio_settings.zones.find("Copacabana")
    recipient = RecipientStore(people).add(_recipient(rio_settings, "Ana", ANA))
    webhook = SubscriberStore(people).add(WebhookSubscriber.create("https://partner.example.org/hook", 0.0))
    SubscriberStore(people).set_enabled(webhook.id, False)
    before = snapshot(people)
    for name in ("operator.user", "supervisor.user"):
        session = sign_in(live, name)
        for button, states in WRITES:
            filled = {k: [copacabana] if v == ["COPA"] else
                      str(v).format(me=name, recipient=recipient.id, webhook=webhook.id) if isinstance(v, str) else v
                      for k, v in states.items()}
            response = click(session, live, button, filled)
            assert response.status_code == 403, (name, button, response.status_code)
            assert response.json()["action"] in ("users", "recipients", "webhooks")
    assert snapshot(people) == before
    refusals = [e for e in audit(people) if e["action"] == "refused"]
    assert {(e["actor"], e["subject"]) for e in refusals} == {
        (n, a) for n in ("operator.user", "supervisor.user") for a in ("users", "recipients", "webhooks")}


def test_a_viewer_sees_admins_only_on_both_pages(live, people):
    viewer = sign_in(live, "viewer.user")
    for path, table in (("/users", ids.USERS_TABLE), ("/recipients", ids.RECIPIENTS_TABLE)):
        page = layout_for(viewer, live, path)
        assert f'"id":"{ids.ADMIN_ONLY}"' in page and "Adminsonly." in page
        assert f'"id":"{table}"' not in page and '"data-user"' not in page
    assert viewer.get(f"{live.url}/users", timeout=10).status_code == 200  # the page, saying so


def _recipient(settings, name: str, phone: str):
    from opscentre.core.notify.recipients import Recipient

    return Recipient.create(name=name, phone=phone, consent_how="test", now=1.0,
                            zone_ids=[settings.zones.find("Leme")], role="community")


def test_an_admin_adds_edits_and_removes_a_recipient_and_never_sees_the_whole_number(live, people, rio_settings):
    admin = sign_in(live, "admin.user")
    copacabana, saude = rio_settings.zones.find("Copacabana"), rio_settings.zones.find("Saúde")
    answer = click(admin, live, ids.RECIPIENT_SAVE, {
        ids.RECIPIENT_NAME: " Ana ", ids.RECIPIENT_PHONE: "(21) 98765-4321", ids.RECIPIENT_ZONES: [copacabana, saude],
        ids.RECIPIENT_ROLE: "community", ids.RECIPIENT_LANG: "en"})
    assert said(answer, ids.RECIPIENT_RESULT) == "Ana added (+55 21 9****-**21)."
    (stored,) = RecipientStore(people).list()
    assert (stored.name, stored.phone, stored.zone_ids, stored.role.value, stored.lang.value) == \
        ("Ana", ANA, (copacabana, saude), "community", "en")
    assert stored.consent.how == "console:admin.user"
    page = layout_for(admin, live, "/recipients")
    assert f'"data-recipient":"{stored.id}"' in page and "Copacabana,Saúde" in page and "+55219****-**21" in page
    for text in (page, answer.text, orjson.dumps(audit(people)).decode()):
        assert not any(digits in text for digits in ANA_DIGITS)

    edited = click(admin, live, ids.RECIPIENT_SAVE, {
        ids.RECIPIENT_PICK: stored.id, ids.RECIPIENT_NAME: "Ana Lima", ids.RECIPIENT_PHONE: "",
        ids.RECIPIENT_ZONES: [saude], ids.RECIPIENT_ROLE: "agent", ids.RECIPIENT_LANG: "pt-BR"})
    assert said(edited, ids.RECIPIENT_RESULT) == "Ana Lima saved (+55 21 9****-**21)."
    (after,) = RecipientStore(people).list()
    assert (after.id, after.name, after.phone, after.zone_ids, after.role.value, after.created_at) == \
        (stored.id, "Ana Lima", ANA, (saude,), "agent", stored.created_at)

    removed = click(admin, live, ids.RECIPIENT_REMOVE, {ids.RECIPIENT_PICK: stored.id})
    assert said(removed, ids.RECIPIENT_RESULT) == "Ana Lima removed (+55 21 9****-**21)."
    assert RecipientStore(people).list() == [] and not people.exists(keys.recipient_phone(ANA))
    assert [(e["actor"], e["action"]) for e in audit(people) if e["subject"] == stored.id] == [
        ("admin.user", "recipient-added"), ("admin.user", "recipient-changed"), ("admin.user", "recipient-removed")]


@pytest.mark.parametrize("fields,reason", [
    ({ids.RECIPIENT_NAME: "x" * 10_000}, "name: String should have at most 120 characters"),
    ({ids.RECIPIENT_NAME: "Ana\nURGENTE: evacuar"}, "name: a name may not hold control characters or line breaks"),
    ({ids.RECIPIENT_PHONE: "12345"}, "not a valid number (wrong length or area code for its country)"),
    ({ids.RECIPIENT_PHONE: "(21) 2222-3333"}, "a fixed line, not a mobile: SMS needs a mobile number"),
    ({ids.RECIPIENT_PHONE: "<script>alert(1)</script>"}, "not a phone number"),
    ({ids.RECIPIENT_ZONES: ["<script>alert(1)</script>"]}, "unknown bairro"),
    ({ids.RECIPIENT_ZONES: []}, "a recipient needs a place"),
    ({ids.RECIPIENT_ROLE: "root"}, "role: Input should be 'community', 'agent', 'oncall' or 'subscriber'"),
    ({ids.RECIPIENT_PICK: "r-gone"}, "Not done: that recipient is gone."),
], ids=["10kB-name", "line-break", "bad-phone", "fixed-line", "script-phone", "script-bairro", "no-place",
        "bad-role", "unknown-id"])
def test_hostile_recipient_input_is_refused_with_its_reason_and_changes_nothing(live, people, rio_settings,
                                                                             fields, reason):
    admin = sign_in(live, "admin.user")
    before, entries = snapshot(people), len(audit(people))
    form = {ids.RECIPIENT_NAME: "Ana", ids.RECIPIENT_PHONE: "(21) 98765-4321",
            ids.RECIPIENT_ZONES: [rio_settings.zones.find("Leme")], ids.RECIPIENT_ROLE: "community",
            ids.RECIPIENT_LANG: "en", **fields}
    text = said(click(admin, live, ids.RECIPIENT_SAVE, form), ids.RECIPIENT_RESULT)
    assert reason in text and len(text) < 400
    assert snapshot(people) == before and len(audit(people)) == entries


def test_markup_in_a_name_is_kept_as_text_as_the_cli_keeps_it(live, people, rio_settings):
    admin = sign_in(live, "admin.user")
    name = '<img src=x onerror="alert(1)">'
    click(admin, live, ids.RECIPIENT_SAVE, {ids.RECIPIENT_NAME: name, ids.RECIPIENT_PHONE: "(21) 98765-4321",
                                            ids.RECIPIENT_ZONES: [rio_settings.zones.find("Leme")],
                                            ids.RECIPIENT_ROLE: "community", ids.RECIPIENT_LANG: "en"})
    (stored,) = RecipientStore(people).list()
    assert stored.name == name
    page = layout_for(admin, live, "/recipients")
    # a string child of its cell (React sets it as text), never markup: Dash's JSON even escapes < and >
    assert '"children":"\\u003cimgsrc=xonerror=\\"alert(1)\\"\\u003e","className":"cell-name"' in page


def test_an_admin_disables_and_enables_a_webhook(live, people):
    admin = sign_in(live, "admin.user")
    hook = SubscriberStore(people).add(WebhookSubscriber.create("https://partner.example.org/hook?k=1", 0.0))
    page = layout_for(admin, live, "/recipients")
    assert f'"data-webhook":"{hook.id}"' in page and "partner.example.org" in page and hook.secret not in page
    off = said(click(admin, live, ids.WEBHOOK_DISABLE, {ids.WEBHOOK_PICK: hook.id}), ids.WEBHOOK_RESULT)
    assert off == f"{hook.id} disabled: nothing new goes to partner.example.org."
    assert SubscriberStore(people).get(hook.id).enabled is False
    on = said(click(admin, live, ids.WEBHOOK_ENABLE, {ids.WEBHOOK_PICK: hook.id}), ids.WEBHOOK_RESULT)
    assert on.startswith(f"{hook.id} enabled") and SubscriberStore(people).get(hook.id).enabled is True
    assert [(e["actor"], e["action"]) for e in audit(people) if e["subject"] == hook.id] == [
        ("admin.user", "webhook-disabled"), ("admin.user", "webhook-enabled")]
