"""The per-recipient SMS limit, end to end: readings stored -> the real rules -> incidents in the
outbox -> the notifier -> a Twilio-compatible gateway on loopback. Real Redis, real HTTP."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from opscentre.core import keys
from opscentre.core.alert_store import AlertStore
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.notify.channels import Channels
from opscentre.core.notify.channels.sms import SmsChannel
from opscentre.core.notify.deliveries import State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.rate_limit import Candidate, SmsRateLimit
from opscentre.core.notify.recipient_store import RecipientRefused, RecipientStore
from opscentre.core.notify.recipients import Recipient, Role
from opscentre.core.store import Store
from opscentre.workers.evaluation import evaluate_city
from opscentre.workers.notifier import Notifier
from tests.cli_helpers import clean_env, opscentre
from tests.core.notify.test_channels import sms_settings
from tests.workers.test_notifier import RIO, gateway  # noqa: F401 (a fixture)

PHONE = "+5521987654321"


def apart(n: int) -> list[str]:
    """n bairros no two of which touch (so each storm is an incident of its own)."""
    neighbours, chosen = RIO.zones.neighbours, []
    for zone in RIO.zones.ids:
        if not any(zone in neighbours[c] or zone == c for c in chosen):
            chosen.append(zone)
        if len(chosen) == n:
            return chosen
    raise AssertionError("not enough bairros apart")


def reading(store: Store, zone: str, now: float, kind: str = "rain_mm", value: float = 15.0) -> None:
    """A sensor in `zone` reading `value` (15 mm of rain in 15 min is critical; AQI 350 an emergency)."""
    entity_type, source = ("rain_gauge", "alerta_rio") if kind == "rain_mm" else ("air_quality_station", "openaq")
    entity = Entity(entity_id=f"s-{kind}-{zone}", entity_type=entity_type, source=source, name=zone, zone_id=zone,
                    geometry=None)
    batch = ObservationBatch(source=source, kind=kind, entity_ids=[entity.entity_id], values=[value],
                             observed_at=[now])
    store.write_poll(source, store.unknown_entities([entity]), [batch], {}, {}, retention_s=86400, wall_now=now)
    evaluate_city(RIO, store, now=now)


def test_twelve_incidents_in_an_hour_text_ten_and_cancel_two_with_the_reason_but_an_emergency_goes(
        redis_client, redis_server, gateway):  # noqa: F811
    now = time.time()
    zones = apart(13)
    RecipientStore(redis_client).add(Recipient.create(name="Ana", phone=PHONE, consent_how="cli", now=now,
                                                      zone_ids=tuple(zones), role=Role.COMMUNITY))
    notifier = Notifier(RIO, redis_client, Channels(enabled={"sms": SmsChannel(sms_settings(gateway))}), "t")
    store = Store(redis_client)
    for i, zone in enumerate(zones[:12]):
        reading(store, zone, now + i)
        notifier.turn(block_ms=None)
    assert [p["form"]["To"] for p in gateway.posts()] == [PHONE] * 10
    cancelled = DeliveryStore(redis_client).by_state(State.CANCELLED)
    assert len(cancelled) == 2
    assert {d.last_error for d in cancelled} == {"rate limit: 10 messages in the last hour"}
    listed = opscentre("deliveries", "--json", env=clean_env(REDIS_URL=redis_server.url))
    shown = [d for d in orjson.loads(listed.stdout) if d["state"] == "cancelled"]
    assert len(shown) == 2 and all("rate limit" in d["last_error"] for d in shown)
    assert not {"payload", "idempotency_key", "counted"} & set(shown[0])  # (no text, no internal bookkeeping)

    reading(store, zones[12], now + 12, kind="aqi", value=350.0)  # an emergency: exempt
    notifier.turn(block_ms=None)
    assert [p["form"]["To"] for p in gateway.posts()] == [PHONE] * 11
    assert len(DeliveryStore(redis_client).by_state(State.CANCELLED)) == 2


def test_the_window_slides_an_hour_old_message_no_longer_counts(redis_client):
    limit = SmsRateLimit(redis_client, per_hour=2)
    first = limit.check([Candidate("r-1", "dl-a", False), Candidate("r-1", "dl-b", False)], now=1000.0)
    assert first == [None, None]
    assert limit.check([Candidate("r-1", "dl-c", False)], now=1000.0 + 3599) == [2]
    assert limit.check([Candidate("r-1", "dl-c", False)], now=1000.0 + 3601) == [None]
    assert limit.check([Candidate("r-2", "dl-d", False)], now=1000.0 + 3601) == [None]  # per recipient


def test_a_delivery_read_twice_is_counted_once(redis_client):
    limit = SmsRateLimit(redis_client, per_hour=1)
    assert limit.check([Candidate("r-1", "dl-a", False)], now=10.0) == [None]
    assert limit.check([Candidate("r-1", "dl-a", False)], now=11.0) == [None]  # the same one, again
    assert limit.check([Candidate("r-1", "dl-b", False)], now=12.0) == [1]


def test_concurrent_checks_never_let_more_than_the_limit_through(redis_server):
    import redis

    def one(i: int) -> int | None:
        client = redis.Redis.from_url(redis_server.url)
        try:
            return SmsRateLimit(client, per_hour=10).check([Candidate("r-1", f"dl-{i}", False)], now=100.0)[0]
        finally:
            client.close()

    redis.Redis.from_url(redis_server.url).flushall()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(64)))
    assert results.count(None) == 10
    assert sorted(r for r in results if r is not None) == [10] * 54


def test_a_number_the_provider_says_unsubscribed_is_opted_out_and_audited_masked(redis_client, gateway):  # noqa: F811
    now = time.time()
    recipients = RecipientStore(redis_client)
    zone = apart(1)[0]
    recipients.add(Recipient.create(name="Ana", phone=PHONE, consent_how="cli", now=now, zone_ids=(zone,),
                                    role=Role.COMMUNITY))
    recipients.add(Recipient.create(name="Ana", phone=PHONE, consent_how="cli", now=now, zone_ids=(zone,),
                                    role=Role.AGENT))
    notifier = Notifier(RIO, redis_client, Channels(enabled={"sms": SmsChannel(sms_settings(gateway))}), "t")
    gateway.mode = "21610"  # Twilio: the number replied STOP to our sender
    reading(Store(redis_client), zone, now)
    notifier.turn(block_ms=None)
    assert len(gateway.posts()) == 2  # one per role, both refused
    assert {d.error_code for d in DeliveryStore(redis_client).by_state(State.DEAD)} == {"21610"}
    assert recipients.by_phone(PHONE) == [] and recipients.opted_out(PHONE) is not None
    audited = [e for e in AlertStore(redis_client).audit() if e["action"] == "recipient-opted-out"]
    assert sum(e["after"]["removed"] for e in audited) == 2 and "21610" in audited[0]["after"]["why"]
    assert audited[0]["subject"].endswith("21") and PHONE not in orjson.dumps(audited).decode()
    # nothing more goes to it, and an operator cannot add it back
    gateway.mode = "ok"
    told = redis_client.xlen(keys.OUTBOX)
    reading(Store(redis_client), zone, now + 60, kind="aqi", value=350.0)  # the incident escalates: news
    assert redis_client.xlen(keys.OUTBOX) > told
    notifier.turn(block_ms=None)
    assert len(gateway.posts()) == 2
    with pytest.raises(RecipientRefused):
        recipients.add(Recipient.create(name="Ana", phone=PHONE, consent_how="cli", now=now, zone_ids=(zone,)))
