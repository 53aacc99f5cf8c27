"""Webhook subscribers: http(s) URLs only, Standard Webhooks secrets that the spec's library
signs and verifies with, masked in listings; minimum severity; stored in a real Redis."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from opscentre.core import keys
from opscentre.core.alerting.rules import AlertSeverity
from opscentre.core.notify.subscribers import (
    SubscriberStore,
    WebhookSubscriber,
    generate_secret,
    masked_secret,
)

URL = "https://partner.example.org/hooks/opscentre"
NOW = 1_750_000_000.0


def test_a_generated_secret_signs_what_the_standard_webhooks_library_verifies():
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert generate_secret() != secret
    body, msg_id, at = b'{"alert": "rain"}', "msg_1", datetime.now(UTC)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode())}
    assert Webhook(secret).verify(body, headers) == {"alert": "rain"}
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)


def test_a_new_subscriber_gets_an_id_a_secret_and_sees_every_severity_by_default():
    sub = WebhookSubscriber.create(URL, NOW)
    assert sub.id.startswith("w-") and len(sub.id) == 14
    assert sub.secret.startswith("whsec_") and sub.created_at == NOW
    assert sub.min_severity == AlertSeverity.ADVISORY and sub.wants("advisory")


def test_the_minimum_severity_decides_what_a_subscriber_wants():
    sub = WebhookSubscriber.create(URL, NOW, min_severity="critical")
    assert [s.value for s in AlertSeverity if sub.wants(s)] == ["critical", "emergency"]


def test_a_secret_given_in_the_spec_form_is_kept_padded_or_not():
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode().rstrip("=")
    assert WebhookSubscriber.create(URL, NOW, secret=secret).secret == secret
    Webhook(secret)  # the library takes it too


@pytest.mark.parametrize("url,reason", [
    ("ftp://partner.example.org/x", "must be http:// or https://"),
    ("javascript:alert(1)", "must be http:// or https://"),
    ("file:///etc/passwd", "must be http:// or https://"),
    ("partner.example.org/hook", "must be http:// or https://"),
    ("https://", "needs a host"),
    ("https://user:pass@partner.example.org/", "no credentials in the URL"),
    ("https://partner.example.org:99999/", "not a URL"),
    ("https://partner.example.org/a b", "spaces or control characters"),
    ("https://partner.example.org/\r\nX-Evil: 1", "spaces or control characters"),
    ("https://x.org/" + "a" * 2000, "at most 2000 characters"),
])
def test_a_url_that_is_not_http_or_https_with_a_host_is_refused_with_the_reason(url, reason):
    with pytest.raises(ValueError, match=reason) as caught:
        WebhookSubscriber.create(url, NOW)
    assert str(caught.value).startswith("url: ") and "\n" not in str(caught.value)


@pytest.mark.parametrize("secret,reason", [
    ("hunter2", "starts with whsec_"),
    ("whsec_", "24 to 64 random bytes"),
    ("whsec_!!!!not-base64", "followed by base64"),
    ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 random bytes"),
    ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64 random bytes"),
])
def test_a_secret_not_in_the_standard_webhooks_form_is_refused(secret, reason):
    with pytest.raises(ValueError, match=reason):
        WebhookSubscriber.create(URL, NOW, secret=secret)


def test_an_unknown_severity_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="min_severity: .*'advisory', 'warning', 'critical' or 'emergency'"):
        WebhookSubscriber.create(URL, NOW, min_severity="loud")


def test_listings_mask_the_secret():
    sub = WebhookSubscriber.create(URL, NOW)
    shown = sub.display()
    assert shown["secret"] == "whsec_****" + sub.secret[-4:] and sub.secret[6:-4] not in str(shown)
    assert masked_secret("whsec_abc") == "whsec_****"


def test_the_store_adds_gets_lists_oldest_first_and_removes(redis_client):
    store = SubscriberStore(redis_client)
    later = store.add(WebhookSubscriber.create("http://127.0.0.1:9000/b", NOW + 1, min_severity="warning"))
    earlier = store.add(WebhookSubscriber.create(URL, NOW))
    assert store.get(later.id) == later and store.get("w-nope") is None
    assert store.list() == [earlier, later]
    assert redis_client.hget(keys.WEBHOOKS, earlier.id) == earlier.model_dump_json().encode()
    assert store.remove(earlier.id) == earlier
    assert store.remove(earlier.id) is None
    assert store.list() == [later]
