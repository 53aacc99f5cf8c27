"""The air_quality layer, purely: stations coloured by the category of their index on their scale."""

from layer_city import city, inside

from opscentre.layers import LAYERS

LAYER = LAYERS["air_quality"]


def station(entity_id, lon, lat, scale="rio", name=None, provider="AirNow"):
    properties = {"provider": provider}
    if scale is not None:
        properties["aqi_scale"] = scale
    return {"entity_id": entity_id, "entity_type": "air_quality_station", "name": name or entity_id,
            "source": "openaq", "zone_id": None, "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": properties}


def test_stations_take_the_category_and_colour_of_their_scale(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    data = city(rio, [station("a", lon, lat, "rio", name="Del Norte"), station("b", lon + 0.01, lat, "us_epa"),
                      station("c", lon + 0.02, lat, "eu"), station("d", lon + 0.03, lat, scale=None)],
                aqi={"a": 73.0, "b": 64.0, "c": 6.0, "d": 250.0},
                o3_ugm3={"a": 115.821}, pm25_ugm3={"a": 4.1, "b": 4.1}, pm10_ugm3={"a": 15.0})
    features = {f["id"]: f["properties"] for f in LAYER.features(data)}
    a = features["a"]
    assert (a["aqi"], a["aqi_category"], a["colour"], a["aqi_scale"]) == (73.0, "Regular", "#ffff00", "rio")
    assert (a["o3_ugm3"], a["pm25_ugm3"], a["pm10_ugm3"], a["no2_ugm3"]) == (115.821, 4.1, 15.0, None)
    assert a["name"] == "Del Norte" and a["provider"] == "AirNow" and a["observed_at"].endswith("Z")
    assert (features["b"]["aqi_category"], features["b"]["colour"]) == ("Moderate", "#fffe00")
    assert (features["c"]["aqi_category"], features["c"]["colour"]) == ("Extremely Poor", "#7d2181")
    # no scale stored on the station: the default, Rio's IQA (200-299 is "Bad")
    d = features["d"]
    assert (d["aqi_scale"], d["aqi_category"], d["colour"]) == ("rio", "Bad", "#ff0000")


def test_a_station_without_an_index_is_grey_and_says_so(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    data = city(rio, [station("a", lon, lat)], pm25_ugm3={"a": 30.0})
    feature = LAYER.features(data)[0]["properties"]
    assert feature["aqi"] is None and feature["aqi_category"] is None and feature["colour"] == "#8a8f98"
    assert feature["observed_at"] is not None  # the time of the pollutant reading
    halo, trace = LAYER.traces(data)
    assert trace["marker"]["color"] == ["#8a8f98"]
    assert "no index on IQA Rio (SMAC)" in trace["text"][0] and "PM2.5 30.0 µg/m³" in trace["text"][0]


def test_the_hover_lists_each_pollutant_with_its_sub_index_and_the_category(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    data = city(rio, [station("a", lon, lat, name="Del Norte")], aqi={"a": 73.0},
                o3_ugm3={"a": 115.821}, pm10_ugm3={"a": 15.0}, no2_ugm3={"a": 1.317}, pm25_ugm3={"a": 4.1})
    halo, trace = LAYER.traces(data)
    text = trace["text"][0]
    assert "<b>Del Norte</b>" in text and "IQA Rio (SMAC): 73 — Regular" in text
    assert "O₃ 115.8 µg/m³ (73)" in text and "PM10 15.0 µg/m³ (15)" in text and "NO₂ 1.3 µg/m³ (1)" in text
    assert "PM2.5 4.1 µg/m³" in text and "PM2.5 4.1 µg/m³ (" not in text  # no PM2.5 in Rio's table
    assert "test · AirNow" in text
    assert trace["marker"]["color"] == ["#ffff00"] and halo["hoverinfo"] == "skip"
    assert trace["lat"] == halo["lat"] == [round(lat, 5)]


def test_the_layer_reads_the_index_and_the_four_pollutants_and_draws_two_traces(rio):
    assert set(LAYER.kinds) == {"aqi", "pm25_ugm3", "pm10_ugm3", "o3_ugm3", "no2_ugm3"}
    assert len(LAYER.traces(city(rio, []))) == 2
    assert [e.label for e in LAYER.legend] == ["Good", "Regular", "Inadequate", "Bad", "Terrible", "no index"]
    assert LAYER.legend[0].colour == "#02fe00"


def test_non_station_entities_and_non_point_geometries_are_left_out(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    odd = {**station("b", lon, lat), "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon, lat + 0.1]]}}
    gauge = {**station("c", lon, lat), "entity_type": "rain_gauge"}
    data = city(rio, [station("a", lon, lat), odd, gauge], aqi={"a": 10.0, "b": 10.0, "c": 10.0})
    assert [f["id"] for f in LAYER.features(data)] == ["a"]
