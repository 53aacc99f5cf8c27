"""The live update without a browser: what a tick returns after the store changes."""

import threading
import time

import orjson
import redis
from city_seed import write_city
from dash import Patch, no_update
from dash._utils import to_json

from opscentre.core.store import Store
from opscentre.dashboard.live_map import LiveMap
from opscentre.dashboard.redis_clients import resilient
from opscentre.layers import LAYERS
from opscentre.processes.redis_server import free_port


def first_page(store, settings):
    live = LiveMap(settings, store, simulated=True, layer_ids=list(LAYERS))
    parts = live.initial(list(LAYERS))
    held = parts["stores"][0].data
    return live, parts, held


def caught_up(live: LiveMap) -> LiveMap:
    """`live` once the store's newest version is built (a tick does not wait for a build: it is
    built beside the requests)."""
    live.catch_up()
    return live


def patched_paths(patch: Patch) -> set[tuple]:
    return {tuple(op["location"]) for op in patch.to_plotly_json()["operations"]}


def arrays_touched(patch: Patch) -> set[tuple]:
    """The arrays a Patch changes, whether whole or item by item (a trailing int is an item)."""
    return {tuple(loc[:-1]) if isinstance(loc[-1], int) else tuple(loc)
            for loc in (op["location"] for op in patch.to_plotly_json()["operations"])}


def applied(figure: dict, patch: Patch) -> dict:
    """The figure as the browser has it after the Patch (its Assign operations)."""
    figure = orjson.loads(orjson.dumps(figure))
    for op in patch.to_plotly_json()["operations"]:
        assert op["operation"] == "Assign", op
        *parents, leaf = op["location"]
        node = figure
        for part in parents:
            node = node[part]
        node[leaf] = op["params"]["value"]
    return figure


def test_quiet_tick_sends_nothing(store, rio_settings):
    write_city(store, rio_settings, rain_mm=1.0)
    live, _, held = first_page(store, rio_settings)
    assert live.tick(held) == (no_update, no_update, no_update, no_update)


def test_rain_change_patches_only_zone_and_gauge_arrays(store, rio_settings):
    write_city(store, rio_settings, rain_mm=0.0, jam_level=1)
    live, parts, held = first_page(store, rio_settings)
    index = live.index
    write_city(store, rio_settings, rain_mm=15.0, jam_level=1, observed_at=time.time() + 60)
    figure, status, _alerts, new_held = caught_up(live).tick(held)
    assert isinstance(figure, Patch)
    paths = arrays_touched(figure)
    zones, gauges = index["zones"][0], index["rain_gauges"][1] - 1  # the gauges are drawn last
    assert ("data", zones, "z") in paths and ("data", zones, "customdata") in paths
    assert ("data", zones, "text") not in paths  # zone names did not change
    assert ("data", gauges, "marker", "color") in paths and ("data", gauges, "marker", "size") in paths
    assert ("data", gauges, "lat") not in paths  # the gauges did not move
    assert all(p[1] not in range(*index["traffic"]) for p in paths if p[1] != index["traffic"][1] - 1)
    # the browser, patched, holds exactly the figure a fresh page would get
    fresh = LiveMap(rio_settings, store, simulated=True, layer_ids=list(LAYERS)).initial(list(LAYERS))
    assert applied(parts["graph"].figure, figure)["data"] == orjson.loads(orjson.dumps(fresh["graph"].figure))["data"]
    z = next(op for op in figure.to_plotly_json()["operations"] if op["location"] == ["data", zones, "z"])
    assert set(z["params"]["value"]) == {5}
    assert new_held["version"] == store.version()
    assert status is not no_update  # "Updated ..." moved
    # the browser now holds that: the next quiet tick sends nothing
    assert live.tick(new_held)[0] is no_update


def test_traffic_change_moves_segments_between_level_traces(store, rio_settings):
    write_city(store, rio_settings, jam_level=0, speed_kmh=55)
    live, parts, held = first_page(store, rio_settings)
    start, stop = live.index["traffic"]
    write_city(store, rio_settings, jam_level=5, speed_kmh=3, observed_at=time.time() + 60)
    figure, *_ = caught_up(live).tick(held)
    paths = arrays_touched(figure)
    free, standstill = start + 1, start + 6
    assert ("data", free, "lat") in paths and ("data", standstill, "lat") in paths
    assert ("data", stop - 1, "customdata") in paths
    assert len(to_json(figure)) < 60_000


def test_unreachable_redis_shows_reconnecting_and_keeps_the_map(rio_settings):
    store = Store(resilient(f"redis://127.0.0.1:{free_port()}/0"))
    live = LiveMap(rio_settings, store, simulated=True, layer_ids=list(LAYERS))
    parts = live.initial(list(LAYERS))
    assert "Redis unreachable — reconnecting" in str(parts["status"])
    assert len(parts["graph"].figure["data"][0]["locations"]) == 166  # the city still drawn
    figure, status, _alerts, _held = live.tick({"version": 3, "digests": {}, "status": "x"})
    assert figure is no_update
    assert "Redis unreachable — reconnecting" in str(status)


def test_redis_coming_back_fills_the_map(own_redis, rio_settings):
    store = Store(resilient(own_redis.url))
    live = LiveMap(rio_settings, store, simulated=True, layer_ids=list(LAYERS))
    own_redis.stop()
    parts = live.initial(list(LAYERS))
    held = parts["stores"][0].data
    own_redis.start()
    write_city(Store(redis.Redis.from_url(own_redis.url)), rio_settings, rain_mm=7.0)
    figure, status, *_ = caught_up(live).tick(held)
    assert isinstance(figure, Patch) and "Stage 1" in orjson.dumps(to_json(status)).decode()


def test_a_feed_going_stale_greys_its_layers_and_says_since_when_then_recovers(store, rio_settings):
    write_city(store, rio_settings, rain_mm=1.0)
    live, parts, held = first_page(store, rio_settings)
    start = live.index["rain_gauges"][0]
    first_figure = parts["graph"].figure
    assert first_figure["data"][start]["opacity"] == 1.0
    later = time.time() + 3600  # the simulator polls every 60 s: stale after 3 missed polls
    live.clock = lambda: later
    figure, status, _alerts, stale_held = caught_up(live).tick(held)
    assert isinstance(figure, Patch)  # nothing was stored, yet the map changes: the layers grey out
    ops = {tuple(op["location"]): op["params"]["value"] for op in figure.to_plotly_json()["operations"]}
    assert ops[("data", start, "opacity")] == 0.3
    zones = live.index["zones"][0]
    assert ops[("data", zones, "marker", "opacity")] == round(0.55 * 0.3, 3)
    assert "simulator (stale since" in to_json(status) and "greyed" in to_json(status)
    assert stale_held["stale"] == ["simulator"]
    assert live.tick(stale_held) == (no_update, no_update, no_update, no_update)
    write_city(store, rio_settings, rain_mm=1.0, observed_at=later)  # the feed is back
    figure, status, _alerts, _ = caught_up(live).tick(stale_held)
    ops = {tuple(op["location"]): op["params"]["value"] for op in figure.to_plotly_json()["operations"]}
    assert ops[("data", start, "opacity")] == 1.0
    assert "stale" not in to_json(status)


def test_the_console_lists_open_incidents_first_and_the_public_page_none(store, rio_settings):
    from opscentre.core import keys
    from opscentre.core.alerting.incidents import Incident

    write_city(store, rio_settings, rain_mm=1.0)
    now = time.time()
    zones = rio_settings.zones.ids[:4]
    incident = Incident(id="i-1", severity="critical", zone_ids=zones, fingerprints=["a|1", "a|2"],
                        opened_at=now, updated_at=now, title="siren criterion met")
    store.redis.hset(keys.INCIDENTS, incident.id, incident.model_dump_json())
    console = LiveMap(rio_settings, store, simulated=True, layer_ids=list(LAYERS), operator_view=True)
    text = to_json(console.initial(list(LAYERS))["alerts"])
    names = [rio_settings.zones.name_by_id[z] for z in zones]
    assert "Open incidents (1)" in text and f"critical · {names[0]}, {names[1]}, {names[2]} +1 · 2 alerts" in text
    public = LiveMap(rio_settings, store, simulated=True, layer_ids=list(LAYERS))
    assert "incident" not in to_json(public.initial(list(LAYERS))["alerts"]).lower()


def test_the_public_map_reads_the_read_models_status_and_greys_a_stale_feed_within_its_maximum_age(
        store, rio_settings, monkeypatch):
    from opscentre.dashboard import live_map
    from opscentre.dashboard.public_layers import STATUS_MAX_AGE_S, PublicLayers

    write_city(store, rio_settings, rain_mm=1.0)
    now = [time.time()]
    documents = PublicLayers(rio_settings, store, True, clock=lambda: now[0])
    live = LiveMap(rio_settings, store, simulated=True, layer_ids=list(LAYERS), clock=lambda: now[0],
                   status_source=documents.city_status)
    monkeypatch.setattr(live_map, "read_status", lambda *a, **k: (_ for _ in ()).throw(AssertionError("per tick")))
    parts = live.initial(list(LAYERS))
    held = parts["stores"][0].data
    start = live.index["rain_gauges"][0]
    assert live.tick(held) == (no_update, no_update, no_update, no_update)
    now[0] += STATUS_MAX_AGE_S / 2
    assert live.tick(held) == (no_update, no_update, no_update, no_update)  # the same snapshot: nothing read
    now[0] += 3600  # no poll for an hour: the feed is stale though no data moved; the snapshot, too old, is rebuilt
    figure, _status, _alerts, stale_held = caught_up(live).tick(held)
    ops = {tuple(op["location"]): op["params"]["value"] for op in figure.to_plotly_json()["operations"]}
    assert ops[("data", start, "opacity")] == 0.3 and stale_held["stale"] == ["simulator"]


def test_a_tick_never_waits_for_a_rebuild_it_shows_the_last_built_version_then_patches(store, rio_settings):
    write_city(store, rio_settings, rain_mm=0.0, jam_level=1)
    live, _parts, held = first_page(store, rio_settings)
    gate = threading.Event()
    built = live._traces

    def slow_build(status):  # a rebuild that takes as long as the test wants
        gate.wait(30)
        return built(status)

    live._traces = slow_build
    write_city(store, rio_settings, rain_mm=15.0, jam_level=1, observed_at=time.time() + 60)
    figure, status, _alerts, new_held = live.tick(held)  # answered while the new version is being built
    assert figure is no_update and new_held["version"] == held["version"]  # the map: the last built
    assert status is not no_update  # the status bar is current at once
    gate.set()
    figure, *_ = caught_up(live).tick(new_held)
    assert isinstance(figure, Patch)  # then the new version, as a patch


def post_tick(client, held: dict, interval: int) -> dict:
    """The console's tick callback as a browser posts it (real Dash dispatch, Flask test client)."""
    from opscentre.dashboard import ids

    (tick,) = [d for d in client.get("/_dash-dependencies").get_json() if f"{ids.MAP_STATE}.data" in d["output"]]
    values = {(ids.TICK, "n_intervals"): 1, (ids.MAP_STATE, "data"): held, (ids.TICK, "interval"): interval}
    body = {
        "output": tick["output"],
        "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]}
                    for o in tick["output"].strip(".").split("...")],
        "inputs": [{**i, "value": values.get((i["id"], i["property"]))} for i in tick["inputs"]],
        "state": [{**s, "value": values.get((s["id"], s["property"]))} for s in tick["state"]],
        "changedPropIds": [f"{ids.TICK}.n_intervals"],
    }
    answer = client.post("/_dash-update-component", json=body)
    assert answer.status_code in (200, 204), answer.get_data(as_text=True)
    return answer.get_json()["response"] if answer.status_code == 200 else {}


def test_while_a_new_version_is_built_the_browser_ticks_sooner_then_back_to_every_two_seconds(store, rio_settings):
    from dash import Dash, html

    from opscentre.dashboard import ids
    from opscentre.dashboard.live_map import CATCH_UP_MS, TICK_MS

    write_city(store, rio_settings, rain_mm=0.0, jam_level=1)
    live, parts, held = first_page(store, rio_settings)
    app = Dash(__name__)
    app.layout = html.Div([parts["graph"], *parts["stores"], html.Div(id=ids.STATUS_BAR), html.Div(id=ids.ALERTS_PANEL)])
    live.register(app)
    client = app.server.test_client()
    gate = threading.Event()
    built = live._traces
    live._traces = lambda status: (gate.wait(30), built(status))[1]
    write_city(store, rio_settings, rain_mm=15.0, jam_level=1, observed_at=time.time() + 60)
    answer = post_tick(client, held, TICK_MS)
    assert answer[ids.TICK]["interval"] == CATCH_UP_MS and ids.MAP not in answer  # not built yet: ask again soon
    gate.set()
    live.catch_up()
    answer = post_tick(client, held, CATCH_UP_MS)
    assert answer[ids.TICK]["interval"] == TICK_MS and ids.MAP in answer  # built: the patch, and back to 2 s
