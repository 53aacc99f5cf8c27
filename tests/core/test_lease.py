"""A lock that guards long work is a lease: renewed while its holder works, lapsed soon after
its holder dies without letting go (a worker SIGKILLed mid-poll: the `worker-kill` drill)."""

import signal
import subprocess
import sys
import time

from opscentre.core import locks
from tests.cli_helpers import wait_for

HOLD_FOREVER = """
import sys, time, redis
from opscentre.core import locks
lease = locks.Lease(redis.Redis.from_url(sys.argv[1]), "lock:poll", 1).__enter__()
print(lease.token, flush=True)
time.sleep(600)
"""


def test_a_lease_outlives_its_seconds_while_held_and_is_released_on_exit(redis_client):
    with locks.Lease(redis_client, "lock:poll", 1) as lease:
        assert lease.token is not None
        with locks.Lease(redis_client, "lock:poll", 1) as other:
            assert other.token is None  # exclusive
        started = time.monotonic()
        wait_for(lambda: time.monotonic() - started > 3, timeout=10, interval=0.1)
        assert redis_client.get("lock:poll").decode() == lease.token  # renewed past its 1 s
    assert not redis_client.exists("lock:poll")


def test_a_lease_whose_holder_was_killed_lapses_and_is_taken(redis_server, redis_client):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_FOREVER, redis_server.url], stdout=subprocess.PIPE, text=True)
    try:
        token = holder.stdout.readline().strip()
        assert token and redis_client.get("lock:poll").decode() == token
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    taken = wait_for(lambda: locks.acquire(redis_client, "lock:poll", 60), timeout=30, what="the lapsed lease taken")
    assert taken != token
