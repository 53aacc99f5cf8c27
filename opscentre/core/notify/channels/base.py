"""What every channel is: the Channel protocol, its result, and its typed failure."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import requests

from opscentre.core.errors import OpscentreError
from opscentre.core.notify.deliveries import Receipt, State


@dataclass(frozen=True)
class SendResult:
    provider_id: str | None
    status: State  # SENT: the provider accepted it, receipts follow; DELIVERED: the receiver has it


class DeliveryFailed(OpscentreError):
    """A send failed. `retryable`: trying again later may work (5xx, 429, timeouts, connection
    errors); `retry_after_s`: the server asked us to wait this long; `code`: the provider's
    error code; `ambiguous`: the request may have reached the provider (a read timeout, a 2xx
    whose body made no sense), so a channel that cannot be resent safely checks before resending.
    The reason never holds a secret or a full phone number."""

    kind = "delivery"

    def __init__(self, reason: str, retryable: bool, retry_after_s: float | None = None,
                 code: str | None = None, ambiguous: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.code = code
        self.ambiguous = ambiguous


class ChannelDisabled(OpscentreError):
    """The channel is not configured; the message says what is missing (never a secret)."""

    kind = "disabled"


@runtime_checkable
class Channel(Protocol):
    name: str
    resend_safe: bool  # may an interrupted send be repeated? (True when the receiver dedupes by key)
    send_timeout_s: float  # the longest one send can take: a `sending` delivery older than this is stale

    def send(self, payload: Any, target: Any, idempotency_key: str) -> SendResult:
        """Send once. Raises DeliveryFailed."""

    def gateway(self, target: Any) -> str:
        """The gateway this target is reached through: one circuit breaker each."""

    def masked(self, target: Any) -> str:
        """The target as operators and logs may see it."""


@runtime_checkable
class AsyncSending(Channel, Protocol):
    """A channel that can send as a coroutine: the dispatcher runs its sends on the channels'
    event loop (aio.py) instead of a thread each."""

    async def send_async(self, payload: Any, target: Any, idempotency_key: str) -> SendResult:
        """Send once. Raises DeliveryFailed."""


@runtime_checkable
class Verifiable(Channel, Protocol):
    """A channel that cannot be resent blindly (SMS) asks its provider after an interrupted send."""

    def lookup(self, payload: Any, target: Any, idempotency_key: str, since: float) -> Receipt | None:
        """The provider's record of this message sent at or after `since`, or None when the
        provider answered and has none. Raises DeliveryFailed when it cannot tell."""


def retry_after_s(value: str | None, now: float) -> float | None:
    """A Retry-After header (delta-seconds or an HTTP date) as seconds from now; None if absent
    or unreadable; never negative."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def http_session(pool_size: int = 32) -> requests.Session:
    """A keep-alive Session with room for `pool_size` connections per host and no hidden retries
    (retries are the delivery lifecycle's, counted and backed off)."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def read_body(response: requests.Response, limit: int) -> bytes | None:
    """The body of a streamed response, or None when it is longer than `limit` bytes (the rest is
    not read) or breaks off."""
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(8192):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    except requests.exceptions.RequestException:
        return None
    return b"".join(chunks)
