from layer_city import city, gauge, inside, road

from opscentre.layers import LAYERS, feature_collection


def test_rain_gauges_features_carry_class_accumulations_and_times(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    data = city(rio, [gauge("g1", lon, lat, zone_id=rio.zones.ids[0], name="Vidigal"), gauge("g2", lon + 0.01, lat)],
                rain_mm={"g1": 3.0}, rain_1h_mm={"g1": 9.5}, rain_24h_mm={"g1": 40.0}, rain_96h_mm={"g1": 80.0})
    features = {f["id"]: f for f in LAYERS["rain_gauges"].features(data)}
    g1 = features["g1"]["properties"]
    assert features["g1"]["geometry"] == {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]}
    assert (g1["rain_mm"], g1["rain_class"], g1["rain_1h_mm"], g1["rain_24h_mm"], g1["rain_96h_mm"]) == (
        3.0, "moderate", 9.5, 40.0, 80.0)
    assert g1["name"] == "Vidigal" and g1["source"] == "test" and g1["observed_at"].endswith("Z")
    assert features["g2"]["properties"]["rain_class"] == "no_data"


def test_rain_gauges_trace_sizes_and_colours_by_class(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    data = city(rio, [gauge("a", lon, lat), gauge("b", lon, lat + 0.01)], rain_mm={"a": 0.0, "b": 20.0})
    halo, trace = LAYERS["rain_gauges"].traces(data)
    assert trace["type"] == halo["type"] == "scattermap"
    assert [s + 5 for s in trace["marker"]["size"]] == halo["marker"]["size"]
    sizes, colours = trace["marker"]["size"], trace["marker"]["color"]
    assert sizes[1] > sizes[0] and colours[0] != colours[1]
    assert "very heavy: 20.0 mm/15 min" in trace["text"][1]


def test_traffic_features_and_one_line_trace_per_jam_level(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    segments = [road("r1", [[lon, lat], [lon + 0.01, lat]]), road("r2", [[lon, lat + 0.01], [lon + 0.01, lat + 0.01]]),
                road("r3", [[lon, lat + 0.02], [lon + 0.01, lat + 0.02], [lon + 0.02, lat + 0.03]]),
                road("r4", [[lon, lat + 0.03], [lon + 0.01, lat + 0.03]], free_flow=80)]
    data = city(rio, segments, traffic_speed_kmh={"r1": 55.0, "r2": 12.0, "r3": 5.0, "r4": 20.0},
                jam_level={"r1": 0, "r2": 4, "r3": 4})
    features = {f["id"]: f["properties"] for f in LAYERS["traffic"].features(data)}
    assert features["r2"]["jam_level"] == 4 and features["r2"]["speed_kmh"] == 12.0
    assert features["r4"]["jam_level"] == 4  # derived: 20 of 80 km/h free flow
    assert features["r1"]["free_flow_kmh"] == 60
    traces = LAYERS["traffic"].traces(data)
    assert len(traces) == 9  # no reading + levels 0..5 + the traffic reports + the hover markers
    level4 = traces[1 + 4]
    assert level4["lon"].count(None) == 2  # three segments joined by two gaps
    assert len([x for x in level4["lon"] if x is not None]) == 2 + 3 + 2
    assert len(traces[-1]["customdata"]) == 4


def test_feature_collection_marks_simulated_data(rio):
    real = feature_collection(LAYERS["traffic"], city(rio, []), simulated=False)
    simulated = feature_collection(LAYERS["traffic"], city(rio, []), simulated=True)
    assert "simulated" not in real and simulated["simulated"] is True
    assert simulated["type"] == "FeatureCollection" and simulated["features"] == []


def test_every_layer_draws_a_fixed_number_of_traces(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    full = city(rio, [gauge("g", lon, lat), road("r", [[lon, lat], [lon + 0.01, lat]])],
                rain_mm={"g": 1.0}, traffic_speed_kmh={"r": 30.0})
    empty = city(rio, [])
    for layer in LAYERS.values():
        assert len(layer.traces(full)) == len(layer.traces(empty)), layer.layer_id
