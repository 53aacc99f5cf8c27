import time

import orjson

from opscentre.core import keys
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.store import Store

NOW = float(int(time.time()))  # stream ids are wall-clock, so history tests use real time


def poll(store, values, t=NOW, new=True):
    entities = [Entity(entity_id=f"g{i}", entity_type="rain_gauge", source="t", zone_id="024",
                       geometry={"type": "Point", "coordinates": [-43.18, -22.97]}) for i in range(len(values))]
    batch = ObservationBatch(source="t", kind="rain_mm", entity_ids=[e.entity_id for e in entities],
                             values=values, observed_at=[t] * len(values))
    store.write_poll("t", entities if new else [], [batch], {"status": "ok", "items": len(values)},
                     {"polls": 1, "observations_stored": len(values)}, retention_s=48 * 3600, wall_now=t)


def test_a_poll_is_one_round_trip_of_latest_history_health_and_counters(redis_client):
    store = Store(redis_client)
    poll(store, [1.0, 2.0])
    assert store.latest("rain_mm") == {"g0": (1.0, NOW, "t"), "g1": (2.0, NOW, "t")}
    assert store.history("rain_mm", since=0) == [("g0", 1.0, NOW, "t"), ("g1", 2.0, NOW, "t")]
    assert store.feed_health("t")["items"] == 2
    assert store.all_feed_metrics()["t"]["observations_stored"] == 2
    assert store.entities()["g0"]["zone_id"] == "024"
    assert store.version() == 1


def test_latest_keeps_one_value_per_entity_and_history_keeps_every_batch(redis_client):
    store = Store(redis_client)
    poll(store, [1.0, 2.0], t=NOW)
    poll(store, [5.0, 6.0], t=NOW + 60, new=False)
    assert store.latest("rain_mm")["g0"][0] == 5.0
    assert [row[1] for row in store.history("rain_mm", since=0) if row[0] == "g0"] == [1.0, 5.0]
    assert store.history_length("rain_mm") == 2  # one stream entry per batch, not per reading


def test_history_older_than_the_retention_is_trimmed(redis_client):
    store = Store(redis_client)
    # stream ids are wall-clock: write an entry "3 days ago" by hand, then a poll now
    redis_client.xadd(keys.history("rain_mm"), {"s": "t", "d": orjson.dumps({"e": [], "v": [], "t": []})},
                      id=int((NOW - 3 * 86400) * 1000))
    poll(store, [1.0], t=NOW)
    assert store.history_length("rain_mm") == 1


def test_unknown_entities_are_only_those_not_yet_registered(redis_client):
    store = Store(redis_client)
    poll(store, [1.0])
    fresh = Store(redis_client)  # a new process: the cache is empty, Redis knows
    candidates = [Entity(entity_id=i, entity_type="rain_gauge", source="t") for i in ("g0", "new")]
    assert [e.entity_id for e in fresh.unknown_entities(candidates)] == ["new"]


def test_a_failure_keeps_the_last_good_data_and_counts_consecutive_failures(redis_client):
    store = Store(redis_client)
    poll(store, [1.0])
    for _ in range(2):
        store.record_failure("t", {"status": "failing", "last_error": "boom"}, {"polls": 1, "failures": 1})
    health = store.feed_health("t")
    assert health["status"] == "failing" and health["consecutive_failures"] == 2
    assert store.latest("rain_mm")["g0"][0] == 1.0


def test_a_changed_description_updates_the_registry_but_keeps_the_zone_it_was_given(redis_client):
    from opscentre.core.models import EntityValidator

    store = Store(redis_client)
    validate = EntityValidator("t")
    first = validate({"entity_id": "r1", "entity_type": "river_station", "zone_id": "024",
                      "geometry": {"type": "Point", "coordinates": [-43.18, -22.97]},
                      "properties": {"attention_m": 2.0, "alert_m": 3.0}})
    store.write_poll("t", store.unknown_entities([first]), [], {}, {}, retention_s=3600, wall_now=NOW)
    assert store.entities()["r1"]["properties"]["alert_m"] == 3.0
    assert validate({**first.model_dump(exclude={"source"})}) is not None
    revised = validate({"entity_id": "r1", "entity_type": "river_station", "zone_id": "999",
                        "geometry": {"type": "Point", "coordinates": [0.0, 0.0]},
                        "properties": {"attention_m": 2.0, "alert_m": 2.6}})
    assert revised.properties["alert_m"] == 2.6  # a changed description is validated again, not served from cache
    assert store.unknown_entities([revised]) == []
    changed = store.changed_entities([revised])
    store.write_poll("t", changed, [], {}, {}, retention_s=3600, wall_now=NOW)
    registered = store.entities()["r1"]
    assert registered["properties"]["alert_m"] == 2.6
    assert registered["zone_id"] == "024" and registered["geometry"]["coordinates"] == [-43.18, -22.97]
    assert store.changed_entities([revised]) == []  # nothing more to write


def test_latest_holds_the_numbers_as_history_does_through_either_client(redis_client, redis_server):
    """The latest values are built by the worker (not inside Redis): the same JSON through a client
    of connect() (its bulk HSET) and any other, numbers unrounded, a source with '],[' intact."""
    from opscentre.core.connection import connect

    t = NOW + 0.123456
    for client, source in ((redis_client, "t"), (connect(redis_server.url), "odd],[source")):
        client.flushall()
        store = Store(client)
        batch = ObservationBatch(source=source, kind="rain_mm", entity_ids=["a", "b"], values=[1.0, 2.123456789012345],
                                 observed_at=[t, t + 1])
        store.write_poll(source, [], [batch], {}, {}, retention_s=48 * 3600, wall_now=NOW)
        assert store.latest("rain_mm") == {"a": (1.0, t, source), "b": (2.123456789012345, t + 1, source)}
        assert client.hget(keys.latest("rain_mm"), "a") == orjson.dumps([1.0, t, source])
        assert store.history("rain_mm", since=0) == [("a", 1.0, t, source), ("b", 2.123456789012345, t + 1, source)]
