"""Recipients in a real Redis: add, get, list, remove; the phone index that SMS "SAIR"/"STOP"
and "ALERTA <bairro>" use; one recipient per (phone, role); opt-outs that operators cannot undo;
concurrent writers that neither duplicate nor lose."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import ValidationError

from opscentre.core import keys
from opscentre.core.notify.recipient_store import RecipientRefused, RecipientStore
from opscentre.core.notify.recipients import Language, Recipient, Role

ANA = "+5521987654321"
BIA = "+5521987654322"
NOW = 1_750_000_000.0


@pytest.fixture
def store(redis_client):
    return RecipientStore(redis_client)


def person(phone=ANA, role=Role.COMMUNITY, zones=("024",), name="Ana", **extra) -> Recipient:
    return Recipient.create(name=name, phone=phone, consent_how="cli:test", now=NOW, zone_ids=zones, role=role, **extra)


def test_an_added_recipient_reads_back_the_same_from_get_list_and_its_phone(store, redis_client):
    ana = store.add(person(quiet_hours=("22:00", "07:00"), lang=Language.EN))
    assert ana.id.startswith("r-") and len(ana.id) == 14
    assert store.get(ana.id) == ana
    assert store.list() == [ana]
    assert store.by_phone(ANA) == [ana]
    assert redis_client.hget(keys.RECIPIENTS, ana.id) == ana.model_dump_json().encode()
    assert redis_client.smembers(keys.recipient_phone(ANA)) == {ana.id.encode()}


def test_list_is_oldest_first_and_every_write_moves_the_version(store):
    assert store.version() == 0
    later = store.add(Recipient.create(name="B", phone=BIA, consent_how="x", now=NOW + 5, zone_ids=["001"]))
    earlier = store.add(person())
    assert [r.id for r in store.list()] == [earlier.id, later.id]
    assert store.version() == 2
    store.remove(later.id)
    assert store.version() == 3


def test_one_number_may_hold_several_roles_but_never_the_same_role_twice(store):
    community = store.add(person(role=Role.COMMUNITY))
    agent = store.add(person(role=Role.AGENT, zones=("001",)))
    with pytest.raises(RecipientRefused, match=f"already recipient {community.id} with role community"):
        store.add(person(role=Role.COMMUNITY, zones=("033",)))
    assert {r.id for r in store.by_phone(ANA)} == {community.id, agent.id}


def test_remove_takes_the_recipient_out_of_the_list_and_the_phone_index(store):
    ana, bia = store.add(person()), store.add(person(phone=BIA, name="Bia"))
    assert store.remove(ana.id) == ana
    assert store.get(ana.id) is None and store.by_phone(ANA) == [] and store.list() == [bia]
    assert store.remove(ana.id) is None
    assert store.remove("r-nope") is None


def test_sair_removes_every_recipient_of_that_number_and_no_other(store):
    store.add(person(role=Role.COMMUNITY))
    store.add(person(role=Role.SUBSCRIBER, zones=("001",)))
    bia = store.add(person(phone=BIA, name="Bia"))
    assert store.remove_phone(ANA, NOW) == 2
    assert store.by_phone(ANA) == [] and store.list() == [bia]
    assert store.remove_phone(ANA, NOW) == 0


def test_after_sair_an_operator_cannot_add_the_number_back_but_the_number_itself_can(store):
    store.remove_phone(ANA, NOW)  # even a number that was not a recipient: it asked for nothing more
    assert store.opted_out(ANA) == NOW
    with pytest.raises(RecipientRefused, match="opted out"):
        store.add(person())
    subscriber = store.subscribe(ANA, "024", "sms:ALERTA Copacabana", NOW + 60)
    assert store.opted_out(ANA) is None
    assert store.by_phone(ANA) == [subscriber]


def test_alerta_creates_a_subscriber_with_its_consent_then_adds_zones_to_it(store):
    first = store.subscribe(ANA, "024", "sms:ALERTA Copacabana", NOW)
    assert first.role == Role.SUBSCRIBER and first.zone_ids == ("024",)
    assert first.consent.how == "sms:ALERTA Copacabana" and first.consent.at == NOW
    second = store.subscribe(ANA, "001", "sms:ALERTA Saude", NOW + 10)
    assert second.id == first.id and second.zone_ids == ("024", "001")
    again = store.subscribe(ANA, "001", "sms:ALERTA Saude", NOW + 20)
    assert again == second and store.list() == [second]


def test_alerta_leaves_the_numbers_other_roles_alone_and_takes_the_language_asked(store):
    community = store.add(person(role=Role.COMMUNITY))
    subscriber = store.subscribe(ANA, "001", "sms:ALERT Saude", NOW, lang=Language.EN)
    assert subscriber.id != community.id and subscriber.lang == Language.EN
    assert store.get(community.id) == community


class SlowReader(RecipientStore):
    """A store that dawdles between reading a number's recipients and writing: every concurrent
    writer reads before any writes, the worst interleaving, every time."""

    def _by_phone(self, client, e164):
        found = super()._by_phone(client, e164)
        time.sleep(0.02)
        return found


def own_store(store) -> RecipientStore:
    """A slow store on a client of its own, as another process would have."""
    return SlowReader(store.redis.__class__(connection_pool=store.redis.connection_pool))


def run_at_once(target, args_list) -> None:
    barrier = threading.Barrier(len(args_list))

    def run(*args):
        barrier.wait()
        target(*args)

    threads = [threading.Thread(target=run, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_alerta_texts_from_one_number_lose_no_zone(store):
    zone_ids = [f"{n:03d}" for n in range(1, 21)]
    run_at_once(lambda zone_id: own_store(store).subscribe(ANA, zone_id, f"sms:ALERTA {zone_id}", NOW),
                [(z,) for z in zone_ids])
    (subscriber,) = store.by_phone(ANA)
    assert sorted(subscriber.zone_ids) == zone_ids


def test_concurrent_adds_of_one_number_and_role_store_exactly_one(store):
    outcomes: list[str] = []

    def add(writer, recipient):
        try:
            writer.add(recipient)
            outcomes.append("added")
        except RecipientRefused:
            outcomes.append("refused")

    run_at_once(add, [(own_store(store), person(zones=(f"{n + 1:03d}",))) for n in range(20)])
    assert sorted(outcomes) == ["added"] + ["refused"] * 19
    assert len(store.list()) == 1 and len(store.by_phone(ANA)) == 1


def test_a_hostile_name_is_stored_as_text_and_a_huge_or_control_character_one_is_refused(store):
    html = '<script>alert("x")</script> & <b>Ana</b>'
    assert store.get(store.add(person(name=html)).id).name == html
    for bad in ("x" * 10_000, "Ana\nSMS: evacuate", "Ana\x00", "\u202eanA"):
        with pytest.raises(ValidationError):
            person(phone=BIA, name=bad)
    assert len(store.list()) == 1


def test_a_stored_record_that_no_longer_validates_is_skipped_not_fatal(store, redis_client):
    ana = store.add(person())
    redis_client.hset(keys.RECIPIENTS, "r-broken", b'{"id": "r-broken"}')
    assert store.list() == [ana]
    assert store.get("r-broken") is None
