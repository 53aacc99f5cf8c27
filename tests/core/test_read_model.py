"""The read model builds each version of a group once, whatever the number of processes reading
it, serves what it holds while Redis is away, and says so (real Redis)."""

from __future__ import annotations

import gzip
import threading

import pytest
import redis

from opscentre.core import keys
from opscentre.core.errors import ConfigError, StoreUnavailable
from opscentre.core.read_model import Document, ReadModel


class CountingBuilder:
    def __init__(self, client: redis.Redis):
        self.client, self.calls = client, 0

    def __call__(self):
        self.calls += 1
        version = int(self.client.get(keys.VERSION) or 0)
        return {"zones": Document(f'{{"zones": {version}}}'.encode(), "application/geo+json", {"v": version}),
                "roads": Document(b'{"roads": []}', "application/geo+json")}


def test_a_version_is_built_once_and_every_reader_gets_it(redis_client):
    build = CountingBuilder(redis_client)
    first, second = ReadModel(redis_client, {"layers": build}), ReadModel(redis_client, {"layers": build})
    a = first.get("layers", "zones")
    b = second.get("layers", "roads")  # another process: reads what the first stored
    assert build.calls == 1 and a.built_at == b.built_at  # (the same snapshot, to the byte, in every process)
    assert a.body == b'{"zones": 0}' and b.body == b'{"roads": []}' and a.version == b.version == 0
    assert gzip.decompress(a.gzipped) == a.body and a.media_type == "application/geo+json"
    assert first.get("layers", "zones") is a and build.calls == 1  # held: nothing rebuilt, nothing re-read


def test_a_new_version_is_rebuilt_and_unchanged_content_keeps_its_etag(redis_client):
    build = CountingBuilder(redis_client)
    model = ReadModel(redis_client, {"layers": build})
    before_roads, before_zones = model.get("layers", "roads"), model.get("layers", "zones")
    redis_client.incr(keys.VERSION)
    after_roads, after_zones = model.get("layers", "roads"), model.get("layers", "zones")
    assert build.calls == 2 and after_zones.body == b'{"zones": 1}' and after_zones.meta == {"v": 1}
    assert after_roads.version == 1 and after_roads.etag == before_roads.etag
    assert after_zones.etag != before_zones.etag


def test_readers_racing_on_a_new_version_build_it_once(redis_client):
    build = CountingBuilder(redis_client)
    models = [ReadModel(redis.Redis(connection_pool=redis_client.connection_pool), {"layers": build})
              for _ in range(8)]
    got, start = [], threading.Barrier(len(models))

    def read(model):
        start.wait()
        got.append(model.get("layers", "zones").body)

    threads = [threading.Thread(target=read, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert build.calls == 1 and got == [b'{"zones": 0}'] * len(models)


def test_unknown_groups_and_documents_are_key_errors(redis_client):
    model = ReadModel(redis_client, {"layers": CountingBuilder(redis_client)})
    with pytest.raises(KeyError):
        model.get("secrets", "zones")
    with pytest.raises(KeyError):
        model.get("layers", "nope")
    with pytest.raises(KeyError):  # (also once the group is stored)
        model.get("layers", "nope")


def test_while_redis_is_down_the_last_snapshot_is_served_marked_stale(own_redis):
    client = redis.Redis.from_url(own_redis.url, socket_timeout=1, socket_connect_timeout=1)
    build = CountingBuilder(client)
    model = ReadModel(client, {"layers": build})
    held = model.get("layers", "zones")
    never_read = ReadModel(client, {"layers": build})
    own_redis.stop()
    served = model.get("layers", "zones")
    assert served.stale and served.body == held.body and served.built_at == held.built_at
    with pytest.raises(StoreUnavailable):
        never_read.get("layers", "zones")
    own_redis.start()
    model._down_until = 0  # (the retry pause, not waited out here)
    again = model.get("layers", "zones")
    assert not again.stale and again.body == held.body


def test_an_emptied_redis_at_the_same_version_number_is_rebuilt_not_served_from_memory(redis_client):
    build = CountingBuilder(redis_client)
    model = ReadModel(redis_client, {"layers": build})
    redis_client.set(keys.VERSION, 5)
    assert model.get("layers", "zones").body == b'{"zones": 5}'
    redis_client.flushall()
    redis_client.set(keys.VERSION, 5)  # the same number, another Redis's data
    redis_client.set("marker", 1)
    assert model.get("layers", "zones").version == 5 and build.calls == 2


def test_a_group_with_a_maximum_age_is_rebuilt_when_older_even_if_the_data_has_not_moved(redis_client):
    build, now = CountingBuilder(redis_client), [1000.0]
    model = ReadModel(redis_client, {"layers": build}, clock=lambda: now[0], max_age_s={"layers": 10})
    first = model.get("layers", "zones")
    now[0] += 9
    assert model.get("layers", "zones") is first and build.calls == 1
    now[0] += 2
    assert model.get("layers", "zones").built_at == now[0] and build.calls == 2


def test_a_held_snapshot_is_served_without_asking_redis_for_the_recheck_pause(redis_client):
    build, now = CountingBuilder(redis_client), [1000.0]
    model = ReadModel(redis_client, {"layers": build}, clock=lambda: now[0], recheck_s=0.1)
    first = model.get("layers", "zones")
    redis_client.incr(keys.VERSION)
    now[0] += 0.05
    assert model.get("layers", "zones") is first  # within the pause: not asked
    now[0] += 0.06
    assert model.get("layers", "zones").body == b'{"zones": 1}' and build.calls == 2


def test_the_public_recheck_pause_comes_from_the_environment_and_refuses_nonsense():
    from opscentre.core.read_model import public_recheck_s

    assert public_recheck_s({}) == 0.1 and public_recheck_s({"OPSCENTRE_PUBLIC_RECHECK_MS": "0"}) == 0
    for bad in ("-1", "1.5", "lots", "60000"):
        with pytest.raises(ConfigError, match="OPSCENTRE_PUBLIC_RECHECK_MS"):
            public_recheck_s({"OPSCENTRE_PUBLIC_RECHECK_MS": bad})


def test_while_redis_refuses_writes_a_reader_builds_its_own_snapshot_holds_it_and_stores_once_it_can(refusing_redis):
    client = refusing_redis.client
    client.set(keys.VERSION, 3)
    build = CountingBuilder(client)
    refusing_redis.refuse()
    with pytest.raises(redis.ResponseError, match="MISCONF"):
        client.set("probe", 1)
    model = ReadModel(client, {"layers": build})
    zones = model.get("layers", "zones")  # (no lock can be taken, nothing stored: built here)
    assert zones.body == b'{"zones": 3}' and zones.version == 3 and not zones.stale
    assert model.get("layers", "zones") is zones and build.calls == 1  # held while the version stands
    assert not client.exists(keys.snapshot("layers"))
    refusing_redis.accept()
    client.incr(keys.VERSION)
    assert model.get("layers", "zones").body == b'{"zones": 4}' and build.calls == 2
    assert ReadModel(client, {"layers": build}).get("layers", "zones").body == b'{"zones": 4}'
    assert build.calls == 2  # stored again: another process reads it
