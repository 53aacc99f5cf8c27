"""The console's map at city scale, without a browser: level of detail and item Patches.

A city of 6,000 entities (the alert bench's, 2,400 rain gauges and 600 river stations, scattered
around their bairros' points): at city zoom the figure holds one marker per bairro, not the
gauges; zoomed in (the map's relayoutData), exactly the gauges in view; a tick after 1% of the
entities got new readings assigns only the items that changed, a small fraction of the figure."""

from __future__ import annotations

import math
import time

import numpy as np
import orjson
import pytest
from dash import Patch, no_update
from dash._utils import to_json

from opscentre.bench.alert_city import STEP_S, make_city, store_city
from opscentre.bench.dashboard import Changer, _scatter
from opscentre.dashboard.city_reading import read_city_data
from opscentre.dashboard.components.map_figure import build_figure, layer_traces
from opscentre.dashboard.live_map import LiveMap
from opscentre.core.models import ObservationBatch
from opscentre.layers import LAYERS
from opscentre.layers.lod import LOD_KEY, POINTS_MAX, View, drawn

ENTITIES = 6_000
GAUGES = int(ENTITIES * 0.4)


@pytest.fixture
def city(store, rio_settings):
    built = make_city(rio_settings, ENTITIES, hours=1.5, now=math.floor(time.time() / STEP_S) * STEP_S)
    _scatter(built, rio_settings)
    store_city(store, built, 24 * 3600)
    return built


def gauge_trace(figure: dict, live: LiveMap) -> dict:
    return figure["data"][live.index["rain_gauges"][1] - 1]


def relayout(view: View) -> dict:
    """What plotly's map sends when moved: its four corners (lon, lat)."""
    return {"map.center": {"lon": (view.west + view.east) / 2, "lat": (view.south + view.north) / 2},
            "map.zoom": 14, "map._derived": {"coordinates": [[view.west, view.north], [view.east, view.north],
                                                             [view.east, view.south], [view.west, view.south]]}}


def test_at_city_zoom_the_map_holds_a_marker_per_bairro_not_every_gauge(store, rio_settings, city):
    live = LiveMap(rio_settings, store, simulated=True, layer_ids=list(LAYERS))
    figure = live.initial(list(LAYERS))["graph"].figure
    gauges = gauge_trace(figure, live)
    zones = rio_settings.zones
    assert GAUGES > POINTS_MAX
    assert len(gauges["lat"]) == len(zones.ids)  # the alert city puts gauges in every bairro
    points = {(round(lon, 5), round(lat, 5)) for lon, lat in zones.representative_points}
    assert set(zip(gauges["lon"], gauges["lat"])) <= points
    assert all(" pluviômetros<br>" in text for text in gauges["text"])  # (Rio's console: its language)
    counts = sorted(int(text.split("</b>: ")[1].split(" ")[0]) for text in gauges["text"])
    assert sum(counts) == GAUGES
    assert LOD_KEY not in orjson.dumps(figure).decode()  # the private marks never leave the server
    halo = figure["data"][live.index["rain_gauges"][0]]
    assert len(halo["lat"]) == len(gauges["lat"])  # the outline follows its markers


def test_a_bairro_marker_is_its_worst_gauge():
    zones = type("Z", (), {"ids": ["a", "b"], "representative_points": [(1.0, 2.0), (3.0, 4.0)],
                           "name_by_id": {"a": "Alpha", "b": "Beta"}})()
    main = {"lat": [0.1, 0.2, 0.3], "lon": [0.1, 0.2, 0.3], "text": ["x", "y", "z"],
            "marker": {"color": ["green", "red", "blue"], "size": [5, 9, 7]},
            LOD_KEY: {"zone": ["a", "a", "b"], "rank": [1.0, 5.0, 2.0], "noun": "gauges"}}
    layer = drawn({"rain_gauges": [main]}, zones, None, points_max=2)["rain_gauges"][0]
    assert layer["marker"]["color"] == ["red", "blue"] and layer["marker"]["size"] == [9, 7]
    assert layer["lon"] == [1.0, 3.0] and layer["lat"] == [2.0, 4.0]
    assert layer["text"] == ["<b>Alpha</b>: 2 gauges<br>y", "<b>Beta</b>: 1 gauges<br>z"]
    assert LOD_KEY not in layer
    whole = drawn({"rain_gauges": [main]}, zones, None, points_max=3)["rain_gauges"][0]
    assert whole["lat"] == main["lat"] and LOD_KEY not in whole


def live_caught_up(live: LiveMap) -> LiveMap:
    live.catch_up()  # (a tick does not wait for a rebuild: it runs beside the requests)
    return live


def test_zoomed_in_the_map_holds_exactly_the_gauges_in_view(store, rio_settings, city):
    live = LiveMap(rio_settings, store, simulated=True, layer_ids=list(LAYERS))
    parts = live.initial(list(LAYERS))
    held = parts["stores"][0].data
    gauge_ids, lon, lat = [], [], []
    for entity in city.entities:
        if entity.entity_type == "rain_gauge":
            gauge_ids.append(entity.entity_id)
            lon.append(entity.geometry["coordinates"][0])
            lat.append(entity.geometry["coordinates"][1])
    lon, lat = np.array(lon), np.array(lat)
    centre = rio_settings.zones.representative_points[0]
    view = View(centre[0] - 0.03, centre[1] - 0.03, centre[0] + 0.03, centre[1] + 0.03)
    inside = (lon >= view.west) & (lon <= view.east) & (lat >= view.south) & (lat <= view.north)
    assert 0 < inside.sum() <= POINTS_MAX
    figure, _status, _alerts, new_held = live.tick(held, relayout(view))
    assert isinstance(figure, Patch)
    ops = {tuple(op["location"]): op["params"]["value"] for op in figure.to_plotly_json()["operations"]}
    index = live.index["rain_gauges"][1] - 1
    shown = set(zip(ops[("data", index, "lon")], ops[("data", index, "lat")]))
    assert shown == {(round(x, 5), round(y, 5)) for x, y in zip(lon[inside], lat[inside])}
    assert len(ops[("data", index, "text")]) == int(inside.sum())
    assert new_held["view"] == view.key()
    # the same view again: nothing to send; back out to the city: the bairro markers again
    assert live.tick(new_held, relayout(view))[0] is no_update
    whole_city = View(*rio_settings.zones.bounds)
    figure, *_ = live.tick(new_held, relayout(whole_city))
    ops = {tuple(op["location"]): op["params"]["value"] for op in figure.to_plotly_json()["operations"]}
    assert len(ops[("data", index, "lat")]) == len(rio_settings.zones.ids)


def test_a_tick_after_one_percent_changed_assigns_only_those_items(store, rio_settings, city):
    live = LiveMap(rio_settings, store, simulated=True, layer_ids=list(LAYERS))
    parts = live.initial(list(LAYERS))
    held, first = parts["stores"][0].data, parts["graph"].figure
    index = live.index["rain_gauges"][1] - 1
    changer = Changer(store, city)
    changer.change()  # new readings (5-20 mm more) at 1% of the entities of every kind
    patch, _s, _a, after = live_caught_up(live).tick(held)
    assert isinstance(patch, Patch)
    ops = patch.to_plotly_json()["operations"]
    items = [op for op in ops if op["location"][:2] == ["data", index]]
    assert items and all(isinstance(op["location"][-1], int) for op in items)  # item by item
    changed_bairros = {op["location"][-1] for op in items}
    assert 0 < len(changed_bairros) <= int(GAUGES * 0.01)  # at most one per changed gauge
    assert not any(op["location"][-1] in ("lat", "lon") for op in ops)  # nothing moved
    from test_live_map import applied

    fresh = LiveMap(rio_settings, store, simulated=True, layer_ids=list(LAYERS)).initial(list(LAYERS))
    assert applied(first, patch)["data"] == orjson.loads(orjson.dumps(fresh["graph"].figure))["data"]
    # the goal's measure: the full figure, every entity a point (as the console drew it before)
    full = build_figure(layer_traces(read_city_data(store, rio_settings), list(LAYERS)), rio_settings, list(LAYERS))
    assert len(to_json(patch)) <= 0.05 * len(orjson.dumps(full))
    assert after["version"] == store.version()


def test_zoomed_in_a_change_in_view_patches_only_those_gauges(store, rio_settings, city):
    live = LiveMap(rio_settings, store, simulated=True, layer_ids=list(LAYERS))
    held = live.initial(list(LAYERS))["stores"][0].data
    centre = rio_settings.zones.representative_points[3]
    view = View(centre[0] - 0.03, centre[1] - 0.03, centre[0] + 0.03, centre[1] + 0.03)
    figure, _s, _a, held = live.tick(held, relayout(view))
    index = live.index["rain_gauges"][1] - 1
    ops = {tuple(op["location"]): op["params"]["value"] for op in figure.to_plotly_json()["operations"]}
    shown = list(zip(ops[("data", index, "lon")], ops[("data", index, "lat")]))
    where = {(e.geometry["coordinates"][0], e.geometry["coordinates"][1]): e.entity_id for e in city.entities
             if e.entity_type == "rain_gauge"}
    in_view = [where[p] for p in shown]
    now = time.time()
    store.write_poll("bench", [], [ObservationBatch(source="bench", kind="rain_mm", entity_ids=in_view[:3],
                                                    values=[40.0, 41.0, 42.0], observed_at=[now] * 3)],
                     {"status": "ok", "last_success_ts": now}, {"polls": 1}, 24 * 3600, now)
    patch, *_ = live_caught_up(live).tick(held, relayout(view))
    items = [op for op in patch.to_plotly_json()["operations"] if op["location"][:2] == ["data", index]]
    assert {op["location"][-1] for op in items} == {0, 1, 2}  # those three gauges, item by item
    assert {op["location"][2] for op in items} >= {"marker", "text"}
