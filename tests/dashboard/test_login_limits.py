"""Sign-in under attack: failed sign-ins limited per address and per username (shared in Redis by
every web process), the same password check for unknown users, a bound on concurrent checks,
and every sign-in event in the audit stream."""

import threading
import time
from types import SimpleNamespace

import pytest
from city_seed import SECRET
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.dashboard import auth
from opscentre.dashboard.server import create_wsgi_app


def client_from(app, address: str):
    client = app.ops_server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sign_in(client, username: str, password: str):
    return client.post("/login", data={"username": username, "password": password})


@pytest.fixture
def counted_checks(monkeypatch):
    """Every password hash check made, by hash."""
    checked = []
    real = operators.check_password_hash
    monkeypatch.setattr(operators, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    return checked


def test_the_sixth_failure_within_a_minute_from_one_address_gets_429_with_retry_after(wsgi_app, operator):
    client = client_from(wsgi_app, "198.51.100.7")
    assert [sign_in(client, operator[0], "wrong").status_code for _ in range(5)] == [401] * 5
    refused = sign_in(client, operator[0], "wrong")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert refused.mimetype == "text/html" and "Muitas tentativas de acesso falharam. Tente de novo em" in refused.text  # Rio: pt-BR
    assert '<form method="post" action="/login' in refused.text  # a readable page, not a bare error


def test_a_limited_address_is_refused_for_every_username_before_any_password_check(wsgi_app, operator,
                                                                                    counted_checks):
    client = client_from(wsgi_app, "198.51.100.8")
    assert [sign_in(client, f"guess{i}", "wrong").status_code for i in range(5)] == [401] * 5
    assert sign_in(client, *operator).status_code == 429  # even the right password: it is not checked
    assert len(counted_checks) == 5


def test_one_username_is_limited_across_addresses(wsgi_app, operator):
    for i in range(5):
        assert sign_in(client_from(wsgi_app, f"203.0.113.{i}"), operator[0], "wrong").status_code == 401
    assert sign_in(client_from(wsgi_app, "203.0.113.99"), *operator).status_code == 429
    assert sign_in(client_from(wsgi_app, "203.0.113.99"), "someone.else", "wrong").status_code == 401


def test_successful_sign_ins_are_not_counted(wsgi_app, operator):
    client = client_from(wsgi_app, "198.51.100.9")
    assert sign_in(client, operator[0], "wrong").status_code == 401
    assert [sign_in(client, *operator).status_code for _ in range(6)] == [302] * 6
    assert [sign_in(client, operator[0], "wrong").status_code for _ in range(4)] == [401] * 4
    assert sign_in(client, operator[0], "wrong").status_code == 429


def test_failures_counted_by_one_web_process_limit_the_others(rio_settings, redis_server, operator):
    first, second = (create_wsgi_app(rio_settings, redis_server.url, SECRET) for _ in range(2))
    for _ in range(3):
        assert sign_in(client_from(first, "198.51.100.10"), operator[0], "wrong").status_code == 401
    for _ in range(2):
        assert sign_in(client_from(second, "198.51.100.10"), operator[0], "wrong").status_code == 401
    assert sign_in(client_from(first, "198.51.100.10"), *operator).status_code == 429


def test_a_full_hour_tier_makes_the_wait_as_long_as_the_hour(wsgi_app, redis_client, operator, monkeypatch):
    """Twenty failures spread over the last 50 minutes: the minute tier is clear, the hour's is not."""
    storage = RedisStorage("redis://", connection_pool=redis_client.connection_pool, key_prefix=keys.LOGIN_LIMITS)
    counter = MovingWindowRateLimiter(storage)
    import limits.storage.redis as limits_redis

    for minutes_ago in (50, 40, 30, 20):
        monkeypatch.setattr(limits_redis, "time", SimpleNamespace(time=lambda m=minutes_ago: time.time() - m * 60))
        for _ in range(5):
            assert counter.hit(parse("20/hour"), "198.51.100.11", "login:address")
    monkeypatch.setattr(limits_redis, "time", time)
    refused = sign_in(client_from(wsgi_app, "198.51.100.11"), *operator)
    assert refused.status_code == 429
    assert 9 * 60 <= int(refused.headers["Retry-After"]) <= 11 * 60  # when the oldest failure leaves the hour
    assert "Tente de novo em 10 minutos" in refused.text


def test_an_unknown_user_costs_a_password_check_like_a_known_one(wsgi_app, operator, counted_checks):
    client = client_from(wsgi_app, "198.51.100.12")
    assert sign_in(client, "nobody.here", "a guess").status_code == 401
    assert sign_in(client, operator[0], "a guess").status_code == 401
    assert len(counted_checks) == 2 and counted_checks[0] == operators.dummy_hash()


def test_password_checks_beyond_the_bound_wait_briefly_then_get_503(wsgi_app, operator, monkeypatch):
    entered, release, checked = threading.Semaphore(0), threading.Event(), []

    def slow_check(stored, password):
        checked.append(password)
        entered.release()
        release.wait(30)
        return False

    monkeypatch.setattr(operators, "check_password_hash", slow_check)
    wsgi_app.ops_server.config[auth.CHECK_WAIT_S] = 0.05
    answers = []
    threads = [threading.Thread(target=lambda i=i: answers.append(
        sign_in(client_from(wsgi_app, f"192.0.2.{i}"), operator[0], f"try {i}").status_code)) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        assert entered.acquire(timeout=30) and entered.acquire(timeout=30)
        busy = sign_in(client_from(wsgi_app, "192.0.2.50"), operator[0], "try 3")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
        assert len(checked) == auth.CONCURRENT_CHECKS == 2
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
    assert answers == [401, 401]
    assert sign_in(client_from(wsgi_app, "192.0.2.50"), operator[0], "try 4").status_code == 401  # free again



def fill_minute_window(redis_client, address: str):
    storage = RedisStorage("redis://", connection_pool=redis_client.connection_pool, key_prefix=keys.LOGIN_LIMITS)
    for _ in range(5):
        MovingWindowRateLimiter(storage).hit(parse("5/minute"), address, "login:address")


def test_a_sign_in_that_waited_for_a_check_is_refused_if_failures_filled_its_window_meanwhile(
        rio_settings, redis_server, redis_client, operator, monkeypatch):
    waiting = threading.Semaphore(0)

    class WatchedSemaphore(threading.BoundedSemaphore):
        def acquire(self, *args, **kwargs):
            waiting.release()
            return super().acquire(*args, **kwargs)

    monkeypatch.setattr(auth, "BoundedSemaphore", WatchedSemaphore)
    app = create_wsgi_app(rio_settings, redis_server.url, SECRET)
    app.ops_server.config[auth.CHECK_WAIT_S] = 60
    entered, release, checked = threading.Semaphore(0), threading.Event(), []

    def slow_check(stored, password):
        checked.append(password)
        entered.release()
        release.wait(30)
        return False

    monkeypatch.setattr(operators, "check_password_hash", slow_check)
    answers = {}

    def attempt(address):
        answers[address] = sign_in(client_from(app, address), operator[0], f"from {address}").status_code

    holders = [threading.Thread(target=attempt, args=(f"192.0.2.{i}",)) for i in range(2)]
    for thread in holders:
        thread.start()
    assert entered.acquire(timeout=30) and entered.acquire(timeout=30)
    late = threading.Thread(target=attempt, args=("192.0.2.77",))
    late.start()
    try:
        assert all(waiting.acquire(timeout=30) for _ in range(3))  # the late one passed the limiter, now waits
        fill_minute_window(redis_client, "192.0.2.77")
    finally:
        release.set()
        for thread in (*holders, late):
            thread.join(30)
    assert answers == {"192.0.2.0": 401, "192.0.2.1": 401, "192.0.2.77": 429}
    assert len(checked) == 2  # the late one's password was never checked


def test_sign_in_events_are_audited_with_the_address_and_never_the_password(wsgi_app, redis_client, operator):
    client = client_from(wsgi_app, "198.51.100.13")
    sign_in(client, operator[0], "not-the-password")
    sign_in(client, *operator)
    for _ in range(4):
        sign_in(client, "nobody", "not-the-password")
    sign_in(client, "nobody", "not-the-password")
    sign_in(client, "nobody", "not-the-password")  # a second refusal within the minute: not audited again
    entries = list(AlertStore(redis_client).audit())
    assert [(e["actor"], e["action"]) for e in entries] == [
        (operator[0], "sign-in-failed"), (operator[0], "signed-in"), *[("nobody", "sign-in-failed")] * 4,
        ("nobody", "sign-in-refused")]
    assert all(e["subject"] == "session" and e["after"]["address"] == "198.51.100.13" for e in entries)
    assert entries[-1]["after"]["retry_after_s"] >= 1
    raw = b"".join(fields[b"d"] for _id, fields in redis_client.xrange(keys.AUDIT))
    assert b"not-the-password" not in raw and operator[1].encode() not in raw
