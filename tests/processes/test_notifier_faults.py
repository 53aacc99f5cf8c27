"""Faults with the real processes: `opscentre notifier` subprocesses, a Redis of the test's own
(killed and restarted), a Twilio-compatible gateway on loopback that fails, hangs and recovers.
What is proved is what the provider ends up with: each message created there exactly once."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from opscentre.core.notify import breaker
from opscentre.core.notify.deliveries import State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.notify.recipients import Recipient, Role
from opscentre.core.store import Store
from opscentre.processes.redis_server import RedisServer
from tests.cli_helpers import clean_env, opscentre, wait_for
from tests.core.notify.test_channels import FROM, SID, TOKEN, Gateway
from tests.workers.test_notifier import COPACABANA
from tests.workers.test_notifier_limits import reading

RIO_DIR = Path(__file__).resolve().parents[2] / "opscentre" / "cities" / "rio"


@pytest.fixture
def gateway():
    g = Gateway()
    yield g
    g.close()


class Notifiers:
    """`opscentre notifier` processes, as the Procfile runs them, on the test's Redis and gateway."""

    def __init__(self, tmp_path: Path, redis_url: str, gateway: Gateway, config: Path | None = None):
        self.tmp_path, self.processes = tmp_path, []
        self.env = clean_env(REDIS_URL=redis_url, OPSCENTRE_DATA_DIR=str(tmp_path / "var"),
                             OPSCENTRE_SMS_API_URL=gateway.url, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN,
                             OPSCENTRE_SMS_FROM=FROM, **({"OPSCENTRE_CONFIG": str(config)} if config else {}))

    def start(self) -> subprocess.Popen:
        log = open(self.tmp_path / f"notifier-{len(self.processes)}.log", "w")  # noqa: SIM115 (closed by the child)
        process = subprocess.Popen([sys.executable, "-m", "opscentre", "notifier"], env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def close(self) -> None:
        print(self.logs())  # shown when the test fails
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.tmp_path.glob("notifier-*.log")))


@pytest.fixture
def notifiers(tmp_path, own_redis, gateway):
    n = Notifiers(tmp_path, own_redis.url, gateway)
    yield n
    n.close()


def neighbours(client: redis.Redis, n: int, zone: str = COPACABANA, first: int = 0) -> list[Recipient]:
    """n community contacts in one bairro, numbers +55 21 98700-0000 onwards."""
    recipients, now = RecipientStore(client), time.time()
    return [recipients.add(Recipient.create(name=f"Vizinho {i}", phone=f"+55219{87000000 + first + i:08d}",
                                            consent_how="cli", now=now, zone_ids=(zone,), role=Role.COMMUNITY))
            for i in range(n)]


def created_per_number(gateway: Gateway) -> Counter:
    """How many messages the provider created for each number: what its people would receive."""
    return Counter(m["to"] for m in list(gateway.messages))


def all_sent_once(gateway: Gateway, people: list[Recipient]):
    created = created_per_number(gateway)
    return created if created == Counter({r.phone: 1 for r in people}) else None


def probes_within(seconds: float, policy: breaker.BreakerPolicy = breaker.POLICY) -> int:
    """The most probes an open breaker lets through in `seconds`: step k waits at least lower(k)."""
    waited, k = 0.0, 0
    while waited + policy.backoff.lower(k) <= seconds:
        waited += policy.backoff.lower(k)
        k += 1
    return k + 1  # and the one in flight when the time ran out


def test_a_gateway_down_for_a_while_gets_each_message_once_after_it_recovers_and_few_attempts_meanwhile(
        own_redis, gateway, notifiers):
    client = redis.Redis.from_url(own_redis.url)
    people = neighbours(client, 20)
    notifiers.start()
    gateway.mode = "500"
    down_at = time.monotonic()
    reading(Store(client), COPACABANA, time.time())
    wait_for(lambda: len(gateway.posts()) >= len(people), 30, what="the first attempts")
    wait_for(lambda: time.monotonic() - down_at >= 15, 20, interval=0.2, what="an outage of 15 s")
    gateway.mode = "ok"
    outage_s = time.monotonic() - down_at
    wait_for(lambda: all_sent_once(gateway, people), 60, what="every message once")
    failed = len(gateway.posts()) - len(gateway.messages)  # a 500 creates nothing; an ok POST one message
    # the first wave went while the breaker was closed; after that, one probe per backoff step
    assert len(people) <= failed <= len(people) + probes_within(outage_s)
    wait_for(lambda: len(DeliveryStore(client).by_state(State.SENT)) == len(people), 10, what="all recorded sent")
    assert all_sent_once(gateway, people)


def test_a_notifier_killed_between_send_and_record_loses_nothing_and_sends_nothing_twice(
        own_redis, gateway, notifiers):
    client = redis.Redis.from_url(own_redis.url)
    people = neighbours(client, 5)
    first = notifiers.start()
    gateway.mode = "accept-hang"  # the provider takes each message, then never answers
    reading(Store(client), COPACABANA, time.time())
    wait_for(lambda: len(gateway.messages) == len(people), 30, what="the provider holding every message")
    sending = DeliveryStore(client).by_state(State.SENDING)
    assert len(sending) == len(people)  # claimed before sent, the outcome not recorded
    notifiers.kill(first)
    gateway.mode = "ok"
    gateway.release.set()
    notifiers.start()  # asks the provider (its Message list) instead of sending blindly
    wait_for(lambda: len(DeliveryStore(client).by_state(State.SENT)) == len(people), 60,
             what="the interrupted messages found at the provider")
    assert all_sent_once(gateway, people)
    assert len(gateway.posts()) == len(people)


def test_every_process_restarted_while_messages_wait_for_a_down_gateway_delivers_each_once(
        own_redis, gateway, notifiers):
    client = redis.Redis.from_url(own_redis.url)
    people = neighbours(client, 10)
    first = notifiers.start()
    gateway.mode = "500"
    reading(Store(client), COPACABANA, time.time())
    wait_for(lambda: len(DeliveryStore(client).by_state(State.FAILED)) == len(people), 30,
             what="every message failed once and waiting")
    notifiers.kill(first)
    own_redis.kill()
    notifiers.start()  # while Redis is down: it waits for it
    restarted = RedisServer(own_redis.directory, port=own_redis.port, persist=True).start()
    try:
        client = redis.Redis.from_url(restarted.url)
        assert sum(DeliveryStore(client).counts().values()) == len(people)  # kept by the AOF
        tried = len(gateway.posts())
        wait_for(lambda: len(gateway.posts()) > tried, 30, what="the new notifier trying the gateway, still down")
        gateway.mode = "ok"
        wait_for(lambda: all_sent_once(gateway, people), 60, what="every message once")
        wait_for(lambda: len(DeliveryStore(client).by_state(State.SENT)) == len(people), 10, what="recorded sent")
        assert all_sent_once(gateway, people)
    finally:
        restarted.stop()


@pytest.fixture
def one_an_hour(tmp_path) -> Path:
    """Rio's demo config, texting each recipient at most once an hour."""
    city = tmp_path / "rio"
    shutil.copytree(RIO_DIR, city)
    config = city / "demo.yaml"
    text = config.read_text()
    assert "per_recipient_per_hour: 10" in text
    config.write_text(text.replace("per_recipient_per_hour: 10", "per_recipient_per_hour: 1"))
    return config


def test_a_thousand_recipients_in_one_bairro_each_get_it_once_and_no_more_than_the_hourly_limit(
        tmp_path, own_redis, gateway, one_an_hour):
    client = redis.Redis.from_url(own_redis.url)
    people = neighbours(client, 1000)
    notifiers = Notifiers(tmp_path, own_redis.url, gateway, config=one_an_hour)
    try:
        notifiers.start()
        notifiers.start()  # two notifiers share the work
        store, now = Store(client), time.time()
        reading(store, COPACABANA, now, value=7.0)  # heavy rain: a warning, texting 1,000 people
        deliveries = DeliveryStore(client)
        wait_for(lambda: len(deliveries.by_state(State.AWAITING_APPROVAL, 2000)) == 1000, 30,
                 what="the mass send held for two operators")
        (notification,) = {d.notification_id for d in deliveries.by_state(State.AWAITING_APPROVAL, 2000)}
        for operator in ("ana", "bruno"):
            assert opscentre("deliveries", "approve", notification, "--by", operator, env=notifiers.env).returncode == 0
        wait_for(lambda: all_sent_once(gateway, people), 60, what="1,000 messages once")
        reading(store, COPACABANA, now + 60, value=15.0)  # it escalates within the hour: over the limit
        wait_for(lambda: len(deliveries.by_state(State.CANCELLED, 2000)) == 1000, 30, what="the escalation refused")
        assert {d.last_error for d in deliveries.by_state(State.CANCELLED, 2000)} == \
            {"rate limit: 1 messages in the last hour"}
        assert all_sent_once(gateway, people)
        assert len(deliveries.by_state(State.SENT, 2000)) == 1000
    finally:
        notifiers.close()
