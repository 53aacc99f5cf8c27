"""One asyncio event loop on a background thread, where the channels' HTTP requests run.

A thousand messages a second to a gateway answering in 50 ms means fifty and more requests in
flight at once. As threads (one blocking request each) they spend their time fighting over the
GIL; as coroutines on one loop, over aiohttp's kept-alive connections, they cost a fraction of
that. The dispatcher stays synchronous (its Redis round trips are short): it submits each send
here and waits for the chunk's results.

The loop is per process: a child made by fork() starts its own on first use.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar
from urllib.parse import urlsplit

import certifi
import requests

T = TypeVar("T")

_lock = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop] | None = None


def loop() -> asyncio.AbstractEventLoop:
    """This process's background loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop[0] != os.getpid():
            new = asyncio.new_event_loop()
            threading.Thread(target=new.run_forever, name="notify-aio", daemon=True).start()
            _loop = (os.getpid(), new)
        return _loop[1]


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Run `coro` on the background loop; its result (or exception) comes through the future."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the background loop and wait for it (from any thread but the loop's own)."""
    return submit(coro).result()


def proxy_for(url: str) -> str | None:
    """The proxy for `url` from the environment as requests reads it (HTTPS_PROXY / NO_PROXY...),
    read once: aiohttp's own trust_env reads the environment and ~/.netrc on every request."""
    return requests.utils.get_environ_proxies(url).get(urlsplit(url).scheme)


def ssl_context() -> ssl.SSLContext:
    """Certificates checked against the bundle requests would use (REQUESTS_CA_BUNDLE /
    CURL_CA_BUNDLE, else certifi's)."""
    return ssl.create_default_context(
        cafile=os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where())


def close_later(session: Any) -> None:
    """Close an aiohttp session on the loop without waiting (its channel was dropped); nothing
    to do when the loop is another process's or gone."""
    current = _loop
    if current is None or current[0] != os.getpid() or current[1].is_closed():
        return
    try:
        asyncio.run_coroutine_threadsafe(session.close(), current[1])
    except RuntimeError:  # the loop is shutting down
        pass
