"""The two kinds of Redis client the web processes use.

- `resilient`: the app's client (retries with backoff, survives Redis restarts).
- `quick`: for /healthz and /metrics, which must answer within a second or two even when
  Redis is down: short timeouts, no retries.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from opscentre.core.connection import client_from_url, connect
from opscentre.core.connection import REDIS_DOWN  # noqa: F401 (what the web processes catch; defined once in core)

QUICK_TIMEOUT_S = 0.75


def resilient(url: str) -> redis.Redis:
    return connect(url, check=False)


def quick(url: str) -> redis.Redis:
    if not url:  # Sentinel (OPSCENTRE_REDIS_SENTINELS): core.connection knows how to find the master
        return connect(None, check=False)
    # Same URL handling as every process (password, rediss:// options, OPSCENTRE_REDIS_PASSWORD)
    return client_from_url(url, socket_connect_timeout=QUICK_TIMEOUT_S, socket_timeout=QUICK_TIMEOUT_S,
                           retry=Retry(NoBackoff(), 0), retry_on_error=[], health_check_interval=0)

