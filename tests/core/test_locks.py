"""The short locks of polls and evaluations: exclusive while one Redis runs, void after it restarts."""

import redis

from opscentre.core import locks
from opscentre.processes.redis_server import RedisServer


def test_a_lock_is_exclusive_until_its_holder_releases_it(redis_client):
    token = locks.acquire(redis_client, "lock:x", 60)
    assert token is not None
    assert locks.acquire(redis_client, "lock:x", 60) is None
    locks.release(redis_client, "lock:x", "not-the-token")
    assert locks.acquire(redis_client, "lock:x", 60) is None
    locks.release(redis_client, "lock:x", token)
    assert locks.acquire(redis_client, "lock:x", 60) is not None


def test_a_lock_set_by_other_code_without_a_run_id_counts_as_held(redis_client):
    redis_client.set("lock:x", "someone-else", ex=60)
    assert locks.acquire(redis_client, "lock:x", 60) is None


def test_a_lock_granted_before_redis_restarted_is_taken_over_after_it(own_redis):
    client = redis.Redis.from_url(own_redis.url)
    stale = locks.acquire(client, "lock:poll", 300)  # its holder dies with the connection...
    own_redis.kill()
    restarted = RedisServer(own_redis.directory, port=own_redis.port, persist=True).start()
    try:
        client = redis.Redis.from_url(restarted.url)
        assert client.ttl("lock:poll") > 200  # ...but the AOF kept the lock
        fresh = locks.acquire(client, "lock:poll", 300)
        assert fresh is not None and fresh != stale
        assert locks.acquire(client, "lock:poll", 300) is None  # exclusive again in the new run
        locks.release(client, "lock:poll", stale)  # the old holder letting go late changes nothing
        assert client.get("lock:poll").decode() == fresh
    finally:
        restarted.stop()
