"""Webhook subscribers: partner systems that receive alerts as signed JSON POSTs.

Each has its own signing secret in the Standard Webhooks form, "whsec_" + base64 of random
bytes — what `standardwebhooks.Webhook(secret)` (and the spec's libraries in other languages)
take to sign and verify. A secret is shown once, when it is created; listings mask it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from redis import Redis
from standardwebhooks import Webhook

from opscentre.core import keys
from opscentre.core.alerting.rules import AlertSeverity

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64
MAX_URL = 2000


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_secret(secret: str) -> str:
    """The secret if it is "whsec_" + standard base64 of 24 to 64 bytes; ValueError otherwise."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a secret starts with {SECRET_PREFIX} (the Standard Webhooks form)")
    try:
        encoded = secret[len(SECRET_PREFIX):]
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)  # padding optional, as there
    except (binascii.Error, ValueError):
        raise ValueError(f"a secret is {SECRET_PREFIX} followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(f"a secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes "
                         f"(this one {len(key)}); omit --secret to have one generated")
    Webhook(secret)  # what signs with it must accept it
    return secret


def masked_secret(secret: str) -> str:
    return f"{SECRET_PREFIX}****{secret[-4:]}" if len(secret) > len(SECRET_PREFIX) + 8 else SECRET_PREFIX + "****"


def check_url(url: str) -> str:
    """An http(s) URL with a host and no credentials in it; ValueError with the reason."""
    if len(url) > MAX_URL:
        raise ValueError(f"a URL holds at most {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError("a URL may not hold spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("a webhook URL must be http:// or https://")
    if not parts.hostname:
        raise ValueError("a webhook URL needs a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("no credentials in the URL: the receiver verifies the signature instead")
    return url


class WebhookSubscriber(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    url: str
    secret: str
    min_severity: AlertSeverity = AlertSeverity.ADVISORY
    created_at: float
    enabled: bool = True  # a disabled subscriber is kept (and its secret) but sent nothing new

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_url(url)

    @field_validator("secret")
    @classmethod
    def _secret(cls, secret: str) -> str:
        return check_secret(secret)

    @classmethod
    def create(cls, url: str, now: float, secret: str | None = None,
               min_severity: AlertSeverity | str = AlertSeverity.ADVISORY) -> WebhookSubscriber:
        """A new subscriber (id "w-" + hex; a generated secret unless one is given);
        ValueError with the reason for a bad URL, secret or severity."""
        try:
            return cls(id="w-" + secrets.token_hex(6), url=url, secret=secret or generate_secret(),
                       min_severity=min_severity, created_at=now)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise ValueError(f"{error['loc'][0]}: {str(error['msg']).removeprefix('Value error, ')}") from None

    def wants(self, severity: AlertSeverity | str) -> bool:
        """Whether a notification of this severity goes to this subscriber."""
        return AlertSeverity(severity).rank >= self.min_severity.rank

    def display(self) -> dict:
        """What a listing shows: everything but the secret, which is masked."""
        return {"id": self.id, "url": self.url, "secret": masked_secret(self.secret),
                "min_severity": self.min_severity.value, "created_at": self.created_at, "enabled": self.enabled}


class SubscriberStore:
    """The webhook subscribers in Redis (hash `oc:webhooks`)."""

    def __init__(self, redis: Redis):
        self.redis = redis

    def add(self, subscriber: WebhookSubscriber) -> WebhookSubscriber:
        self.redis.hset(keys.WEBHOOKS, subscriber.id, subscriber.model_dump_json())
        return subscriber

    def get(self, subscriber_id: str) -> WebhookSubscriber | None:
        raw = self.redis.hget(keys.WEBHOOKS, subscriber_id)
        return WebhookSubscriber.model_validate_json(raw) if raw is not None else None

    def list(self) -> list[WebhookSubscriber]:
        """Every subscriber, oldest first."""
        found = [WebhookSubscriber.model_validate_json(raw) for raw in self.redis.hvals(keys.WEBHOOKS)]
        return sorted(found, key=lambda s: (s.created_at, s.id))

    def set_enabled(self, subscriber_id: str, enabled: bool) -> WebhookSubscriber | None:
        """The subscriber as it now is, or None if there is none."""
        found: list[WebhookSubscriber] = []

        def change(pipe) -> None:
            found.clear()
            raw = pipe.hget(keys.WEBHOOKS, subscriber_id)
            if raw is None:
                return
            changed = WebhookSubscriber.model_validate_json(raw).model_copy(update={"enabled": enabled})
            pipe.multi()
            pipe.hset(keys.WEBHOOKS, subscriber_id, changed.model_dump_json())
            found.append(changed)

        self.redis.transaction(change, keys.WEBHOOKS)
        return found[0] if found else None

    def remove(self, subscriber_id: str) -> WebhookSubscriber | None:
        """The removed subscriber, or None if there was none."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hget(keys.WEBHOOKS, subscriber_id)
        pipe.hdel(keys.WEBHOOKS, subscriber_id)
        raw, _ = pipe.execute()
        return WebhookSubscriber.model_validate_json(raw) if raw is not None else None
