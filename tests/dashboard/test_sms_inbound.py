"""Residents subscribe and leave by SMS: the provider's signed callbacks over real HTTP."""

from __future__ import annotations

import time

import pytest
import requests
from city_seed import SECRET, LiveServer
from twilio.request_validator import RequestValidator

from opscentre.core.alert_store import AlertStore
from opscentre.core.notify import deliveries as dl
from opscentre.core.notify import inbound
from opscentre.core.notify.deliveries import Event, State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.recipient_store import RecipientRefused, RecipientStore
from opscentre.core.notify.recipients import Recipient
from opscentre.dashboard.security import WebSecurity
from opscentre.dashboard.server import create_public_wsgi_app, create_wsgi_app

TOKEN = "twilio-auth-token-for-tests"
RESIDENT = "+5521987654321"


@pytest.fixture
def sms(rio_settings, redis_server, redis_client, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    app = create_wsgi_app(rio_settings, redis_server.url, SECRET, WebSecurity.from_env({}))
    with LiveServer(app) as server:
        monkeypatch.setenv("OPSCENTRE_PUBLIC_URL", server.url)
        yield server


def text(server, body: str, sender: str = RESIDENT, token: str = TOKEN, signed: bool = True):
    url = f"{server.url}/webhooks/sms-inbound"
    form = {"MessageSid": "SM1521fa559fb923c1ed64f56cd1bed8ef", "From": sender, "To": "+5521900000000",
            "Body": body, "NumSegments": "1"}
    headers = {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form)} if signed else {}
    return requests.post(url, data=form, headers=headers, timeout=10)


def test_alerta_bairro_subscribes_the_sender_with_consent_recorded(sms, redis_client, rio_settings):
    answer = text(sms, "alerta copacabana")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/xml")
    assert "<Message>" in answer.text and "Copacabana" in answer.text and "SAIR" in answer.text
    (resident,) = RecipientStore(redis_client).by_phone(RESIDENT)
    copacabana = rio_settings.zones.find("Copacabana")
    assert resident.zone_ids == (copacabana,) and resident.role.value == "subscriber"
    assert resident.consent.how.startswith("sms:")
    text(sms, "ALERTA Saúde")
    (resident,) = RecipientStore(redis_client).by_phone(RESIDENT)
    assert set(resident.zone_ids) == {copacabana, rio_settings.zones.find("Saude")}
    audit = [e for e in AlertStore(redis_client).audit() if e["action"] == "recipient-subscribed"]
    assert len(audit) == 2 and RESIDENT not in str(audit)  # masked


def test_sair_removes_every_subscription_of_the_number(sms, redis_client):
    text(sms, "ALERTA Copacabana")
    answer = text(sms, "SAIR")
    assert answer.status_code == 200 and "não receberá mais alertas" in answer.text
    assert RecipientStore(redis_client).by_phone(RESIDENT) == []
    assert RecipientStore(redis_client).opted_out(RESIDENT) is not None
    english = text(sms, "STOP", sender="+5521987650000")
    assert "no more alerts" in english.text


def test_an_unknown_bairro_gets_close_matches_and_subscribes_nobody(sms, redis_client):
    answer = text(sms, "ALERTA Copacabna")
    assert "Copacabana" in answer.text and "não encontramos" in answer.text
    assert RecipientStore(redis_client).by_phone(RESIDENT) == []


@pytest.mark.parametrize("body", ["", "   ", "olá", "\x00\x01", "x" * 5000])
def test_anything_else_gets_the_instructions(sms, redis_client, body):
    answer = text(sms, body)
    assert answer.status_code == 200 and "ALERTA" in answer.text
    assert RecipientStore(redis_client).by_phone(RESIDENT) == []


def test_a_bad_or_missing_signature_gets_403_and_changes_nothing(sms, redis_client):
    assert text(sms, "ALERTA Copacabana", signed=False).status_code == 403
    assert text(sms, "ALERTA Copacabana", token="someone-elses-token").status_code == 403
    url = f"{sms.url}/webhooks/sms-inbound"
    form = {"From": RESIDENT, "Body": "ALERTA Copacabana"}
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    tampered = requests.post(url, data={**form, "Body": "ALERTA Leme"}, headers={"X-Twilio-Signature": signature},
                             timeout=10)
    assert tampered.status_code == 403
    assert RecipientStore(redis_client).by_phone(RESIDENT) == []


def test_without_sms_credentials_the_callbacks_answer_503(rio_settings, redis_server, redis_client, monkeypatch):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    with LiveServer(create_public_wsgi_app(rio_settings, redis_server.url, WebSecurity.from_env({}))) as server:
        response = requests.post(f"{server.url}/webhooks/sms-inbound", data={"From": RESIDENT, "Body": "SAIR"},
                                 timeout=10)
    assert response.status_code == 503 and "TWILIO_AUTH_TOKEN" in response.json()["error"]


def test_the_public_process_serves_the_callbacks_too(rio_settings, redis_server, redis_client, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    with LiveServer(create_public_wsgi_app(rio_settings, redis_server.url, WebSecurity.from_env({}))) as server:
        monkeypatch.setenv("OPSCENTRE_PUBLIC_URL", server.url)
        assert text(server, "ALERTA Leme").status_code == 200
    assert len(RecipientStore(redis_client).by_phone(RESIDENT)) == 1


def receipt(server, form: dict[str, str], token: str = TOKEN):
    url = f"{server.url}/webhooks/sms-status"
    signature = RequestValidator(token).compute_signature(url, form)
    return requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)


def texted(redis_client, rio_settings, provider_id: str, phone: str = RESIDENT):
    """A recipient in Copacabana and one SMS to it that the provider accepted."""
    now = time.time()
    recipient = RecipientStore(redis_client).add(Recipient.create(
        name="Ana", phone=phone, consent_how="cli", now=now, zone_ids=(rio_settings.zones.find("Copacabana"),)))
    store = DeliveryStore(redis_client)
    d = dl.new(notification_id=f"n-{provider_id}", transition="opened", channel="sms", recipient_id=recipient.id,
               target_masked="+55 21 9****-**21", payload="Chuva forte", now=now, incident_id="i-1")
    store.add([d])
    store.claim_for_send(d.id, now)
    store.record(d.id, Event.ACCEPTED, now, provider_id=provider_id)
    return store, d


def test_a_receipt_saying_the_number_replied_stop_opts_it_out(sms, redis_client, rio_settings):
    store, d = texted(redis_client, rio_settings, "SM21610")
    answer = receipt(sms, {"MessageSid": "SM21610", "MessageStatus": "undelivered", "ErrorCode": "21610",
                           "To": RESIDENT, "From": "+5521900000000"})
    assert answer.status_code == 200 and answer.json()["state"] == "undelivered"
    assert store.get(d.id).state is State.UNDELIVERED and store.get(d.id).error_code == "21610"
    recipients = RecipientStore(redis_client)
    assert recipients.by_phone(RESIDENT) == [] and recipients.opted_out(RESIDENT) is not None
    (entry,) = [e for e in AlertStore(redis_client).audit() if e["action"] == "recipient-opted-out"]
    assert entry["actor"] == "sms-provider" and "21610" in entry["after"]["why"] and RESIDENT not in str(entry)
    with pytest.raises(RecipientRefused):  # nothing more is ever sent to it: an operator cannot add it back
        recipients.add(Recipient.create(name="Ana", phone=RESIDENT, consent_how="cli", now=time.time(),
                                        zone_ids=(rio_settings.zones.find("Leme"),)))
    again = receipt(sms, {"MessageSid": "SM21610", "MessageStatus": "failed", "ErrorCode": "21610", "To": RESIDENT})
    assert again.status_code == 200  # the provider repeating itself is audited once
    assert len([e for e in AlertStore(redis_client).audit() if e["action"] == "recipient-opted-out"]) == 1


def test_a_receipt_with_another_error_or_a_bad_signature_opts_nobody_out(sms, redis_client, rio_settings):
    texted(redis_client, rio_settings, "SM30003")
    unreachable = receipt(sms, {"MessageSid": "SM30003", "MessageStatus": "undelivered", "ErrorCode": "30003",
                                "To": RESIDENT})
    assert unreachable.status_code == 200
    forged = receipt(sms, {"MessageSid": "SM30003", "MessageStatus": "undelivered", "ErrorCode": "21610",
                           "To": RESIDENT}, token="someone-elses-token")
    assert forged.status_code == 403
    unknown = receipt(sms, {"MessageSid": "SM-not-ours", "MessageStatus": "failed", "ErrorCode": "21610",
                            "To": RESIDENT})
    assert unknown.status_code == 404
    assert len(RecipientStore(redis_client).by_phone(RESIDENT)) == 1
    assert RecipientStore(redis_client).opted_out(RESIDENT) is None


def test_keywords_and_languages_are_parsed_from_what_people_type(rio_settings):
    zones = rio_settings.zones
    assert inbound.parse("Alerta   COPACABANA ", zones).zone_id == zones.find("Copacabana")
    assert inbound.parse("alert leme", zones).lang is inbound.Language.EN
    assert inbound.parse("sair.", zones).ask is inbound.Ask.STOP
    assert inbound.parse("ALERTA", zones).ask is inbound.Ask.SUBSCRIBE
    assert "ALERTA" in inbound.reply(inbound.parse("ALERTA", zones), zones)
