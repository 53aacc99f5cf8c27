"""The channels over real HTTP on loopback: a Twilio-compatible gateway and a webhook receiver that
verifies signatures with the standardwebhooks library; the dispatcher against them and a real Redis."""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import logging
import random
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from opscentre.core.notify import channels
from opscentre.core.notify import deliveries as dl
from opscentre.core.notify.channels import DeliveryFailed
from opscentre.core.notify.channels.dispatch import Dispatcher
from opscentre.core.notify.channels.log import LogChannel
from opscentre.core.notify.channels.sms import SmsChannel, SmsSettings
from opscentre.core.notify.channels.webhook import WebhookChannel
from opscentre.core.notify.deliveries import State
from opscentre.core.notify.delivery_store import DeliveryStore

FIXTURES = Path(__file__).parents[2] / "fixtures" / "twilio"
SID = "AC58f1e8f2b1c6b88ca90a012a4be0c279"  # the fixture's account
TOKEN = "tok-" + "5" * 28
FROM = "+15005550006"
PHONE = "+5521987654321"


# ---- a Twilio-compatible gateway -------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # a listen backlog for notifiers' hundreds of concurrent connections (socketserver's is 5: the
    # connections past it are reset — sends that may have left, resolved only by recovery)
    request_queue_size = 1024


class Gateway:
    """Answers `POST /2010-04-01/Accounts/{sid}/Messages.json` like Twilio (the fixture's shape),
    or as `mode` says: ok, 500, 429, html, garbage, hang (no answer), accept-hang (takes the
    message, then no answer), or an error code ("21211"...) with 400. `GET` lists messages
    (To / From filters) unless `listing` is False."""

    def __init__(self):
        self.mode, self.retry_after, self.listing = "ok", None, True
        self.requests: list[dict] = []
        self.messages: list[dict] = []
        self.release = threading.Event()
        self.clock = time.time
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                gateway._post(self)

            def do_GET(self):
                gateway._get(self)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def posts(self):
        return [r for r in self.requests if r["method"] == "POST"]

    def _auth_ok(self, handler) -> bool:
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        return handler.headers.get("Authorization") == expected

    def _post(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        with self._lock:
            self.requests.append({"method": "POST", "path": handler.path, "auth_ok": self._auth_ok(handler),
                                  "form": form, "content_type": handler.headers.get("Content-Type")})
            mode = self.mode
        if handler.path != f"/2010-04-01/Accounts/{SID}/Messages.json":
            return self._answer(handler, 404, {"code": 20404, "message": "not found", "status": 404})
        if not self._auth_ok(handler):
            return self._answer(handler, 401, {"code": 20003, "message": "Authenticate", "status": 401})
        if mode in ("hang", "accept-hang"):
            if mode == "accept-hang":
                self._create(form)
            self.release.wait(10)
            return
        if mode == "500":
            return self._answer(handler, 500, {"code": 20500, "message": "Internal Server Error", "status": 500})
        if mode == "429":
            return self._answer(handler, 429, {"code": 20429, "message": "Too Many Requests", "status": 429},
                                {"Retry-After": self.retry_after} if self.retry_after else {})
        if mode == "html":
            return self._raw(handler, 200, b"<html><body>Welcome to the captive portal</body></html>", "text/html")
        if mode == "garbage":
            return self._raw(handler, 200, b"\x00\xffnot json{", "application/json")
        if mode.isdigit():
            number = form.get("To", "")
            return self._answer(handler, 400, {"code": int(mode), "status": 400,
                                               "message": f"The 'To' number {number} is not a valid phone number.",
                                               "more_info": f"https://www.twilio.com/docs/errors/{mode}"})
        self._answer(handler, 201, self._create(form))

    def _create(self, form) -> dict:
        message = json.loads((FIXTURES / "messages_create_response.json").read_text())
        sid = "SM" + secrets.token_hex(16)
        message.update(sid=sid, to=form.get("To"), body=form.get("Body"), status="queued",
                       date_created=email.utils.formatdate(self.clock(), usegmt=True),
                       uri=f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json", **{"from": form.get("From")})
        with self._lock:
            self.messages.append(message)
        return message

    def _get(self, handler):
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append({"method": "GET", "path": parts.path, "auth_ok": self._auth_ok(handler),
                                  "query": query})
            found = [m for m in reversed(self.messages)
                     if m["to"] == query.get("To") and m["from"] == query.get("From")]
        if not self._auth_ok(handler) or not self.listing:
            return self._answer(handler, 404, {"code": 20404, "message": "not found", "status": 404})
        self._answer(handler, 200, {"messages": found[:int(query.get("PageSize", 50))], "page": 0})

    def _answer(self, handler, status, body, headers=None):
        self._raw(handler, status, json.dumps(body).encode(), "application/json", headers)

    @staticmethod
    def _raw(handler, status, body, content_type, headers=None):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture
def gateway():
    g = Gateway()
    yield g
    g.close()


def sms_settings(gateway, public_url="https://ops.example.org"):
    return SmsSettings(api_url=gateway.url, account_sid=SID, auth_token=TOKEN, sender=FROM, public_url=public_url)


def sms(gateway, **kw):
    return SmsChannel(sms_settings(gateway, **kw), read_timeout_s=0.3)


# ---- SMS -------------------------------------------------------------------------------------

def test_an_sms_is_a_form_post_with_basic_auth_and_a_status_callback_and_returns_the_providers_sid(gateway):
    result = sms(gateway).send("Chuva forte em Copacabana", PHONE, "sms|n-1|opened|r-1")
    (request,) = gateway.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json" and request["auth_ok"]
    assert request["content_type"] == "application/x-www-form-urlencoded"
    assert request["form"] == {"To": PHONE, "From": FROM, "Body": "Chuva forte em Copacabana",
                               "StatusCallback": "https://ops.example.org/webhooks/sms-status?k=sms%7Cn-1%7Copened%7Cr-1"}
    assert result.provider_id == gateway.messages[0]["sid"] and result.status is State.SENT


def test_an_sms_without_a_public_url_asks_for_no_status_callback(gateway):
    sms(gateway, public_url="").send("texto", PHONE, "k")
    assert "StatusCallback" not in gateway.requests[0]["form"]


def test_the_gateway_refusing_the_credentials_is_a_permanent_failure_that_says_which_settings(gateway):
    channel = SmsChannel(SmsSettings(api_url=gateway.url, account_sid=SID, auth_token="wrong", sender=FROM))
    with pytest.raises(DeliveryFailed) as failure:
        channel.send("texto", PHONE, "k")
    assert not failure.value.retryable and failure.value.code == "20003"
    assert "TWILIO_AUTH_TOKEN" in failure.value.reason and "wrong" not in str(failure.value)


@pytest.mark.parametrize("mode, retry_after, retryable, ambiguous, code", [
    ("500", None, True, False, "20500"),
    ("429", "7", True, False, "20429"),
    ("html", None, True, True, None),
    ("garbage", None, True, True, None),
    ("hang", None, True, True, None),
    ("21211", None, False, False, "21211"),
    ("21614", None, False, False, "21614"),
    ("21610", None, False, False, "21610"),
    ("21602", None, False, False, "21602"),  # another 4xx (message body required): permanent too
])
def test_sms_gateway_failures_are_classified(gateway, caplog, mode, retry_after, retryable, ambiguous, code):
    gateway.mode, gateway.retry_after = mode, retry_after
    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryFailed) as failure:
        sms(gateway).send("texto", PHONE, "k")
    f = failure.value
    assert (f.retryable, f.ambiguous, f.code) == (retryable, ambiguous, code)
    assert f.retry_after_s == (7.0 if retry_after else None)
    for text in (f.reason, caplog.text):  # never the token, never the full number (the gateway repeats it)
        assert TOKEN not in text and PHONE not in text and PHONE[1:] not in text


def test_a_retry_after_given_as_an_http_date_is_seconds_from_now(gateway):
    gateway.mode, gateway.retry_after = "429", "Wed, 21 Oct 2015 07:28:00 GMT"
    channel = sms(gateway)
    channel.clock = lambda: email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:26:00 GMT").timestamp()
    with pytest.raises(DeliveryFailed) as failure:
        channel.send("texto", PHONE, "k")
    assert failure.value.retry_after_s == 120.0


def test_a_gateway_that_refuses_connections_is_retryable_and_certainly_unsent():
    with socket_closed_port() as port:
        channel = SmsChannel(SmsSettings(api_url=f"http://127.0.0.1:{port}", account_sid=SID, auth_token=TOKEN,
                                         sender=FROM))
        with pytest.raises(DeliveryFailed) as failure:
            channel.send("texto", PHONE, "k")
    assert failure.value.retryable and not failure.value.ambiguous


@contextlib.contextmanager
def socket_closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    yield port


def test_lookup_finds_the_message_the_gateway_took_and_none_for_one_it_never_got(gateway):
    channel = sms(gateway)
    since = time.time()
    sent = channel.send("Alerta: deslizamento", PHONE, "k")
    found = channel.lookup("Alerta: deslizamento", PHONE, "k", since)
    assert found == dl.Receipt(provider_id=sent.provider_id, status="queued", error_code=None)
    assert channel.lookup("another text", PHONE, "k", since) is None
    assert channel.lookup("Alerta: deslizamento", PHONE, "k", since + 3600) is None  # an older message


def test_sms_is_disabled_without_credentials_with_the_reason_and_nothing_crashes(tmp_path):
    assert SmsSettings.from_env({}).disabled_reason == \
        "SMS disabled: no TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN / OPSCENTRE_SMS_FROM"
    assert SmsSettings.from_env({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN}).disabled_reason == \
        "SMS disabled: no OPSCENTRE_SMS_FROM"
    built = channels.build({})
    assert set(built.enabled) == {"log", "webhook"} and "TWILIO_ACCOUNT_SID" in built.disabled["sms"]
    missing = SmsSettings.from_env({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN_FILE": str(tmp_path / "nope"),
                                    "OPSCENTRE_SMS_FROM": FROM})
    assert not missing.enabled and "cannot read TWILIO_AUTH_TOKEN_FILE" in missing.disabled_reason
    bad_root = SmsSettings.from_env({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "OPSCENTRE_SMS_FROM": FROM,
                                     "OPSCENTRE_SMS_API_URL": "ftp://gw"})
    assert "not an http(s) URL" in bad_root.disabled_reason
    assert TOKEN not in repr(bad_root)


def test_sms_settings_come_from_the_environment_with_twilios_public_api_by_default(tmp_path):
    (tmp_path / "token").write_text(TOKEN + "\n")
    s = SmsSettings.from_env({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN_FILE": str(tmp_path / "token"),
                              "OPSCENTRE_SMS_FROM": FROM, "OPSCENTRE_PUBLIC_URL": "https://cor.rio/"})
    assert s.enabled and s.auth_token == TOKEN and s.api_url == "https://api.twilio.com"
    assert s.messages_url == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    assert s.status_callback("a|b") == "https://cor.rio/webhooks/sms-status?k=a%7Cb"
    env = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "OPSCENTRE_SMS_FROM": FROM}
    assert set(channels.build(env).enabled) == {"log", "webhook", "sms"}


# ---- webhooks --------------------------------------------------------------------------------

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


class Receiver:
    """A partner system: verifies each POST with standardwebhooks' Webhook.verify (401 if it does
    not verify) and answers `status` (with `headers`), or never answers ("hang")."""

    def __init__(self, secret=SECRET):
        self.status, self.headers = 204, {}
        self.verified: list[tuple[str, dict]] = []
        self.rejected = 0
        self.client_ports: list[int] = []
        self.release = threading.Event()
        receiver, verifier = self, Webhook(secret)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.client_ports.append(self.client_address[1])
                try:
                    payload = verifier.verify(body, dict(self.headers))
                except WebhookVerificationError:
                    receiver.rejected += 1
                    return self._send(401, {})
                receiver.verified.append((self.headers["webhook-id"], payload))
                if receiver.status == "hang":
                    receiver.release.wait(10)
                    return None
                return self._send(receiver.status, receiver.headers)

            def _send(self, status, headers):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/opscentre?token=s3cret"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Subscriber:
    def __init__(self, url, secret=SECRET):
        self.url, self.secret = url, secret


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


BODY = {"kind": "incident", "change": "opened", "severity": "critical",
        "zones": [{"code": "023", "name": "Copacabana"}], "title": "Chuva muito forte"}


def test_a_webhook_is_signed_as_standard_webhooks_says_and_the_receiver_verifies_it(receiver):
    channel = WebhookChannel()
    result = channel.send(BODY, Subscriber(receiver.url), "webhook|n-1|opened|w-1")
    assert result.status is State.DELIVERED
    assert receiver.verified == [("webhook|n-1|opened|w-1", BODY)] and receiver.rejected == 0


def test_a_webhook_signed_with_another_secret_does_not_verify_and_is_not_retried(receiver):
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(DeliveryFailed) as failure:
        WebhookChannel().send(BODY, Subscriber(receiver.url, other), "k")
    assert receiver.rejected == 1 and receiver.verified == []
    assert not failure.value.retryable and failure.value.code == "401"


def test_webhooks_reuse_one_kept_alive_connection(receiver):
    channel = WebhookChannel()
    for i in range(3):
        channel.send(BODY, Subscriber(receiver.url), f"k{i}")
    assert len(set(receiver.client_ports)) == 1 and len(receiver.verified) == 3


@pytest.mark.parametrize("status, headers, retryable, retry_after", [
    (503, {}, True, None),
    (500, {}, True, None),
    (429, {"Retry-After": "30"}, True, 30.0),
    (410, {}, False, None),
    (400, {}, False, None),
    (302, {"Location": "http://elsewhere.example/"}, False, None),
    ("hang", {}, True, None),
])
def test_webhook_answers_are_classified(receiver, status, headers, retryable, retry_after):
    receiver.status, receiver.headers = status, headers
    with pytest.raises(DeliveryFailed) as failure:
        WebhookChannel(read_timeout_s=0.3).send(BODY, Subscriber(receiver.url), "k")
    assert failure.value.retryable is retryable and failure.value.retry_after_s == retry_after
    assert "s3cret" not in failure.value.reason  # the URL's query string is never shown


class CountingSession(requests.Session):
    calls = 0

    def request(self, *args, **kwargs):
        CountingSession.calls += 1
        return super().request(*args, **kwargs)


@pytest.mark.parametrize("url", ["ftp://partner.example/hook", "file:///etc/passwd", "javascript:alert(1)",
                                 "http://", "not a url", "http://host:port/"])
def test_a_webhook_url_that_is_not_http_is_refused_before_any_request(url):
    channel = WebhookChannel(session=CountingSession())
    with pytest.raises(DeliveryFailed) as failure:
        channel.send(BODY, Subscriber(url), "k")
    assert not failure.value.retryable and CountingSession.calls == 0


# ---- the dispatcher: claim -> send -> record, breakers, recovery ------------------------------

class Clock:
    def __init__(self, t=1_700_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


def dispatcher(redis_client, chans, clock, targets=None):
    return Dispatcher(DeliveryStore(redis_client), chans, targets or (lambda d: PHONE), rng=random.Random(7),
                      clock=clock)


def queue(store, n, clock, channel="sms", payload="Chuva forte em Copacabana"):
    ds = [dl.new(notification_id="n-1", transition="opened", channel=channel, recipient_id=f"r-{i}",
                 target_masked=f"+55 21 9****-**{i:02d}", payload=payload, now=clock()) for i in range(n)]
    store.add(ds)
    return ds


def test_a_gateway_down_for_ten_minutes_gets_one_request_per_backoff_step_then_each_message_goes_once(
        redis_client, gateway):
    clock = Clock()
    gateway.clock = clock
    phones = {f"r-{i}": f"+55219876543{i:02d}" for i in range(30)}
    d = dispatcher(redis_client, {"sms": sms(gateway)}, clock, targets=lambda x: phones[x.recipient_id])
    queue(d.store, 30, clock)
    gateway.mode, outage_s, start = "500", 600, clock.t
    while clock.t < start + outage_s:
        d.send_due(limit=1000)
        clock.t += 1
    during = len(gateway.posts())
    policy = d.store.breaker_policy
    steps, waited = 0, 0.0
    while waited + policy.backoff.lower(steps) <= outage_s:  # the most probes the schedule allows
        waited += policy.backoff.lower(steps)
        steps += 1
    assert policy.threshold < during <= policy.threshold + steps, during  # 30 messages waiting: 15 requests
    gateway.mode = "ok"
    for _ in range(400):
        d.send_due(limit=1000)
        clock.t += 1
    to = sorted(m["to"] for m in gateway.messages)
    assert to == sorted(phones.values())  # every message once, none twice
    states = [x.state for x in d.store.by_notification("n-1")]
    assert states == [State.SENT] * 30
    assert max(x.attempts for x in d.store.by_notification("n-1")) <= dl.POLICY.max_attempts


def test_a_429_with_retry_after_puts_the_next_attempt_that_far_away(redis_client, gateway):
    clock = Clock()
    gateway.mode, gateway.retry_after = "429", "120"
    d = dispatcher(redis_client, {"sms": sms(gateway)}, clock)
    queue(d.store, 1, clock)
    (after,) = d.send_due()
    assert after.state is State.FAILED and after.next_attempt_at == clock.t + 120 and after.error_code == "20429"


def test_a_permanent_failure_is_a_dead_letter_with_its_code_and_an_operator_retry_sends_it_again(
        redis_client, gateway):
    clock = Clock()
    gateway.mode = "21211"
    d = dispatcher(redis_client, {"sms": sms(gateway)}, clock)
    (x,) = queue(d.store, 1, clock)
    d.send_due()
    clock.t += 3600
    d.send_due()
    (dead,) = d.store.dead()
    assert dead.error_code == "21211" and dead.attempts == 1 and len(gateway.posts()) == 1
    assert PHONE not in (dead.last_error or "") and dead.target_masked == "+55 21 9****-**00"
    gateway.mode = "ok"
    d.store.retry(x.id, clock.t, by="ana")
    (sent,) = d.send_due()
    assert sent.state is State.SENT and len(gateway.messages) == 1


def test_a_recipient_gone_before_the_send_is_cancelled_and_nothing_is_sent(redis_client, gateway):
    clock = Clock()
    d = dispatcher(redis_client, {"sms": sms(gateway)}, clock, targets=lambda x: None)
    queue(d.store, 1, clock)
    (cancelled,) = d.send_due()
    assert cancelled.state is State.CANCELLED and gateway.requests == []


def test_a_delivery_for_a_disabled_channel_is_a_dead_letter_that_says_why(redis_client):
    clock = Clock()
    d = dispatcher(redis_client, {}, clock)
    queue(d.store, 1, clock)
    (dead,) = d.send_due()
    assert dead.state is State.DEAD and "sms channel is not enabled" in dead.last_error


def test_the_sender_killed_after_the_gateway_took_the_sms_neither_duplicates_nor_loses_it(redis_client, gateway):
    clock = Clock(time.time())
    chans = {"sms": sms(gateway)}
    first = dispatcher(redis_client, chans, clock)
    (x,) = queue(first.store, 1, clock)
    claimed = first.store.claim_for_send(x.id, clock())  # what attempt() does, up to the send...
    chans["sms"].send(claimed.body(), PHONE, claimed.idempotency_key)  # ...then it died before recording
    restarted = dispatcher(redis_client, chans, clock)
    assert restarted.recover() == []  # its request might still be in flight: not yet
    clock.t += chans["sms"].send_timeout_s * 2 + 1
    (recovered,) = restarted.recover()
    assert recovered.state is State.SENT and recovered.provider_id == gateway.messages[0]["sid"]
    clock.t += 3600
    assert restarted.send_due() == [] and restarted.recover() == []
    assert len(gateway.posts()) == 1


def test_the_sender_killed_before_the_sms_left_sends_it_after_checking_with_the_gateway(redis_client, gateway):
    clock = Clock(time.time())
    chans = {"sms": sms(gateway)}
    d = dispatcher(redis_client, chans, clock)
    (x,) = queue(d.store, 1, clock)
    d.store.claim_for_send(x.id, clock())  # and died
    clock.t += chans["sms"].send_timeout_s * 2 + 1
    (checked,) = d.recover()
    assert checked.state is State.FAILED and "checked" in checked.last_error
    clock.t = checked.next_attempt_at
    (sent,) = d.send_due()
    assert sent.state is State.SENT and len(gateway.messages) == 1
    assert [r["method"] for r in gateway.requests] == ["GET", "POST"]


def test_an_sms_whose_answer_never_came_is_checked_with_the_gateway_not_resent_blindly(redis_client, gateway):
    clock = Clock(time.time())
    gateway.mode = "accept-hang"
    chans = {"sms": sms(gateway)}
    d = dispatcher(redis_client, chans, clock)
    queue(d.store, 1, clock)
    (waiting,) = d.send_due()
    assert waiting.state is State.SENDING  # ambiguous: left for recovery
    gateway.mode = "ok"
    clock.t += chans["sms"].send_timeout_s * 2 + 1
    (recovered,) = d.recover()
    assert recovered.state is State.SENT and len(gateway.messages) == 1 and len(gateway.posts()) == 1


def test_an_interrupted_sms_the_gateway_cannot_vouch_for_is_unknown_after_an_hour_and_never_resent(
        redis_client, gateway):
    clock = Clock(time.time())
    gateway.listing = False
    chans = {"sms": sms(gateway)}
    d = dispatcher(redis_client, chans, clock)
    (x,) = queue(d.store, 1, clock)
    d.store.claim_for_send(x.id, clock())
    clock.t += chans["sms"].send_timeout_s * 2 + 1
    assert d.recover() == [] and d.store.get(x.id).state is State.SENDING
    clock.t += d.unknown_after_s
    (unknown,) = d.recover()
    assert unknown.state is State.UNKNOWN and "not resent" in unknown.last_error
    clock.t += 86400
    assert d.send_due() == [] and gateway.posts() == []


def test_an_interrupted_webhook_is_sent_again_with_the_same_webhook_id(redis_client, receiver):
    clock = Clock(time.time())
    chans = {"webhook": WebhookChannel()}
    d = dispatcher(redis_client, chans, clock, targets=lambda x: Subscriber(receiver.url))
    (x,) = queue(d.store, 1, clock, channel="webhook", payload=BODY)
    claimed = d.store.claim_for_send(x.id, clock())
    chans["webhook"].send(claimed.body(), Subscriber(receiver.url), claimed.idempotency_key)  # then died
    clock.t += chans["webhook"].send_timeout_s * 2 + 1
    (again,) = d.recover()
    clock.t = again.next_attempt_at
    (delivered,) = d.send_due()
    assert delivered.state is State.DELIVERED
    assert [wid for wid, _ in receiver.verified] == [x.idempotency_key] * 2  # the receiver can dedupe


def test_the_log_channel_delivers_through_the_dispatcher(redis_client, caplog):
    clock = Clock()
    d = dispatcher(redis_client, {"log": LogChannel()}, clock, targets=lambda x: "log")
    queue(d.store, 1, clock, channel="log", payload={"kind": "incident", "severity": "warning", "change": "opened",
                                                      "incident_id": "inc-9", "zone_ids": ["023"]})
    with caplog.at_level(logging.WARNING, logger="opscentre.notify"):
        (done,) = d.send_due()
    assert done.state is State.DELIVERED and "WARNING incident inc-9 opened [023]" in caplog.text


def test_many_deliveries_sent_concurrently_each_reach_the_gateway_once(redis_client, gateway):
    clock = Clock()
    phones = {f"r-{i}": f"+55219876{i:05d}" for i in range(60)}
    d = dispatcher(redis_client, {"sms": sms(gateway)}, clock, targets=lambda x: phones[x.recipient_id])
    queue(d.store, 60, clock)
    with ThreadPoolExecutor(8) as pool:
        sent = d.send_due(limit=1000, executor=pool) + d.send_due(limit=1000, executor=pool)
    assert len(sent) == 60 and {x.state for x in sent} == {State.SENT}
    assert sorted(m["to"] for m in gateway.messages) == sorted(phones.values())


def test_a_receipt_that_settles_a_delivery_mid_send_is_kept_over_the_senders_late_failure(redis_client, gateway):
    clock = Clock(time.time())
    gateway.mode = "500"
    channel = sms(gateway)
    d = dispatcher(redis_client, {"sms": channel}, clock)
    (x,) = queue(d.store, 1, clock)
    original_send = channel.send_async

    async def send_while_a_receipt_lands(payload, target, key):
        d.store.apply_receipt("SM-earlier", "delivered", None, clock(), key=key)
        return await original_send(payload, target, key)

    channel.send_async = send_while_a_receipt_lands
    (after,) = d.send_due()
    assert after.state is State.DELIVERED and after.provider_id == "SM-earlier"
