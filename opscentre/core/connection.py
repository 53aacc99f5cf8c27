"""How every process finds Redis: REDIS_URL, Sentinel, or the embedded server of the data dir."""

from __future__ import annotations

import os
from pathlib import Path

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from opscentre.core.errors import StoreUnavailable

EMBEDDED_URL_FILE = "redis.url"


def data_dir() -> Path:
    return Path(os.environ.get("OPSCENTRE_DATA_DIR") or "./var").resolve()


def redis_url() -> str | None:
    """REDIS_URL, else the URL the embedded server of this data directory recorded."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    recorded = data_dir() / EMBEDDED_URL_FILE
    if recorded.is_file():
        return recorded.read_text().strip() or None
    return None


def _client_options() -> dict:
    return {
        "socket_connect_timeout": 3,
        "socket_timeout": 10,
        "health_check_interval": 15,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.1, cap=2.0), retries=3),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }


def connect(url: str | None = None, check: bool = True) -> redis.Redis:
    """A client for the configured Redis. With check, ping it and raise StoreUnavailable
    naming the URL when it does not answer."""
    sentinels = os.environ.get("OPSCENTRE_REDIS_SENTINELS")
    if sentinels and not url:
        from redis.sentinel import Sentinel

        hosts = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in sentinels.split(",") if h.strip()]
        master = os.environ.get("OPSCENTRE_REDIS_MASTER", "mymaster")
        client = Sentinel(hosts, socket_connect_timeout=3).master_for(master, **_client_options())
        where = f"sentinel {sentinels} master {master}"
    else:
        url = url or redis_url()
        if not url:
            raise StoreUnavailable(
                "no Redis: set REDIS_URL, or start `opscentre up` (it runs an embedded Redis) "
                f"with the same OPSCENTRE_DATA_DIR ({data_dir()})"
            )
        client = redis.Redis.from_url(url, **_client_options())
        where = url
    if check:
        try:
            client.ping()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"cannot reach Redis at {where}: {exc}") from None
    return client
