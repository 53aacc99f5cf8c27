"""The recipient and webhook changes an admin makes (core/notify/recipient_admin.py, shared by
`opscentre recipients|webhooks` and the Recipients page): an edit keeps the recipient's id, consent
and (when no phone is given) its number, moves the number's index when it changes, and is refused
for a (phone, role) another recipient has; a disabled webhook is routed nothing new."""

from __future__ import annotations

import pytest

from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.notify import recipient_admin
from opscentre.core.notify.recipient_store import RecipientRefused, RecipientStore
from opscentre.core.notify.routing import route_webhooks
from opscentre.core.notify.subscribers import SubscriberStore
from opscentre.core.settings import CITIES_DIR, load_settings

ANA, BIA = "+5521987654321", "+5521998765432"


@pytest.fixture(scope="module")
def zones():
    return load_settings(CITIES_DIR / "rio" / "demo.yaml").zones


def build(zones, editing=None, **fields):
    form = {"name": "Ana", "phone": "(21) 98765-4321", "zone_texts": ["Leme"], "role": "community"} | fields
    return recipient_admin.build_recipient(zones, consent_how="test", now=1.0, editing=editing, **form)


def test_an_edit_keeps_id_consent_and_number_and_moves_the_index_when_the_number_changes(redis_client, zones):
    first = recipient_admin.add_recipient(redis_client, "ana", build(zones))
    kept = recipient_admin.update_recipient(redis_client, "ana", build(zones, first, name="Ana Lima", phone="",
                                                                      zone_texts=["Urca", "Leme"]))
    assert (kept.id, kept.phone, kept.consent, kept.created_at) == (first.id, ANA, first.consent, first.created_at)
    moved = recipient_admin.update_recipient(redis_client, "ana", build(zones, kept, phone="21 99876-5432"))
    assert RecipientStore(redis_client).get(first.id).phone == BIA == moved.phone
    assert redis_client.smembers(keys.recipient_phone(ANA)) == set()
    assert redis_client.smembers(keys.recipient_phone(BIA)) == {first.id.encode()}
    actions = [(e["actor"], e["action"]) for e in AlertStore(redis_client).audit()]
    assert actions == [("ana", "recipient-added"), ("ana", "recipient-changed"), ("ana", "recipient-changed")]


def test_an_edit_to_a_phone_and_role_another_recipient_has_is_refused_and_changes_nothing(redis_client, zones):
    ana = recipient_admin.add_recipient(redis_client, "ana", build(zones))
    bia = recipient_admin.add_recipient(redis_client, "ana", build(zones, name="Bia", phone="21 99876-5432"))
    with pytest.raises(RecipientRefused, match=f"already recipient {ana.id} with role community"):
        recipient_admin.update_recipient(redis_client, "ana", build(zones, bia, name="Bia", phone="21 98765-4321"))
    assert RecipientStore(redis_client).get(bia.id) == bia
    redis_client.hset(keys.RECIPIENTS_OPTED_OUT, "+5521991234567", "1")
    with pytest.raises(RecipientRefused, match="opted out"):
        recipient_admin.update_recipient(redis_client, "ana", build(zones, bia, phone="21 99123-4567"))
    with pytest.raises(ValueError, match="name: String should have at most 120 characters"):
        build(zones, bia, name="x" * 10_000)


def test_a_disabled_webhook_is_routed_nothing_and_enabled_again_it_is(redis_client):
    hook = recipient_admin.add_webhook(redis_client, "ana", "https://partner.example.org/hook")
    stage = {"kind": "stage", "level": 3}
    assert [s.id for s, _ in route_webhooks(stage, SubscriberStore(redis_client).list())] == [hook.id]
    assert recipient_admin.set_webhook_enabled(redis_client, "ana", hook.id, False).enabled is False
    assert route_webhooks(stage, SubscriberStore(redis_client).list()) == []
    recipient_admin.set_webhook_enabled(redis_client, "ana", hook.id, True)
    assert [s.id for s, _ in route_webhooks(stage, SubscriberStore(redis_client).list())] == [hook.id]
    assert recipient_admin.set_webhook_enabled(redis_client, "ana", "w-nope", True) is None
    assert SubscriberStore(redis_client).get(hook.id).secret == hook.secret  # (kept through both)
