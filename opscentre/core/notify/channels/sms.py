"""SMS through a Twilio-compatible REST API.

`POST {root}/2010-04-01/Accounts/{sid}/Messages.json` with the form fields To, From, Body and
StatusCallback, HTTP basic auth (account sid, auth token); the answer is the Message resource
(`sid`, `status`). Settings come from the environment only (never the YAML); without them the
channel is disabled and says why — never a crash.

Failures: 5xx, 429 (Retry-After honoured), Twilio code 20429, timeouts and connection errors
are retryable; so is a 2xx without a message sid (HTML from a proxy, garbage), but since the
provider may have taken that one it is marked ambiguous, checked with `lookup` before any
resend. The Twilio codes in NUMBER_CODES say this number will never take an SMS: permanent.
Any other 4xx is permanent too. The auth token and full phone numbers are never in a reason.

Requests go through aiohttp on the channels' event loop (aio.py): the notifier awaits
`send_async` for hundreds of messages at once over kept-alive connections; `send` and `lookup`
are the same requests, waited for.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import os
import re
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import orjson

from opscentre.core.notify.channels import aio
from opscentre.core.notify.channels.base import ChannelDisabled, DeliveryFailed, SendResult, retry_after_s
from opscentre.core.notify.deliveries import Receipt, State
from opscentre.core.notify.phones import masked as masked_phone

DEFAULT_API_URL = "https://api.twilio.com"
STATUS_PATH = "/webhooks/sms-status"
MAX_RESPONSE_BYTES = 1024 * 1024
LOOKUP_SKEW_S = 120.0  # clock difference tolerated between us and the provider
LOOKUP_PAGE = 50

# Twilio error codes (https://www.twilio.com/docs/api/errors) that mean this number cannot take SMS
NUMBER_CODES = {
    "21211": "invalid 'To' number",
    "21217": "the number does not appear to be valid",
    "21401": "invalid phone number",
    "21407": "this kind of number does not take SMS",
    "21408": "the account may not send SMS to this region",
    "21610": "the recipient unsubscribed (replied STOP to the sender)",
    "21612": "the number cannot be reached by SMS",
    "21614": "not a mobile number",
}
RETRYABLE_CODES = {"20429": "too many requests", "20500": "provider error", "20503": "provider unavailable"}


@dataclass(frozen=True)
class SmsSettings:
    api_url: str = DEFAULT_API_URL
    account_sid: str = ""
    auth_token: str = field(default="", repr=False)
    sender: str = ""  # OPSCENTRE_SMS_FROM: an E.164 number, short code or sender id
    public_url: str = ""  # OPSCENTRE_PUBLIC_URL: where the provider posts receipts
    problem: str | None = None  # a setting that is there but unusable

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmsSettings:
        token, problem = env.get("TWILIO_AUTH_TOKEN", ""), None
        if not token and env.get("TWILIO_AUTH_TOKEN_FILE"):
            try:
                with open(env["TWILIO_AUTH_TOKEN_FILE"], encoding="utf-8") as file:
                    token = file.read().strip()
            except OSError as exc:
                problem = f"cannot read TWILIO_AUTH_TOKEN_FILE: {exc.strerror}"
        api_url = (env.get("OPSCENTRE_SMS_API_URL") or DEFAULT_API_URL).rstrip("/")
        if urlsplit(api_url).scheme not in ("http", "https") or not urlsplit(api_url).hostname:
            problem = "OPSCENTRE_SMS_API_URL is not an http(s) URL"
        return cls(api_url=api_url, account_sid=env.get("TWILIO_ACCOUNT_SID", "").strip(), auth_token=token,
                   sender=env.get("OPSCENTRE_SMS_FROM", "").strip(),
                   public_url=env.get("OPSCENTRE_PUBLIC_URL", "").strip().rstrip("/"), problem=problem)

    @property
    def disabled_reason(self) -> str | None:
        missing = [name for name, value in (("TWILIO_ACCOUNT_SID", self.account_sid),
                                            ("TWILIO_AUTH_TOKEN", self.auth_token),
                                            ("OPSCENTRE_SMS_FROM", self.sender)) if not value]
        if self.problem:
            return f"SMS disabled: {self.problem}"
        return f"SMS disabled: no {' / '.join(missing)}" if missing else None

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    @property
    def messages_url(self) -> str:
        return f"{self.api_url}/2010-04-01/Accounts/{quote(self.account_sid, safe='')}/Messages.json"

    def status_callback(self, idempotency_key: str) -> str | None:
        """The receipt URL; it names the delivery (`k`), so a receipt finds its delivery even when
        the sender died before recording the provider's message sid."""
        if not self.public_url:
            return None
        return f"{self.public_url}{STATUS_PATH}?k={quote(idempotency_key, safe='')}"


class SmsChannel:
    name = "sms"
    resend_safe = False  # an SMS cannot be unsent, and the API takes no idempotency key: look it up first

    def __init__(self, settings: SmsSettings, connect_timeout_s: float = 3.05, read_timeout_s: float = 10.0,
                 pool_size: int = 512, clock: Callable[[], float] = time.time):
        if not settings.enabled:
            raise ChannelDisabled(settings.disabled_reason)
        self.settings = settings
        self.pool_size = pool_size
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s)
        self.read_timeout_s = read_timeout_s
        credentials = base64.b64encode(f"{settings.account_sid}:{settings.auth_token}".encode()).decode()
        self._headers = {"accept": "application/json", "authorization": f"Basic {credentials}"}
        self._form_headers = {**self._headers, "content-type": "application/x-www-form-urlencoded"}
        self.send_timeout_s = connect_timeout_s + read_timeout_s
        self.clock = clock  # the wall clock, for Retry-After dates
        self._session: tuple[int, aiohttp.ClientSession] | None = None
        self.proxy = aio.proxy_for(settings.api_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmsChannel:
        return cls(SmsSettings.from_env(env))

    def gateway(self, target: str) -> str:
        parts = urlsplit(self.settings.api_url)
        return f"sms:{parts.hostname}:{parts.port or ''}"

    def masked(self, target: str) -> str:
        return masked_phone(target)

    def send(self, payload: Any, target: str, idempotency_key: str) -> SendResult:
        return aio.run(self.send_async(payload, target, idempotency_key))

    async def send_async(self, payload: Any, target: str, idempotency_key: str) -> SendResult:
        """Send once, on the channels' event loop (aio.py). Raises DeliveryFailed."""
        form = {"To": target, "From": self.settings.sender, "Body": _text(payload)}
        callback = self.settings.status_callback(idempotency_key)
        if callback:
            form["StatusCallback"] = callback
        status, headers, body = await self._request("POST", data=urlencode(form).encode(), headers=self._form_headers)
        sid = body.get("sid") if isinstance(body, dict) else None
        if 200 <= status < 300:
            if isinstance(sid, str) and sid:
                return SendResult(provider_id=sid, status=State.SENT)
            kind = headers.get("content-type", "no content type").split(";")[0]
            raise DeliveryFailed(f"the gateway answered {status} without a message sid ({kind})",
                                 retryable=True, ambiguous=True)
        raise self._failure(status, headers, body)

    def lookup(self, payload: Any, target: str, idempotency_key: str, since: float) -> Receipt | None:
        """The provider's message to `target` with this text created since `since` (Twilio's
        Message list, filtered by To and From), or None when the provider has none."""
        status, _, body = aio.run(self._request("GET", headers=self._headers, params={
            "To": target, "From": self.settings.sender, "PageSize": LOOKUP_PAGE}))
        if not (200 <= status < 300) or not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise DeliveryFailed(f"the gateway cannot list messages (answered {status})",
                                 retryable=True, code=str(status))
        text = _text(payload)
        for message in body["messages"]:
            if not isinstance(message, dict) or message.get("body") != text or not message.get("sid"):
                continue
            created = _rfc2822(message.get("date_created"))
            if created is not None and created >= since - LOOKUP_SKEW_S:
                code = message.get("error_code")
                return Receipt(provider_id=str(message["sid"]), status=str(message.get("status") or "sent"),
                               error_code=None if code is None else str(code))
        return None

    async def _request(self, method: str, headers: dict[str, str], data: bytes | None = None,
                       params: dict[str, Any] | None = None) -> tuple[int, Mapping[str, str], Any]:
        """The status, headers and JSON body (None when it is not JSON, or longer than allowed)."""
        where = urlsplit(self.settings.api_url).netloc
        url = self.settings.messages_url + (f"?{urlencode(params)}" if params else "")
        try:
            async with self._client().request(method, url, data=data, headers=headers, allow_redirects=False,
                                              proxy=self.proxy) as response:
                return response.status, response.headers, _json(await _read_body(response, MAX_RESPONSE_BYTES))
        except aiohttp.ClientConnectorError:  # refused, no route, DNS: the request never left
            raise DeliveryFailed(f"cannot reach the SMS gateway {where}", retryable=True) from None
        except aiohttp.ConnectionTimeoutError:
            raise DeliveryFailed(f"timed out connecting to the SMS gateway {where}", retryable=True) from None
        except (aiohttp.SocketTimeoutError, asyncio.TimeoutError):
            raise DeliveryFailed(f"no answer from the SMS gateway {where} within {self.read_timeout_s} s",
                                 retryable=True, ambiguous=True) from None
        except aiohttp.ClientError as exc:  # the connection broke off mid-request
            raise DeliveryFailed(f"SMS gateway request failed ({type(exc).__name__})", retryable=True,
                                 ambiguous=True) from None

    def _client(self) -> aiohttp.ClientSession:
        """This process's session (kept-alive connections, up to pool_size), made on the loop."""
        if self._session is None or self._session[0] != os.getpid():
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.pool_size, ssl=aio.ssl_context()),
                                            timeout=self.timeout)
            self._session = (os.getpid(), session)
            weakref.finalize(self, aio.close_later, session)
        return self._session[1]

    def _failure(self, status: int, headers: Mapping[str, str], body: Any) -> DeliveryFailed:
        code = str(body.get("code")) if isinstance(body, dict) and body.get("code") is not None else None
        said = _scrub(str(body.get("message") or "")) if isinstance(body, dict) else ""
        detail = f"gateway answered {status}" + (f", code {code}" if code else "") + (f": {said}" if said else "")
        if status == 429 or status >= 500 or code in RETRYABLE_CODES:
            wait = retry_after_s(headers.get("retry-after"), self.clock())
            return DeliveryFailed(detail, retryable=True, retry_after_s=wait, code=code or str(status))
        if code in NUMBER_CODES:
            return DeliveryFailed(f"{NUMBER_CODES[code]} (code {code}; not retried)", retryable=False, code=code)
        if status in (401, 403):
            return DeliveryFailed(f"the gateway refused the credentials ({status}): check TWILIO_ACCOUNT_SID "
                                  f"and TWILIO_AUTH_TOKEN", retryable=False, code=code or str(status))
        return DeliveryFailed(f"{detail} (not retried)", retryable=False, code=code or str(status))


async def _read_body(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None when it is longer than `limit` bytes (the rest is not read: the connection
    is closed, not reused) or breaks off."""
    if response.content_length is not None and response.content_length <= limit:
        try:
            return await response.read()
        except aiohttp.ClientPayloadError:
            return None
    chunks, size = [], 0
    try:
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                response.close()
                return None
            chunks.append(chunk)
    except aiohttp.ClientPayloadError:
        return None
    return b"".join(chunks)


def _text(payload: Any) -> str:
    text = payload if isinstance(payload, str) else getattr(payload, "text", None)
    if not isinstance(text, str) or not text:
        raise DeliveryFailed("an SMS needs a text", retryable=False)
    return text


def _json(raw: bytes | None) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def _rfc2822(value: Any) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() if isinstance(value, str) else None
    except (TypeError, ValueError, IndexError):
        return None


_DIGITS = re.compile(r"\+?\d[\d ().-]{4,}\d")


def _scrub(text: str) -> str:
    """A provider's message without phone numbers (Twilio repeats the number it refused)."""
    return _DIGITS.sub(lambda m: "*" * 4 + m.group(0)[-2:], text)[:200]
