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
"""

from __future__ import annotations

import base64
import email.utils
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import orjson
import certifi
import requests
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ReadTimeoutError

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

    def __init__(self, settings: SmsSettings, pool: urllib3.PoolManager | None = None,
                 connect_timeout_s: float = 3.05, read_timeout_s: float = 10.0, pool_size: int = 256,
                 clock: Callable[[], float] = time.time):
        if not settings.enabled:
            raise ChannelDisabled(settings.disabled_reason)
        self.settings = settings
        self.pool = pool or connection_pool(settings.messages_url, pool_size)
        self.timeout = urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s)
        self.read_timeout_s = read_timeout_s
        credentials = base64.b64encode(f"{settings.account_sid}:{settings.auth_token}".encode()).decode()
        self._headers = {"accept": "application/json", "authorization": f"Basic {credentials}"}
        self._form_headers = {**self._headers, "content-type": "application/x-www-form-urlencoded"}
        self.send_timeout_s = connect_timeout_s + read_timeout_s
        self.clock = clock  # the wall clock, for Retry-After dates

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmsChannel:
        return cls(SmsSettings.from_env(env))

    def gateway(self, target: str) -> str:
        parts = urlsplit(self.settings.api_url)
        return f"sms:{parts.hostname}:{parts.port or ''}"

    def masked(self, target: str) -> str:
        return masked_phone(target)

    def send(self, payload: Any, target: str, idempotency_key: str) -> SendResult:
        form = {"To": target, "From": self.settings.sender, "Body": _text(payload)}
        callback = self.settings.status_callback(idempotency_key)
        if callback:
            form["StatusCallback"] = callback
        response, body = self._request("POST", data=urlencode(form).encode(), headers=self._form_headers)
        sid = body.get("sid") if isinstance(body, dict) else None
        if 200 <= response.status < 300:
            if isinstance(sid, str) and sid:
                return SendResult(provider_id=sid, status=State.SENT)
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise DeliveryFailed(f"the gateway answered {response.status} without a message sid ({kind})",
                                 retryable=True, ambiguous=True)
        raise self._failure(response, body)

    def lookup(self, payload: Any, target: str, idempotency_key: str, since: float) -> Receipt | None:
        """The provider's message to `target` with this text created since `since` (Twilio's
        Message list, filtered by To and From), or None when the provider has none."""
        response, body = self._request("GET", headers=self._headers, params={"To": target,
                                                                              "From": self.settings.sender,
                                                      "PageSize": LOOKUP_PAGE})
        if not (200 <= response.status < 300) or not isinstance(body, dict) \
                or not isinstance(body.get("messages"), list):
            raise DeliveryFailed(f"the gateway cannot list messages (answered {response.status})",
                                 retryable=True, code=str(response.status))
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

    def _request(self, method: str, headers: dict[str, str], data: bytes | None = None,
                 params: dict[str, Any] | None = None) -> tuple[urllib3.BaseHTTPResponse, Any]:
        """The response and its JSON body (None when it is not JSON, or longer than allowed)."""
        where = urlsplit(self.settings.api_url).netloc
        url = self.settings.messages_url + (f"?{urlencode(params)}" if params else "")
        try:
            response = self.pool.request(method, url, body=data, headers=headers, timeout=self.timeout,
                                         preload_content=False, redirect=False, retries=False)
        except NewConnectionError:  # refused, no route, DNS: the request never left
            raise DeliveryFailed(f"cannot reach the SMS gateway {where}", retryable=True) from None
        except ConnectTimeoutError:
            raise DeliveryFailed(f"timed out connecting to the SMS gateway {where}", retryable=True) from None
        except ReadTimeoutError:
            raise DeliveryFailed(f"no answer from the SMS gateway {where} within {self.read_timeout_s} s",
                                 retryable=True, ambiguous=True) from None
        except HTTPError as exc:  # the connection broke off mid-request
            raise DeliveryFailed(f"SMS gateway request failed ({type(exc).__name__})", retryable=True,
                                 ambiguous=True) from None
        return response, _json(_read_body(response, MAX_RESPONSE_BYTES))

    def _failure(self, response: requests.Response, body: Any) -> DeliveryFailed:
        status = response.status
        code = str(body.get("code")) if isinstance(body, dict) and body.get("code") is not None else None
        said = _scrub(str(body.get("message") or "")) if isinstance(body, dict) else ""
        detail = f"gateway answered {status}" + (f", code {code}" if code else "") + (f": {said}" if said else "")
        if status == 429 or status >= 500 or code in RETRYABLE_CODES:
            wait = retry_after_s(response.headers.get("retry-after"), self.clock())
            return DeliveryFailed(detail, retryable=True, retry_after_s=wait, code=code or str(status))
        if code in NUMBER_CODES:
            return DeliveryFailed(f"{NUMBER_CODES[code]} (code {code}; not retried)", retryable=False, code=code)
        if status in (401, 403):
            return DeliveryFailed(f"the gateway refused the credentials ({status}): check TWILIO_ACCOUNT_SID "
                                  f"and TWILIO_AUTH_TOKEN", retryable=False, code=code or str(status))
        return DeliveryFailed(f"{detail} (not retried)", retryable=False, code=code or str(status))


def connection_pool(url: str, size: int) -> urllib3.PoolManager:
    """Kept-alive connections (up to `size`) for one API root, with no hidden retries (retries are
    the delivery lifecycle's). urllib3 directly: requests costs more per call than the call itself
    at a thousand messages a second. Proxy and CA bundle from the environment as requests reads
    them (HTTPS_PROXY / NO_PROXY, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else certifi's)."""
    options = {"maxsize": size, "retries": False, "cert_reqs": "CERT_REQUIRED",
               "ca_certs": os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()}
    proxy = requests.utils.get_environ_proxies(url).get(urlsplit(url).scheme)
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


def _read_body(response: urllib3.BaseHTTPResponse, limit: int) -> bytes | None:
    """The body, or None when it is longer than `limit` bytes (the rest is not read: the connection
    is closed, not reused) or breaks off."""
    try:
        raw = response.read(limit + 1)
    except HTTPError:
        raw = None
    if raw is None or len(raw) > limit:
        response.close()
        raw = None
    response.release_conn()
    return raw


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
