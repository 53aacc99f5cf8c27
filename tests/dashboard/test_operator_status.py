"""The console's status bar reads the read model's operator document (core/operator_documents.py):
built once per store version for every console, rebuilt when an alert is stored, never the public
document, and never shown stale."""

import time

import orjson
import redis
from city_seed import alert_record, write_city
from dash import no_update
from dash._utils import to_json

from opscentre.core import keys, operator_documents
from opscentre.core.alert_store import AlertStore
from opscentre.core.store import Store
from opscentre.dashboard.live_map import LiveMap
from opscentre.dashboard.public_layers import PublicLayers
from opscentre.dashboard.redis_clients import resilient
from opscentre.layers import LAYERS


class Counting:
    def __init__(self, build):
        self.build, self.calls = build, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.build(*args, **kwargs)


def console(store, settings, **kwargs) -> LiveMap:
    return LiveMap(settings, store, simulated=True, layer_ids=list(LAYERS), operator_view=True, **kwargs)


def test_the_status_bar_is_built_once_per_version_and_again_after_an_alert(store, rio_settings, monkeypatch):
    write_city(store, rio_settings, rain_mm=1.0)
    built = Counting(operator_documents.operator_status)
    monkeypatch.setattr(operator_documents, "operator_status", built)
    first, second = console(store, rio_settings), console(store, rio_settings)  # two consoles (or processes)
    held = first.initial(list(LAYERS))["stores"][0].data
    assert "0 active alerts" in to_json(second.initial(list(LAYERS))["status"])
    assert first.tick(held) == (no_update, no_update, no_update, no_update)
    assert second.tick(held) == (no_update, no_update, no_update, no_update)
    assert built.calls == 1  # the same store version: read, not rebuilt
    AlertStore(store.redis).put([alert_record("a-00000000c1", "firing", public=False)])  # internal: console only
    _figure, status, alerts, _held = first.tick(held)
    assert "1 active alert" in to_json(status) and "warning rain at a-00000000c1" in to_json(alerts)
    assert built.calls == 2
    second.tick(held)
    assert built.calls == 2
    public = PublicLayers(rio_settings, store, True).status_document()[1]
    assert public["active_alerts"] == []  # the operator's alert never reaches the public document


def test_a_console_shows_redis_unreachable_not_the_last_status(own_redis, rio_settings):
    write_city(Store(redis.Redis.from_url(own_redis.url)), rio_settings, rain_mm=1.0)
    live = console(Store(resilient(own_redis.url)), rio_settings)
    held = live.initial(list(LAYERS))["stores"][0].data
    own_redis.stop()
    try:
        _figure, status, _alerts, _held = live.tick(held)
        assert "Redis unreachable — reconnecting" in str(status)
    finally:
        own_redis.start()


def test_the_console_document_is_rebuilt_when_older_than_its_maximum_age(store, rio_settings, monkeypatch):
    write_city(store, rio_settings, rain_mm=1.0)
    built = Counting(operator_documents.operator_status)
    monkeypatch.setattr(operator_documents, "operator_status", built)
    now = [time.time()]
    live = console(store, rio_settings, clock=lambda: now[0])
    held = live.initial(list(LAYERS))["stores"][0].data
    now[0] += operator_documents.MAX_AGE_S / 2
    live.tick(held)
    assert built.calls == 1
    now[0] += 3600  # the simulator's feed is stale now, though no data moved
    _figure, status, _alerts, _held = live.tick(held)
    assert built.calls == 2 and "simulator (stale since" in to_json(status)
    assert orjson.loads(store.redis.hget(keys.snapshot("operator"), "status:body"))["feeds"]["simulator"]["status"] \
        == "stale"
