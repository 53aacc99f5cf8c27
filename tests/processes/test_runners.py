"""The worker's own parts of surviving Redis going away (processes/runners.py), one at a time and
without waiting: its command thread and its retries. End to end: test_up.py."""

import threading
import time

import pytest
import redis
from rq import Queue

from opscentre.core import keys
from opscentre.core.connection import connect
from opscentre.processes.runners import BACKOFF_MAX_S, WORKER_TTL_S, HeartbeatWorker


def _worker(url: str) -> HeartbeatWorker:
    client = connect(url)
    return HeartbeatWorker([Queue(keys.FEED_QUEUE, connection=client)], connection=client, name="w.test",
                           worker_ttl=WORKER_TTL_S)


def _within(seconds: float, call) -> bool:
    done = threading.Event()
    threading.Thread(target=lambda: (call(), done.set()), daemon=True).start()
    return done.wait(seconds)


def test_the_worker_s_teardown_does_not_wait_for_its_command_thread_to_time_out(redis_server):
    """The busy-machine ordering of RQ's teardown: the command thread reads the answer to UNSUBSCRIBE
    before the main thread tells it to stop, so it waits for a new subscription. With RQ's 60 s wait,
    redis-py's stop() (a join) held the worker that long: after losing Redis, no poll ran for a minute."""
    worker = _worker(redis_server.url)
    worker.subscribe()
    deadline = time.monotonic() + 5
    while not worker.pubsub.subscribed and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    worker.pubsub.unsubscribe()  # the thread reads the reply and goes back to waiting...
    time.sleep(0.5)  # ...before RQ's unsubscribe() stops it (the main thread was preempted)
    assert _within(5, worker.unsubscribe), "the worker's teardown waited for its command thread"
    assert not worker.pubsub_thread.is_alive()


def test_a_teardown_without_redis_still_stops_the_command_thread(own_redis):
    worker = _worker(own_redis.url)
    worker.subscribe()
    own_redis.kill()
    with pytest.raises(redis.ConnectionError):
        worker.teardown()  # RQ's register_death fails, so it never reached its unsubscribe
    assert not worker.pubsub_thread.is_alive()  # no thread left reconnecting for a gone worker


def test_a_worker_waiting_for_work_retries_a_lost_redis_no_slower_than_the_runner_s_backoff(own_redis, monkeypatch):
    worker = _worker(own_redis.url)
    monkeypatch.setattr(worker, "set_state", lambda *a, **kw: None)  # the one write before RQ's loop
    own_redis.kill()
    waits = []

    class Enough(Exception):
        pass

    def sleep(seconds):
        if seconds >= 1:  # RQ's waits between its tries (redis-py's own retries are shorter)
            waits.append(seconds)
            if len(waits) == 8:
                raise Enough

    monkeypatch.setattr(time, "sleep", sleep)
    with pytest.raises(Enough):
        worker.dequeue_job_and_maintain_ttl(timeout=worker.dequeue_timeout)
    # RQ's default would go on 16, 32, 60, 60: back up to a minute after Redis returned
    assert waits == [1, 2, 4, 8, BACKOFF_MAX_S, BACKOFF_MAX_S, BACKOFF_MAX_S, BACKOFF_MAX_S]
