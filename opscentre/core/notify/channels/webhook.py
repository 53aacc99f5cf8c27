"""Webhooks: a JSON POST signed as the Standard Webhooks specification says.

Headers `webhook-id` (the delivery's idempotency key: the same message always carries the same
id, so a receiver dedupes a resend), `webhook-timestamp` (unix seconds) and `webhook-signature`
("v1,<base64 HMAC-SHA256 of id.timestamp.body>", made by the `standardwebhooks` package), which
any receiver checks with that spec's libraries. One keep-alive Session, connect and read
timeouts, redirects not followed. 2xx: delivered. 5xx, 408, 429 (Retry-After honoured), timeouts
and connection errors: retryable. Any other answer: permanent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
import requests
from standardwebhooks import Webhook

from opscentre.core.notify.channels.base import DeliveryFailed, SendResult, http_session, read_body, retry_after_s
from opscentre.core.notify.deliveries import State
from opscentre.core.notify.subscribers import check_url

USER_AGENT = "opscentre-webhooks/1"
RETRYABLE_4XX = frozenset({408, 429})


class WebhookTarget(Protocol):
    url: str
    secret: str  # "whsec_<base64>"


class WebhookChannel:
    name = "webhook"
    resend_safe = True  # the receiver dedupes by webhook-id

    def __init__(self, session: requests.Session | None = None, connect_timeout_s: float = 3.05,
                 read_timeout_s: float = 10.0, pool_size: int = 32, max_response_bytes: int = 64 * 1024,
                 clock: Callable[[], float] = time.time):
        self.session = session or http_session(pool_size)
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.send_timeout_s = connect_timeout_s + read_timeout_s
        self.max_response_bytes = max_response_bytes
        self.clock = clock  # the wall clock: signatures are checked against the receiver's

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookChannel:
        return cls()

    def gateway(self, target: WebhookTarget) -> str:
        host, port = _host_port(target.url)
        return f"webhook:{host}:{port}"

    def masked(self, target: WebhookTarget) -> str:
        """Scheme, host, port and path: no user:password@, no query string (either may hold a token)."""
        host, port = _host_port(target.url)
        return f"{urlsplit(target.url).scheme}://{host}{':' + port if port else ''}{urlsplit(target.url).path}"

    def send(self, payload: Any, target: WebhookTarget, idempotency_key: str) -> SendResult:
        try:
            check_url(target.url)
        except ValueError as exc:
            raise DeliveryFailed(str(exc), retryable=False) from None
        try:
            signer = Webhook(target.secret)
        except Exception:
            raise DeliveryFailed("the subscriber's secret is not a whsec_ base64 key", retryable=False) from None
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        now = self.clock()
        headers = {
            "content-type": "application/json", "user-agent": USER_AGENT,
            "webhook-id": idempotency_key, "webhook-timestamp": str(int(now)),
            "webhook-signature": signer.sign(idempotency_key, datetime.fromtimestamp(int(now), timezone.utc), body),
        }
        try:
            response = self.session.post(target.url, data=body, headers=headers, timeout=self.timeout,
                                         allow_redirects=False, stream=True)
        except requests.exceptions.ConnectTimeout:
            raise DeliveryFailed(f"timed out connecting to {self.masked(target)}", retryable=True) from None
        except requests.exceptions.ReadTimeout:
            raise DeliveryFailed(f"no answer from {self.masked(target)} within {self.timeout[1]} s",
                                 retryable=True, ambiguous=True) from None
        except requests.exceptions.RequestException as exc:
            raise DeliveryFailed(f"cannot reach {self.masked(target)}: {type(exc).__name__}",
                                 retryable=True, ambiguous=True) from None
        with response:
            read_body(response, self.max_response_bytes)  # read, so the connection is kept alive
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(provider_id=None, status=State.DELIVERED)
        wait = retry_after_s(response.headers.get("retry-after"), self.clock())
        if status >= 500 or status in RETRYABLE_4XX:
            raise DeliveryFailed(f"{self.masked(target)} answered {status}", retryable=True,
                                 retry_after_s=wait, code=str(status))
        why = "redirects are not followed" if 300 <= status < 400 else "not retried"
        raise DeliveryFailed(f"{self.masked(target)} answered {status} ({why})", retryable=False, code=str(status))


def _host_port(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    try:
        port = str(parts.port or "")
    except ValueError:
        port = "?"
    return (parts.hostname or "").lower(), port
