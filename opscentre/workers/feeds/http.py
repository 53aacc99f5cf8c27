"""The one place feeds do HTTP: `fetch_bytes` (GET, bounded retries, size cap, timeouts).

Every failure to get a 2xx body becomes a `FetchError` (retryable) whose message names the
status or the network problem and the URL *without* its query string or credentials (a query
may carry an API key). What the body contains (HTML instead of JSON, say) is the parser's
business: fetch returns whatever bytes a 2xx response carried.

Retries are urllib3's: connection errors, read errors before the headers and the statuses in
RETRY_STATUSES are retried `retries` times with exponential backoff plus jitter; a
`Retry-After` header (429/503) is honoured, capped at MAX_RETRY_AFTER_S so one answer cannot
stall a worker for an hour.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from pydantic import AfterValidator
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from opscentre.core.errors import FetchError, NotModified

RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER_S = 60.0
USER_AGENT = "opscentre/1 (city operations centre feed poller)"
CHUNK = 64 * 1024


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("url must be an http:// or https:// URL")
    return value


# An endpoint in a feed's options: `url: FeedUrl = DEFAULT_URL` (checked when the config loads).
FeedUrl = Annotated[str, AfterValidator(_http_url)]


@dataclass
class HttpExchange:
    """Conditional-GET state of one feed, carried by its FeedContext through one poll.

    Before the poll: the validators of the last response that was stored (`etag`,
    `last_modified`), sent as If-None-Match / If-Modified-Since. After it: what the response
    said (`status`, `response_etag`, `response_last_modified`); the pipeline keeps those only
    once the payload is stored, so a payload that failed to parse is fetched again in full.
    """

    etag: str | None = None
    last_modified: str | None = None
    status: int | None = None
    response_etag: str | None = None
    response_last_modified: str | None = None

    def request_headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class _CappedRetry(Retry):
    """urllib3 Retry whose Retry-After wait is capped at MAX_RETRY_AFTER_S."""

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, MAX_RETRY_AFTER_S)


def fetch_bytes(
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: tuple[float, float] = (5, 20),
    max_bytes: int = 10_000_000,
    retries: int = 3,
    backoff_factor: float = 0.5,
    backoff_jitter: float = 0.5,
    backoff_max: float = 30.0,
    deadline_s: float | None = 120.0,
    exchange: HttpExchange | None = None,
) -> bytes:
    """GET `url` and return its body. Raises FetchError for anything but a complete 2xx body,
    and NotModified when `exchange` holds validators and the server answers 304.

    timeout is (connect, read) seconds, the read timeout applying to each wait for data;
    deadline_s bounds the whole body download (a server trickling bytes never times out a read).
    """
    headers = {**(exchange.request_headers() if exchange else {}), **(headers or {})}
    shown = safe_url(url)
    retry = _CappedRetry(
        total=retries,
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_jitter,
        backoff_max=backoff_max,
        status_forcelist=RETRY_STATUSES,
        allowed_methods={"GET"},
        respect_retry_after_header=True,
        raise_on_status=False,  # on exhaustion, hand back the last response: its status is the message
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    started = time.monotonic()
    try:
        try:
            response = session.get(
                url, params=params, headers={"User-Agent": USER_AGENT, **(headers or {})},
                timeout=timeout, stream=True,
            )
        except requests.RequestException as exc:
            raise FetchError(*_describe(exc, shown, retries)) from None
        try:
            if exchange is not None:
                exchange.status = response.status_code
                exchange.response_etag = response.headers.get("ETag")
                exchange.response_last_modified = response.headers.get("Last-Modified")
            if response.status_code == 304 and exchange is not None and exchange.request_headers():
                raise NotModified(f"{shown} not modified since the last stored payload")
            if not 200 <= response.status_code < 300:
                after = f" after {retries} retries" if response.status_code in RETRY_STATUSES and retries else ""
                reason = f" {response.reason}" if response.reason else ""
                kind = "rate_limited" if response.status_code == 429 else "http_status"
                raise FetchError(f"HTTP {response.status_code}{reason} from {shown}{after}", kind)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"response larger than {max_bytes} bytes ({declared} declared) from {shown}",
                                 "too_large")
            body = bytearray()
            try:
                # read1: return what one receive brings, so the deadline is checked as data trickles in
                while chunk := response.raw.read1(CHUNK, decode_content=True):
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"response larger than {max_bytes} bytes from {shown}", "too_large")
                    if deadline_s is not None and time.monotonic() - started > deadline_s:
                        raise FetchError(f"download from {shown} took longer than {deadline_s:g} s", "timeout")
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise FetchError(*_describe(exc, shown, 0, while_reading=True)) from None
            return bytes(body)
        finally:
            response.close()
    finally:
        session.close()


def safe_url(url: str) -> str:
    """The URL as it may appear in messages and health records: no query, fragment or credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _describe(exc: BaseException, shown: str, retries: int, while_reading: bool = False) -> tuple[str, str]:
    """(message, failure kind) for a requests/urllib3 exception."""
    after = f" (after {retries} retries)" if retries else ""
    if isinstance(exc, requests.ConnectTimeout):
        return f"connection to {shown} timed out{after}", "timeout"
    if isinstance(exc, (requests.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)) \
            or "timed out" in str(exc).lower():
        what = "reading the response from" if while_reading else "waiting for a response from"
        return f"timed out {what} {shown}{after}", "timeout"
    if isinstance(exc, requests.TooManyRedirects):
        return f"too many redirects from {shown}", "http_status"
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return f"invalid URL {shown}: {type(exc).__name__}", "fetch"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError)):
        return f"connection to {shown} broke while reading the response", "connection"
    if isinstance(exc, urllib3.exceptions.DecodeError):
        return f"cannot decode the compressed response from {shown}", "fetch"
    if isinstance(exc, (requests.ConnectionError, OSError)):
        return f"cannot connect to {shown}: {_root_reason(exc)}{after}", "connection"
    return f"request to {shown} failed: {type(exc).__name__}{after}", "fetch"


def _root_reason(exc: BaseException) -> str:
    """The innermost OS-level reason (e.g. '[Errno 111] Connection refused'), free of URLs."""
    seen: set[int] = set()
    node: BaseException | None = exc
    reason = type(exc).__name__
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, OSError) and node.strerror:
            return f"[Errno {node.errno}] {node.strerror}" if node.errno else node.strerror
        nested = getattr(node, "reason", None)
        if isinstance(nested, BaseException):
            node = nested
            continue
        if node.args and isinstance(node.args[0], BaseException):
            node = node.args[0]
            continue
        node = node.__cause__ or node.__context__
    text = str(exc)
    for marker in ("Failed to establish a new connection: ", "Connection refused", "Name or service not known"):
        if marker in text:
            tail = text.split(marker, 1)[1] if marker.endswith(": ") else marker
            return tail.split(")")[0].split("'")[0].strip() or reason
    return reason
