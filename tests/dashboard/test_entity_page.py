"""The entity page over real HTTP (a real Redis): a gauge's last 24 h as a chart in the city's
time with the rules' levels as lines, a river station's own thresholds, its open alerts, an
unknown id's page; and the map's click, which opens a point's page and not a zone aggregate's."""

from __future__ import annotations

import time
from datetime import datetime

import orjson
import pytest
from city_seed import alert_record, write_city
from test_pages import PASSWORD, layout_for, sign_in

from opscentre.core import operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.models import Entity, ObservationBatch
from opscentre.core.roles import Role
from opscentre.dashboard import ids
from opscentre.dashboard.pages.entity import clicked_entity, entity_path
from opscentre.layers.lod import LOD_KEY, View, drawn, lod_marks

HOUR = 3600.0


def components(node, found=None):
    """Every component (type, props) in a Dash layout's JSON."""
    found = [] if found is None else found
    if isinstance(node, dict):
        if "props" in node and "type" in node:
            found.append(node)
        for value in node.values():
            components(value, found)
    elif isinstance(node, list):
        for value in node:
            components(value, found)
    return found


def by_id(layout: str, component_id: str) -> dict:
    return next(c["props"] for c in components(orjson.loads(layout)) if c["props"].get("id") == component_id)


@pytest.fixture
def city(store, rio_settings):
    now = time.time()
    entities = write_city(store, rio_settings, rain_mm=0.4, observed_at=now - 30 * HOUR)  # outside the day
    write_city(store, rio_settings, rain_mm={entities[0].entity_id: 8.0}, observed_at=now - 10 * HOUR)
    write_city(store, rio_settings, rain_mm={entities[0].entity_id: 2.5}, observed_at=now - 60)
    station = Entity(entity_id="river-1", entity_type="river_station", name="Rio Maracanã", source="simulator",
                     zone_id=rio_settings.zones.ids[0], geometry={"type": "Point", "coordinates": [-43.23, -22.92]},
                     properties={"attention_m": 1.5, "alert_m": 2.0, "overflow_m": 2.6})
    store.write_poll("simulator", [station], [ObservationBatch(source="simulator", kind="river_level_m",
                                                               entity_ids=["river-1"], values=[1.7],
                                                               observed_at=[now - HOUR])],
                     {"status": "ok"}, {"polls": 1}, retention_s=48 * HOUR, wall_now=now)
    gauge = entities[0].entity_id
    AlertStore(store.redis).put([alert_record("a-gauge", "firing", severity="warning").model_copy(
                                     update={"entity_id": gauge}),
                                 alert_record("a-other", "firing", severity="critical").model_copy(
                                     update={"entity_id": entities[1].entity_id})])
    operators.add(store.redis, "viewer.user", PASSWORD, Role.VIEWER)
    return {"gauge": gauge, "now": now}


def test_a_gauges_page_charts_its_day_in_the_citys_time_with_the_rules_levels(live, city, rio_settings):
    tz = rio_settings.tz
    session = sign_in(live, "viewer.user")
    page = layout_for(session, live, entity_path(city["gauge"]))
    figure = by_id(page, f"{ids.ENTITY_CHART}-rain_mm")["figure"]
    readings, *levels = figure["data"]
    assert readings["y"] == [8.0, 2.5]  # the reading of 30 h ago is not in the last 24 h
    assert readings["x"] == [datetime.fromtimestamp(city["now"] - 10 * HOUR, tz).strftime("%Y-%m-%d %H:%M:%S"),
                             datetime.fromtimestamp(city["now"] - 60, tz).strftime("%Y-%m-%d %H:%M:%S")]
    start, end = (datetime.fromisoformat(x).replace(tzinfo=tz).timestamp() for x in figure["layout"]["xaxis"]["range"])
    assert end - start == 24 * HOUR and abs(end - city["now"]) < 60
    assert figure["layout"]["xaxis"]["title"]["text"].endswith("(America/Sao_Paulo)")
    # Rio's rules on a gauge's 15-min rain: rain_15min's classes and the stage criteria's conditions
    assert [(lv["meta"]["rule"], lv["meta"]["severity"], lv["y"][0]) for lv in levels] == [
        ("rain_15min", "advisory", 1.25), ("rain_15min", "warning", 6.25), ("rain_stage", "warning", 10.1),
        ("rain_15min", "critical", 12.5), ("rain_stage", "critical", 25.0)]
    assert all(lv["x"] == figure["layout"]["xaxis"]["range"] for lv in levels)  # across the whole day
    assert by_id(page, f"{ids.ENTITY_CHART}-rain_1h_mm")  # a chart per kind it has
    alerts = orjson.dumps(by_id(page, ids.ENTITY_ALERTS)).decode()
    assert '"data-alert":"a-gauge"' in alerts and "a-other" not in alerts


def test_a_river_stations_lines_are_its_own_thresholds(live, city):
    session = sign_in(live, "viewer.user")
    figure = by_id(layout_for(session, live, "/entity/river-1"), f"{ids.ENTITY_CHART}-river_level_m")["figure"]
    readings, *levels = figure["data"]
    assert readings["y"] == [1.7]
    assert [(lv["meta"]["severity"], lv["y"][0]) for lv in levels] == [("warning", 1.5), ("critical", 2.0),
                                                                       ("emergency", 2.6)]


def test_an_unknown_entity_gets_a_page_saying_so(live, city):
    session = sign_in(live, "viewer.user")
    page = layout_for(session, live, "/entity/no-such-gauge")
    assert "no-such-gauge" in orjson.dumps(by_id(page, ids.ENTITY_UNKNOWN)).decode()
    assert f'"id":"{ids.ENTITY_CHART}' not in page.replace(" ", "")


def click_body(session, live, customdata):
    """The map click's callback request, its output named as the browser learns it (/_dash-dependencies)."""
    dependencies = session.get(f"{live.url}/_dash-dependencies", timeout=30).json()
    output = next(d["output"] for d in dependencies
                  if d["output"].startswith(f"{ids.URL}.pathname") and d["inputs"][0]["id"] == ids.MAP)
    return {"output": output, "outputs": {"id": ids.URL, "property": output.split(".", 1)[1]},
            "inputs": [{"id": ids.MAP, "property": "clickData",
                        "value": {"points": [{"curveNumber": 3, "pointNumber": 0, "lat": -22.9, "lon": -43.2,
                                               "customdata": customdata}]}}],
            "state": [{"id": ids.URL, "property": "pathname", "value": "/"}],
            "changedPropIds": [f"{ids.MAP}.clickData"]}


def test_a_click_on_a_point_of_the_map_page_opens_its_page_and_a_click_on_an_aggregate_does_not(live, city):
    session = sign_in(live, "viewer.user")
    body = click_body(session, live, city["gauge"])
    response = session.post(f"{live.url}/_dash-update-component", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["response"][ids.URL]["pathname"] == entity_path(city["gauge"])
    road = session.post(f"{live.url}/_dash-update-component",
                        json={**body, "inputs": [{**body["inputs"][0], "value": {"points": [
                            {"curveNumber": 9, "pointNumber": 2, "lat": -22.9, "lon": -43.2,
                             "customdata": [55, "free", "14:05", "road-001"]}]}}]},
                        timeout=30)
    assert road.json()["response"][ids.URL]["pathname"] == "/entity/road-001"
    aggregate = session.post(f"{live.url}/_dash-update-component",
                             json={**body, "inputs": [{**body["inputs"][0], "value": {"points": [
                                 {"curveNumber": 3, "pointNumber": 0, "lat": -22.9, "lon": -43.2,
                                  "customdata": None}]}}]}, timeout=30)
    assert aggregate.status_code == 204  # nothing to open
    bairro = session.post(f"{live.url}/_dash-update-component",
                          json={**body, "inputs": [{**body["inputs"][0], "value": {"points": [
                              {"curveNumber": 0, "pointNumber": 4, "location": "z1",
                               "customdata": ["Tijuca", "chuva fraca", "14:05", "<br>1 alerta"]}]}}]}, timeout=30)
    assert bairro.status_code == 204  # an area, not an entity's point
    on_the_wall = session.post(f"{live.url}/_dash-update-component",
                               json={**body, "state": [{**body["state"][0], "value": "/wall"}]}, timeout=30)
    assert on_the_wall.status_code == 204  # the wall's map is not left by a click


def test_big_layers_name_their_points_and_not_their_zone_aggregates(rio_settings):
    zones = rio_settings.zones
    points = [(-43.2 + i * 0.001, -22.9 - i * 0.001) for i in range(6)]
    zone_ids = zones.assign(points)
    trace = {"type": "scattermap", "lon": [p[0] for p in points], "lat": [p[1] for p in points],
             "text": [f"g{i}" for i in range(6)], "customdata": [f"g{i}" for i in range(6)],
             LOD_KEY: lod_marks(zone_ids, list(range(6)), "gauges")}
    city_view = drawn({"rain_gauges": [trace]}, zones, None, points_max=3)["rain_gauges"][0]
    assert city_view["customdata"] == [None] * len(city_view["lat"])  # zone aggregates: no entity
    assert clicked_entity({"points": [{"lat": 0, "lon": 0, "customdata": city_view["customdata"][0]}]}) is None
    zoomed = drawn({"rain_gauges": [trace]}, zones, View(-43.2005, -22.9025, -43.1975, -22.8995),
                   points_max=3)["rain_gauges"][0]
    assert zoomed["customdata"] == ["g0", "g1", "g2"]  # the points in view: their own ids
    assert clicked_entity({"points": [{"lat": 0, "lon": 0, "customdata": zoomed["customdata"][1]}]}) == "g1"
    assert clicked_entity(None) is None and clicked_entity({"points": []}) is None
