"""The long-running processes of the Procfile: worker and cron. Each survives Redis going away:
it logs once, backs off, reconnects — no crash loop. Redis refusing the password is not Redis
going away: no retry can fix it, so the process says so in one line and exits."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time

import redis
from rq import Queue
from rq.exceptions import StopRequested
from rq.worker import SimpleWorker

from opscentre.core import keys
from opscentre.core.connection import RedisConfigError, connect
from opscentre.core.settings import Settings
from opscentre.core.store import Store

log = logging.getLogger("opscentre")

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 15.0
WORKER_TTL_S = 40
# The worker's command thread (RQ's pubsub listener) waits at most this long at a time, so stopping it
# takes at most this long (plus the 2 s pause after a lost connection).
COMMAND_WAIT_S = 1.0
FORGET_DEAD_WORKERS_S = 3600  # a worker silent this long is dropped from the heartbeat set  # RQ beats every ~25 s while idle; /healthz calls a worker fresh for 60 s


class _Stop(Exception):
    pass


def _stop_on_signals() -> dict:
    state = {"stop": False}

    def handler(signum, frame):
        state["stop"] = True
        raise _Stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return state


def _password_refused(what: str) -> RedisConfigError:
    return RedisConfigError(f"{what}: Redis now refuses the password: check REDIS_URL or "
                            "OPSCENTRE_REDIS_PASSWORD and restart")


class HeartbeatWorker(SimpleWorker):
    """An RQ worker (no fork per job: polls are few and the feed code stays warm) that also
    records its heartbeat where /healthz reads it, and stops when Redis refuses its password
    (RQ would retry that forever: AuthenticationError is a ConnectionError)."""

    stop_signalled = False
    password_refused = False
    # RQ's own retries while it waits for a job and Redis is away (1, 2, 4... s) grow to 60 s by
    # default: a worker idle when Redis went away would resume up to a minute after Redis came
    # back. Capped like this module's backoff.
    max_connection_wait_time = BACKOFF_MAX_S

    def subscribe(self):
        """RQ's subscribe, with the command thread waiting COMMAND_WAIT_S at a time instead of 60 s.
        redis-py's PubSubWorkerThread.stop() joins the thread, and RQ's teardown calls it after
        UNSUBSCRIBE: when the thread reads that reply before stop() clears its running flag (the
        main thread preempted: a busy machine), it goes back to waiting for a subscription — for
        RQ's 60 s. The worker's teardown then hung that long: after losing Redis no job ran for up
        to a minute once Redis was back, and a stop signal took as long."""
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=COMMAND_WAIT_S, daemon=True,
                                                       exception_handler=self._pubsub_exception_handler)

    def teardown(self):
        try:
            super().teardown()  # register_death, then unsubscribe
        except (redis.ConnectionError, redis.TimeoutError):
            # Redis is away: RQ never reaches unsubscribe, and the command thread would live on,
            # reconnecting for a worker that is gone (one thread and connection per outage)
            if self.pubsub_thread is not None:
                self.pubsub_thread.stop(timeout=COMMAND_WAIT_S + 3)
            raise

    def request_stop(self, signum, frame):
        # RQ's work() returns both on a stop signal and on losing Redis; only the first means "exit".
        self.stop_signalled = True
        super().request_stop(signum, frame)

    def _pubsub_exception_handler(self, exc, pubsub, pubsub_thread):
        # RQ's handler logs every 2 s while Redis is away; the dequeue loop already logs with backoff
        if isinstance(exc, redis.AuthenticationError):
            self.password_refused = True
            pubsub_thread.stop()
        elif isinstance(exc, redis.ConnectionError):
            time.sleep(2.0)
        else:
            super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)

    def heartbeat(self, timeout=None, pipeline=None):
        # RQ beats three times a job, each time three commands one round trip apart when it
        # gives no pipeline; sent here as one with ours: 12 round trips fewer a job (31 -> 19
        # for a poll of `opscentre bench scale`).
        target = pipeline if pipeline is not None else self.connection.pipeline(transaction=False)
        super().heartbeat(timeout, target)
        now = time.time()
        target.zadd(keys.WORKER_HEARTBEAT, {f"worker:{self.name}": now})
        target.zremrangebyscore(keys.WORKER_HEARTBEAT, 0, now - FORGET_DEAD_WORKERS_S)
        if pipeline is None:
            try:
                target.execute()  # the first command of each turn of RQ's loop
            except redis.AuthenticationError:
                self.password_refused = True
                raise StopRequested() from None


def run_worker(settings: Settings, burst: bool = False) -> None:
    from opscentre.processes.tuning import tune_gc_for_bulk_parsing
    from opscentre.workers import jobs

    # urllib3 logs every retry; a feed's going down and recovering is logged once, by the poll
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    settings.zones  # load the city and the feed code before work starts, then freeze it
    jobs.FEEDS  # noqa: B018
    tune_gc_for_bulk_parsing()
    name = f"{socket.gethostname()}.{os.getpid()}"
    _run_with_reconnect("worker", lambda client: _work(client, name, burst), once=burst)


def _work(client: redis.Redis, name: str, burst: bool) -> None:
    worker = HeartbeatWorker([Queue(keys.FEED_QUEUE, connection=client)], connection=client,
                             name=f"{name}.{int(time.time())}", worker_ttl=WORKER_TTL_S)
    worker.work(burst=burst, logging_level="WARNING")
    if worker.password_refused:
        raise _password_refused("worker")
    if worker.stop_signalled:
        raise _Stop()


def run_cron(settings: Settings, speed: float | None = None) -> None:
    from opscentre.workers.schedule import build_scheduler

    logging.getLogger("rq.cron").setLevel(logging.WARNING)  # it logs every enqueue at INFO

    def loop(client: redis.Redis) -> None:
        store = Store(client)
        clock = store.sim_clock()
        effective_speed = speed or (float(clock.get("speed") or 1) if clock else 1.0)
        scheduler = build_scheduler(settings, store, effective_speed)
        scheduler.start()  # returns on SIGINT/SIGTERM (StopRequested) or raises on Redis errors
        raise _Stop()

    _run_with_reconnect("cron", loop)


def run_notifier(settings: Settings) -> None:
    """The notifier (workers/notifier.py): a stop signal ends it between two turns, never between
    a send and its record."""
    from opscentre.core.notify.channels import build
    from opscentre.workers.notifier import Notifier, run

    logging.getLogger("urllib3").setLevel(logging.ERROR)
    channels = build()  # says once, here, which channels are off and why
    log.info("notifier: channels %s", ", ".join(channels.enabled) or "none")
    name = f"{socket.gethostname()}.{os.getpid()}"

    def body(client: redis.Redis) -> None:
        stop = {"now": False}
        previous = {s: signal.signal(s, lambda *_: stop.update(now=True)) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            run(Notifier(settings, client, channels, name, public_url=os.environ.get("OPSCENTRE_PUBLIC_URL", "").strip()
                         or None), lambda: stop["now"])
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        raise _Stop()

    _run_with_reconnect("notifier", body)


def _run_with_reconnect(what: str, body, once: bool = False) -> None:
    _stop_on_signals()
    backoff = BACKOFF_START_S
    down_since = None
    while True:
        try:
            client = connect(check=True)
            if down_since is not None:
                log.warning("%s: Redis is back after %.0f s", what, time.time() - down_since)
                down_since = None
            backoff = BACKOFF_START_S
            body(client)
            if once:
                return
        except _Stop:
            return
        except RedisConfigError:
            raise  # the command line prints it in one line
        except redis.AuthenticationError:  # the password changed under a running process
            raise _password_refused(what) from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            if down_since is None:
                log.warning("%s: lost Redis (%s); reconnecting with backoff", what, exc)
                down_since = time.time()
        except Exception as exc:  # noqa: BLE001 - StoreUnavailable from connect, RQ errors
            if getattr(exc, "retryable", False) or "redis" in type(exc).__module__:
                if down_since is None:
                    log.warning("%s: Redis unavailable (%s); reconnecting with backoff", what, exc)
                    down_since = time.time()
            else:
                raise
        try:
            time.sleep(backoff)
        except _Stop:
            return
        backoff = min(backoff * 2, BACKOFF_MAX_S)
