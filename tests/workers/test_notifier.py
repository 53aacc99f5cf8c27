"""The notifier end to end: a reading stored -> the real rules -> an incident in the outbox ->
routed by place -> an SMS at a Twilio-compatible gateway on loopback and a signed webhook at a
partner's receiver -> receipts. Real Redis, real HTTP."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
import requests
from twilio.request_validator import RequestValidator

from opscentre.core.alert_store import AlertStore
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.notify.channels import Channels
from opscentre.core.notify.channels.sms import SmsChannel
from opscentre.core.notify.channels.webhook import WebhookChannel
from opscentre.core.notify.deliveries import State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.notify.recipients import Recipient, Role
from opscentre.core.notify.subscribers import SubscriberStore, WebhookSubscriber
from opscentre.core.settings import load_settings
from opscentre.core.store import Store
from opscentre.workers.evaluation import evaluate_city
from opscentre.workers.notifier import Notifier
from tests.cli_helpers import clean_env, opscentre
from tests.core.notify.test_channels import (
    FROM,
    SECRET,
    SID,
    TOKEN,
    Gateway,
    Receiver,
    sms_settings,
)
from tests.dashboard.city_seed import SECRET as SESSION_SECRET
from tests.dashboard.city_seed import LiveServer

RIO = load_settings(Path(__file__).resolve().parents[2] / "opscentre" / "cities" / "rio" / "demo.yaml")
COPACABANA = RIO.zones.find("Copacabana")
CAMPO_GRANDE = RIO.zones.find("Campo Grande")


@pytest.fixture
def gateway():
    g = Gateway()
    yield g
    g.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def people(redis_client, now):
    recipients = RecipientStore(redis_client)
    near = recipients.add(Recipient.create(name="Ana (NUDEC Copacabana)", phone="+5521987654321", consent_how="cli",
                                           now=now, zone_ids=(COPACABANA,), role=Role.COMMUNITY))
    far = recipients.add(Recipient.create(name="Bia (Campo Grande)", phone="+5521987650000", consent_how="cli",
                                          now=now, zone_ids=(CAMPO_GRANDE,), role=Role.COMMUNITY))
    return near, far


def storm_in_copacabana(store: Store, now: float, mm: float = 15.0) -> None:
    """A gauge in Copacabana measuring very heavy rain (Alerta Rio: > 12.5 mm in 15 min)."""
    gauge = Entity(entity_id="g-copa", entity_type="rain_gauge", source="alerta_rio", name="Copacabana",
                   zone_id=COPACABANA, geometry={"type": "Point", "coordinates": [-43.1857, -22.9711]})
    batch = ObservationBatch(source="alerta_rio", kind="rain_mm", entity_ids=["g-copa"], values=[mm],
                             observed_at=[now])
    store.write_poll("alerta_rio", store.unknown_entities([gauge]), [batch], {}, {}, retention_s=86400,
                     wall_now=now)
    evaluate_city(RIO, store, now=now)


def notifier(redis_client, gateway, public_url=None) -> Notifier:
    channels = Channels(enabled={"sms": SmsChannel(sms_settings(gateway, public_url=public_url)),
                                 "webhook": WebhookChannel()})
    return Notifier(RIO, redis_client, channels, "test-notifier")


def test_the_storm_texts_the_copacabana_contact_once_and_campo_grande_never(redis_client, gateway, receiver):
    now = time.time()
    near, _far = people(redis_client, now)
    SubscriberStore(redis_client).add(WebhookSubscriber.create(receiver.url, now, secret=SECRET,
                                                               min_severity="warning"))
    storm_in_copacabana(Store(redis_client), now)
    n = notifier(redis_client, gateway)
    planned, sent = n.turn(block_ms=None)
    assert planned == 3 and sent == 3  # one SMS; webhooks of the incident and of the stage it raised
    posts = gateway.posts()
    assert [p["form"]["To"] for p in posts] == [near.phone]
    assert posts[0]["auth_ok"] and posts[0]["form"]["From"] == FROM
    assert "Copacabana" in posts[0]["form"]["Body"]
    bodies = {body["type"]: body for _webhook_id, body in receiver.verified}
    assert set(bodies) == {"incident.opened", "stage.changed"}
    assert bodies["incident.opened"]["severity"] == "critical"
    assert [z["name"] for z in bodies["incident.opened"]["zones"]] == ["Copacabana"]
    assert bodies["stage.changed"]["stage"]["level"] > 1
    # nothing more, however often the notifier turns or the same reading is evaluated again
    storm_in_copacabana(Store(redis_client), now + 1)
    assert n.turn(block_ms=None) == (0, 0)
    assert len(gateway.posts()) == 1 and len(receiver.verified) == 2
    store = DeliveryStore(redis_client)
    assert [d.channel for d in store.by_state(State.SENT)] == ["sms"]
    assert sorted(d.channel for d in store.by_state(State.DELIVERED)) == ["webhook", "webhook"]


def test_the_notifier_routes_through_its_zone_index_rebuilt_when_the_recipients_change(redis_client, gateway):
    near, far = people(redis_client, time.time())
    n = notifier(redis_client, gateway)
    recipients, areas = n._recipients()
    assert recipients is areas.source  # what planning routes is what the index was built from
    assert [r.id for r in areas.candidates(recipients, {COPACABANA})] == [near.id]
    RecipientStore(redis_client).remove(near.id)
    recipients, areas = n._recipients()
    assert recipients is areas.source and [r.id for r in recipients] == [far.id]
    assert list(areas.candidates(recipients, {COPACABANA})) == []


def test_a_notifier_that_died_before_acknowledging_plans_nothing_twice(redis_client, gateway):
    now = time.time()
    people(redis_client, now)
    storm_in_copacabana(Store(redis_client), now)
    first = notifier(redis_client, gateway)
    first.plan_new()
    redis_client.xgroup_setid("oc:outbox", "oc:outbox:notify", id="0")  # as if it never acknowledged
    assert notifier(redis_client, gateway).plan_new() == 0
    first.turn(block_ms=None)
    assert len(gateway.posts()) == 1


def test_a_removed_recipient_is_not_texted_and_the_delivery_says_why(redis_client, gateway):
    now = time.time()
    near, _ = people(redis_client, now)
    storm_in_copacabana(Store(redis_client), now)
    n = notifier(redis_client, gateway)
    n.plan_new()
    RecipientStore(redis_client).remove_phone(near.phone, now)  # texted SAIR meanwhile
    n.turn(block_ms=None)
    assert gateway.posts() == []
    (cancelled,) = DeliveryStore(redis_client).by_state(State.CANCELLED)
    assert "opted out" in cancelled.last_error


def test_a_receipt_moves_the_sms_to_delivered(redis_client, gateway, rio_settings_app):
    now = time.time()
    people(redis_client, now)
    storm_in_copacabana(Store(redis_client), now)
    live = rio_settings_app
    n = notifier(redis_client, gateway, public_url=live.url)
    n.turn(block_ms=None)
    (post,) = gateway.posts()
    callback = post["form"]["StatusCallback"]
    assert callback.startswith(f"{live.url}/webhooks/sms-status?k=")
    sid = gateway.messages[0]["sid"]
    form = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": SID}
    signature = RequestValidator(TOKEN).compute_signature(callback, form)
    unsigned = requests.post(callback, data=form, timeout=10)
    assert unsigned.status_code == 403
    answer = requests.post(callback, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
    assert answer.status_code == 200 and answer.json()["state"] == "delivered"
    (delivered,) = DeliveryStore(redis_client).by_state(State.DELIVERED)
    assert delivered.provider_id == sid
    unknown = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    url = f"{live.url}/webhooks/sms-status"
    stray = requests.post(url, data=unknown, timeout=10,
                          headers={"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, unknown)})
    assert stray.status_code == 404


@pytest.fixture
def rio_settings_app(redis_server, redis_client, monkeypatch):
    from opscentre.dashboard.security import WebSecurity
    from opscentre.dashboard.server import create_wsgi_app

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    with LiveServer(create_wsgi_app(RIO, redis_server.url, SESSION_SECRET, WebSecurity.from_env({}))) as server:
        monkeypatch.setenv("OPSCENTRE_PUBLIC_URL", server.url)
        yield server


def test_a_mass_send_waits_for_two_different_operators_then_goes(redis_client, redis_server, gateway):
    now = time.time()
    recipients = RecipientStore(redis_client)
    for i in range(3):
        recipients.add(Recipient.create(name=f"Vizinho {i}", phone=f"+55219876543{i:02d}", consent_how="cli", now=now,
                                        zone_ids=(COPACABANA,), role=Role.COMMUNITY))
    storm_in_copacabana(Store(redis_client), now)
    settings = RIO.model_copy(update={"notify": RIO.notify.model_copy(update={"approval_over": 2})})
    channels = Channels(enabled={"sms": SmsChannel(sms_settings(gateway))})
    n = Notifier(settings, redis_client, channels, "test-notifier")
    assert n.turn(block_ms=None) == (3, 0)
    waiting = DeliveryStore(redis_client).by_state(State.AWAITING_APPROVAL)
    assert len(waiting) == 3 and gateway.posts() == []
    env = clean_env(REDIS_URL=redis_server.url)
    listed = opscentre("deliveries", env=env)
    assert listed.returncode == 0 and "awaiting_approval" in listed.stdout and "+55219876543" not in listed.stdout
    notification = waiting[0].notification_id
    first = opscentre("deliveries", "approve", notification, "--by", "ana", env=env)
    assert first.returncode == 0 and "second operator" in first.stdout
    again = opscentre("deliveries", "approve", notification, "--by", "ana", env=env)
    assert again.returncode == 2
    assert n.turn(block_ms=None) == (0, 0) and gateway.posts() == []
    second = opscentre("deliveries", "approve", notification, "--by", "bruno", env=env)
    assert second.returncode == 0 and "3 messages released" in second.stdout
    n.turn(block_ms=None)
    assert len(gateway.posts()) == 3
    actions = [e["action"] for e in AlertStore(redis_client).audit() if e["action"].startswith("delivery-")]
    assert actions.count("delivery-approve") == 2


def test_a_dead_letter_is_listed_and_retried_by_an_operator(redis_client, redis_server, gateway):
    now = time.time()
    people(redis_client, now)
    storm_in_copacabana(Store(redis_client), now)
    gateway.mode = "21211"  # the provider says the number is not valid: not retried
    notifier(redis_client, gateway).turn(block_ms=None)
    env = clean_env(REDIS_URL=redis_server.url)
    dead = opscentre("deliveries", "--dead", "--json", env=env)
    (letter,) = orjson.loads(dead.stdout)
    assert letter["state"] == "dead" and letter["error_code"] == "21211" and letter["target_masked"].endswith("21")
    gateway.mode = "ok"
    retried = opscentre("deliveries", "retry", letter["id"], "--by", "ana", env=env)
    assert retried.returncode == 0 and "queued" in retried.stdout
    notifier(redis_client, gateway).turn(block_ms=None)
    assert len(gateway.posts()) == 2
    assert opscentre("deliveries", "retry", "dl-nope", "--by", "ana", env=env).returncode == 1


def test_state_json_counts_the_messages_without_a_phone_number(redis_client, redis_server, gateway):
    now = time.time()
    near, _far = people(redis_client, now)
    storm_in_copacabana(Store(redis_client), now)
    notifier(redis_client, gateway).turn(block_ms=None)
    result = opscentre("state", "--json", env=clean_env(REDIS_URL=redis_server.url))
    state = orjson.loads(result.stdout)
    assert state["notifications"] == {"deliveries": {"sent": 1}, "recipients": 2, "webhooks": 0}
    assert near.phone not in result.stdout and near.phone[3:] not in result.stdout
