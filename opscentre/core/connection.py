"""How every process finds Redis: REDIS_URL, Sentinel, or the embedded server of the data dir.

Passwords come from the URL (`redis://:pw@host:port/0`, `rediss://user:pw@...`), or from
OPSCENTRE_REDIS_PASSWORD / OPSCENTRE_REDIS_SENTINEL_PASSWORD, each also readable from a file
named by the same variable with `_FILE` — never from the YAML. Messages show URLs masked.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from opscentre.core import keys
from opscentre.core.errors import StoreUnavailable

# What a read raises when Redis cannot be reached (connect refused, timeout, loading). (Here, not
# in core/errors.py, which the CLI imports at start: redis is imported only by commands that use it.)
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, StoreUnavailable, OSError)


def writes_refused(exc: BaseException) -> bool:
    """Whether `exc` is Redis refusing a write while it still serves reads: its disk is full or
    read-only (MISCONF), it is a replica (READONLY), it is out of memory (OOM). Inside a script,
    the refusal comes wrapped in the script's error."""
    return isinstance(exc, redis.exceptions.ResponseError) and any(
        code in str(exc) for code in ("MISCONF", "READONLY", "OOM command not allowed"))


def name_dataset(client: redis.Redis) -> None:
    """Give this Redis's data an epoch (keys.EPOCH) if nobody has yet: readers holding what they
    read tell by it that Redis was emptied or replaced. Not while Redis refuses writes: the
    readers then see no epoch, and try again at their next read."""
    try:
        client.set(keys.EPOCH, secrets.token_hex(8), nx=True)
    except redis.exceptions.ResponseError as exc:
        if not writes_refused(exc):
            raise

EMBEDDED_URL_FILE = "redis.url"
PASSWORD_ENV = "OPSCENTRE_REDIS_PASSWORD"
SENTINEL_PASSWORD_ENV = "OPSCENTRE_REDIS_SENTINEL_PASSWORD"


class RedisConfigError(StoreUnavailable):
    """The Redis settings are wrong (password refused, bad URL, unreadable secret file):
    trying again cannot help, so it is reported once, not retried."""

    kind = "redis_config"
    retryable = False


def data_dir() -> Path:
    return Path(os.environ.get("OPSCENTRE_DATA_DIR") or "./var").resolve()


def redis_url() -> str | None:
    """REDIS_URL, else the URL the embedded server of this data directory recorded."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    recorded = data_dir() / EMBEDDED_URL_FILE
    try:
        return recorded.read_text().strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RedisConfigError(f"cannot read {recorded} ({exc.strerror}): it is private to the user "
                               "who ran `opscentre up`; run as that user or set REDIS_URL") from None


def masked(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return "(an unparseable URL)"


def secret(name: str) -> str | None:
    """$NAME, else the content of the file $NAME_FILE (trailing newline dropped), else None."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise RedisConfigError(f"cannot read {name}_FILE={path}: {exc.strerror}") from None


class BulkCommand(bytes):
    """A command name (b"HSET") whose arguments are all str, bytes or int already. The clients of
    `connect()` pack such a command in one C call (hiredis) instead of redis-py's encoding of each
    argument in Python (~0.25 µs an argument: the HSET of a poll's 5,000 latest values cost a
    worker more than all the rest of the poll's storing). Any other client packs it as usual."""


class _BulkPacker:
    """redis-py's own packer (hiredis), with the BulkCommand fast path."""

    def __init__(self):
        import hiredis
        from redis._parsers.encoders import Encoder
        from redis.connection import HiredisRespSerializer, PythonRespSerializer

        encoder = Encoder("utf-8", "strict", False)  # redis-py's defaults: the clients here change none
        self._default = HiredisRespSerializer(PythonRespSerializer(6000, encoder.encode).pack, encoder.encode)
        self._pack_command = hiredis.pack_command

    def pack(self, *args):
        if type(args[0]) is BulkCommand:
            return [self._pack_command(args)]
        return self._default.pack(*args)


def _command_packer() -> dict:
    from redis.utils import HIREDIS_AVAILABLE

    return {"command_packer": _BulkPacker()} if HIREDIS_AVAILABLE else {}


def use_bulk_packing(client: redis.Redis) -> None:
    """Give a client made elsewhere (redis.Redis.from_url: benches, drills, tests) the BulkCommand
    fast path that connect()'s clients have: its pool's next connections, and the ones it made
    already (redis-py keeps those in the pool's private lists; where they are not found, they
    pack a BulkCommand the usual way, only slower). A client with a packer or an encoding of its
    own is left alone."""
    pool = client.connection_pool
    options = pool.connection_kwargs
    if ("command_packer" in options or options.get("encoding", "utf-8") != "utf-8"
            or options.get("encoding_errors", "strict") != "strict"):
        return
    packer = _command_packer().get("command_packer")
    if packer is None:
        return
    options["command_packer"] = packer
    try:
        made = [*getattr(pool, "_available_connections", ()), *getattr(pool, "_in_use_connections", ())]
    except RuntimeError:  # (changed while read by another thread)
        made = []
    for connection in made:
        if type(getattr(connection, "_command_packer", None)).__name__ == "HiredisRespSerializer":
            connection._command_packer = packer


def _client_options() -> dict:
    return {
        **_command_packer(),
        "socket_connect_timeout": 3,
        "socket_timeout": 10,
        # No health-check PING before a command on an idle connection: a Redis refusing writes
        # (its disk full: MISCONF) answers PING with that refusal, and every read on a new or
        # idle connection would fail with it. A dead connection is found by the command itself
        # and retried on a new one (below).
        "health_check_interval": 0,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.1, cap=2.0), retries=3),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }


def client_from_url(url: str, **options) -> redis.Redis:
    """redis.Redis.from_url, with OPSCENTRE_REDIS_PASSWORD for a URL that carries none, and a
    URL that is not one refused in one line (masked)."""
    password = secret(PASSWORD_ENV)
    if password and not urlsplit(url).password:
        options["password"] = password
    try:
        return redis.Redis.from_url(url, **options)
    except ValueError as exc:
        raise RedisConfigError(f"REDIS_URL {masked(url)} is not usable: {exc}") from None


def _sentinel_client() -> tuple[redis.Redis, str, Sentinel]:
    sentinels = os.environ["OPSCENTRE_REDIS_SENTINELS"]
    try:
        hosts = [(h.strip().rsplit(":", 1)[0], int(h.strip().rsplit(":", 1)[1]))
                 for h in sentinels.split(",") if h.strip()]
    except (IndexError, ValueError):
        raise RedisConfigError(f"OPSCENTRE_REDIS_SENTINELS={sentinels!r} is not host:port,host:port...") from None
    master = os.environ.get("OPSCENTRE_REDIS_MASTER", "mymaster")
    sentinel = Sentinel(hosts, socket_connect_timeout=3, password=secret(PASSWORD_ENV),
                        sentinel_kwargs={"password": secret(SENTINEL_PASSWORD_ENV),
                                         "socket_connect_timeout": 3, "socket_timeout": 3})
    return sentinel.master_for(master, **_client_options()), f"sentinel {sentinels} master {master}", sentinel


def _sentinel_problem(sentinel: Sentinel) -> tuple[bool, str]:
    """(a sentinel refused our password, what went wrong in short): redis-py's own message
    carries a whole client repr per sentinel."""
    errors = []
    for client in sentinel.sentinels:
        try:
            client.ping()
        except redis.AuthenticationError:
            return True, ""
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            errors.append(str(exc))
    return False, "; ".join(errors) or "no sentinel knows a reachable master of that name"


def connect(url: str | None = None, check: bool = True) -> redis.Redis:
    """A client for the configured Redis. With check, ping it and raise StoreUnavailable
    naming the (masked) URL when it does not answer, RedisConfigError when it refuses the password."""
    sentinel = None
    if os.environ.get("OPSCENTRE_REDIS_SENTINELS") and not url:
        client, where, sentinel = _sentinel_client()
        hint = f"{PASSWORD_ENV} (or {PASSWORD_ENV}_FILE)"
    else:
        url = url or redis_url()
        if not url:
            raise StoreUnavailable(
                "no Redis: set REDIS_URL, or start `opscentre up` (it runs an embedded Redis) "
                f"with the same OPSCENTRE_DATA_DIR ({data_dir()})"
            )
        client = client_from_url(url, **_client_options())
        where = masked(url)
        hint = f"the password in REDIS_URL (redis://:PASSWORD@host:port/0) or {PASSWORD_ENV}"
    if check:
        try:
            client.ping()
        except redis.AuthenticationError:
            given = client.connection_pool.connection_kwargs.get("password")
            refused = "refused the password" if given else "requires a password"
            raise RedisConfigError(f"Redis at {where} {refused}: check {hint}") from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            detail = str(exc)
            if sentinel is not None and isinstance(exc, MasterNotFoundError):
                refused, detail = _sentinel_problem(sentinel)
                if refused:
                    raise RedisConfigError(f"Redis Sentinel at {where} refused the password: check "
                                           f"{SENTINEL_PASSWORD_ENV} (or {SENTINEL_PASSWORD_ENV}_FILE)") from None
            raise StoreUnavailable(f"cannot reach Redis at {where}: {detail}") from None
    return client
