"""The rivers and transit layers, purely: CityData built by hand on Rio's zones."""

from layer_city import OBSERVED, city, inside

from opscentre.layers import LAYERS, feature_collection
from opscentre.layers.rivers import classify_level
from opscentre.layers.transit import ALERTED_COLOUR, OUTLINE_COLOUR, route_colour

RIVERS = LAYERS["rivers"]
TRANSIT = LAYERS["transit"]
STAGES = {"attention_m": 2.55, "alert_m": 3.40, "overflow_m": 4.25}


def river(entity_id, lon, lat, source="cemaden", name=None, **thresholds):
    return {"entity_id": entity_id, "entity_type": "river_station", "name": name or entity_id, "source": source,
            "zone_id": None, "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": thresholds}


def vehicle(event_id, lon, lat, route="L1", observed_at=OBSERVED, **properties):
    return {"event_id": event_id, "source": "gtfs_rt", "category": "vehicle", "event_type": "vehicle",
            "title": f"Route {route} · vehicle {event_id}", "severity": "unknown", "observed_at": observed_at,
            "starts_at": None, "ends_at": observed_at + 900, "zone_ids": ["z"],
            "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": {"route_id": route, **properties}}


def service_alert(event_id, routes, effect="DETOUR", title="L1 detour"):
    return {"event_id": event_id, "source": "gtfs_rt", "category": "transit", "event_type": effect, "title": title,
            "severity": "moderate", "observed_at": OBSERVED, "starts_at": OBSERVED - 3600, "ends_at": None,
            "geometry": None, "zone_ids": [],
            "properties": {"effect": effect, "cause": "CONSTRUCTION", "routes": routes, "stops": ["70011"],
                           "agencies": [], "trips": [], "description": "Buses replace trains.", "url": None}}


# ---- rivers -----------------------------------------------------------------------------------


def test_a_level_is_classed_by_the_highest_threshold_it_reached():
    assert [classify_level(v, STAGES).key for v in (0.75, 2.55, 3.5, 4.25, 9)] == [
        "normal", "attention", "alert", "overflow", "overflow"]
    assert classify_level(5.0, {"overflow_m": 6.0}).key == "normal"  # missing thresholds are skipped
    assert classify_level(1.0, {}).key == "no_thresholds"
    assert classify_level(None, STAGES).key == "no_reading"


def test_river_features_carry_level_thresholds_class_and_discharge(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    data = city(rio, [river("cemaden:1", lon, lat, name="Rio Bananeiras", **STAGES),
                      river("usgs:2", lon + 0.01, lat, source="usgs_iv"), river("river-x", lon, lat + 0.01, **STAGES)],
                river_level_m={"cemaden:1": 3.52, "usgs:2": 1.33}, river_discharge_m3s={"usgs:2": 12.4})
    features = {f["id"]: f for f in RIVERS.features(data)}
    bananeiras = features["cemaden:1"]["properties"]
    assert features["cemaden:1"]["geometry"] == {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]}
    assert (bananeiras["level_m"], bananeiras["river_class"], bananeiras["colour"]) == (3.52, "alert", "#e0362c")
    assert (bananeiras["attention_m"], bananeiras["alert_m"], bananeiras["overflow_m"]) == (2.55, 3.40, 4.25)
    assert bananeiras["observed_at"].endswith("Z") and bananeiras["unit"] == "m"
    usgs = features["usgs:2"]["properties"]
    assert (usgs["river_class"], usgs["discharge_m3s"], usgs["attention_m"]) == ("no_thresholds", 12.4, None)
    assert features["river-x"]["properties"]["river_class"] == "no_reading"


def test_river_hover_says_the_level_the_thresholds_and_the_margin(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    data = city(rio, [river("a", lon, lat, name="Rio Bananeiras", **STAGES), river("b", lon, lat + 0.01)],
                river_level_m={"a": 2.92, "b": 0.5})
    halo, trace = RIVERS.traces(data)
    text = trace["text"][0]
    assert "<b>Rio Bananeiras</b>" in text and "Attention: 2.92 m · 0.48 m below alert" in text
    assert "attention 2.55 m · alert 3.40 m · overflow 4.25 m" in text
    assert "level 0.50 m (no thresholds" in trace["text"][1]
    assert trace["marker"]["color"] == ["#f28c1b", "#3b82c4"]
    assert [s + 5 for s in trace["marker"]["size"]] == halo["marker"]["size"]


def test_the_simulator_stations_are_drawn_with_their_thresholds(rio):
    """The simulator stores the same threshold names (attention_m / alert_m / overflow_m)."""
    from opscentre.workers.feeds.simulator.city import city_key
    from opscentre.workers.feeds.simulator.utilities import river_stations

    stations = river_stations(city_key(rio)).entities
    entities = [{**e, "source": "simulator"} for e in stations]
    first = stations[0]
    data = city(rio, entities, river_level_m={first["entity_id"]: first["properties"]["overflow_m"] + 0.1})
    classes = {f["id"]: f["properties"]["river_class"] for f in RIVERS.features(data)}
    assert classes[first["entity_id"]] == "overflow"
    assert set(classes.values()) == {"overflow", "no_reading"}


# ---- transit ----------------------------------------------------------------------------------


def test_vehicles_are_points_in_their_route_colour_and_alerts_are_listed(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    data = city(rio, [], events=[vehicle("gtfs:vehicle:1", lon, lat, "L1", trip_id="t1"),
                                 vehicle("gtfs:vehicle:2", lon + 0.01, lat, "B7"),
                                 service_alert("gtfs:alert:a1", ["L1", "L3"])])
    features = feature_collection(TRANSIT, data, simulated=False)["features"]
    assert [f["properties"]["feature_type"] for f in features] == ["vehicle", "vehicle", "service_alert"]
    v1 = features[0]["properties"]
    assert features[0]["geometry"] == {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]}
    assert (v1["route_id"], v1["trip_id"], v1["colour"]) == ("L1", "t1", route_colour("L1"))
    assert v1["route_alerts"] == ["gtfs:alert:a1"] and features[1]["properties"]["route_alerts"] == []
    alert = features[2]
    assert alert["geometry"] is None
    assert (alert["properties"]["effect"], alert["properties"]["routes"], alert["properties"]["starts_at"]) == (
        "DETOUR", ["L1", "L3"], "2026-05-28T19:26:40Z")


def test_route_colours_are_stable_and_alerted_routes_are_outlined(rio):
    assert route_colour("L1") == route_colour("L1") and route_colour(None) != route_colour("L1")
    lon, lat = inside(rio, rio.zones.ids[0])
    data = city(rio, [], events=[vehicle("v1", lon, lat, "L1"), vehicle("v2", lon, lat + 0.01, "B7"),
                                 service_alert("a1", ["L1"])])
    outline, dots = TRANSIT.traces(data)
    assert outline["marker"]["color"] == [ALERTED_COLOUR, OUTLINE_COLOUR]
    assert outline["marker"]["size"][0] > outline["marker"]["size"][1]
    assert dots["marker"]["color"] == [route_colour("L1"), route_colour("B7")]
    assert "⚠ detour: L1 detour" in dots["text"][0] and "⚠" not in dots["text"][1]


def test_the_vehicle_hover_gives_status_speed_and_age_against_the_newest_position(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    data = city(rio, [], events=[
        vehicle("v1", lon, lat, current_status="STOPPED_AT", stop_id="70021", speed_ms=10.0, occupancy="FULL"),
        vehicle("v2", lon, lat, observed_at=OBSERVED - 300)])
    _, dots = TRANSIT.traces(data)
    assert "stopped at stop 70021 · 36 km/h · full" in dots["text"][0]
    assert "position at 17:26:40 (UTC-03) · gtfs_rt" in dots["text"][0]
    assert "5 min behind the newest" in dots["text"][1]
    assert TRANSIT.features(data)[1]["properties"]["behind_newest_s"] == 300


def test_both_layers_draw_a_fixed_number_of_traces(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    full = city(rio, [river("r", lon, lat, **STAGES)], events=[vehicle("v", lon, lat), service_alert("a", ["L1"])],
                river_level_m={"r": 1.0})
    empty = city(rio, [])
    for layer in (RIVERS, TRANSIT):
        assert len(layer.traces(full)) == len(layer.traces(empty)) == 2
        assert layer.features(empty) == []
    assert TRANSIT.event_categories == ("vehicle", "transit")
    assert RIVERS.kinds == ("river_level_m", "river_discharge_m3s")
