from layer_city import OBSERVED, city, gauge, inside

from opscentre.layers import LAYERS
from opscentre.layers.zones import zone_rain


def zone_id_named(settings, name):
    return next(z for z, n in zip(settings.zones.ids, settings.zones.names) if n == name)


def test_zones_layer_has_one_feature_per_rio_zone(rio):
    features = LAYERS["zones"].features(city(rio, []))
    assert len(features) == 166
    assert [f["id"] for f in features] == rio.zones.ids
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)
    assert {f["properties"]["rain_class"] for f in features} == {"no_data"}


def test_zone_takes_the_worst_class_of_its_gauges(rio):
    copacabana = zone_id_named(rio, "Copacabana")
    lon, lat = inside(rio, copacabana)
    data = city(rio, [gauge("g-wet", lon, lat), gauge("g-dry", lon + 0.0001, lat)],
                rain_mm={"g-wet": 15.0, "g-dry": 0.4})
    feature = next(f for f in LAYERS["zones"].features(data) if f["id"] == copacabana)
    props = feature["properties"]
    assert props["rain_class"] == "very_heavy"
    assert props["rain_class_label"] == "very heavy"
    assert props["rain_mm"] == 15.0
    assert props["level"] == 5
    assert props["gauge_id"] == "g-wet"
    assert props["from_nearest_gauge"] is False
    assert props["observed_at"] == "2026-05-28T20:26:40Z"
    assert props["observed_at_local"] == "2026-05-28T17:26:40-03:00"  # America/Sao_Paulo


def test_zone_without_a_gauge_takes_its_nearest_gauges_class(rio):
    copacabana, leme = zone_id_named(rio, "Copacabana"), zone_id_named(rio, "Leme")
    tijuca = zone_id_named(rio, "Tijuca")
    c_lon, c_lat = inside(rio, copacabana)
    t_lon, t_lat = inside(rio, tijuca)
    data = city(rio, [gauge("copa", c_lon, c_lat), gauge("tijuca", t_lon, t_lat)],
                rain_mm={"copa": 7.0, "tijuca": 0.5})
    rows = {row["zone_id"]: row for row in zone_rain(data)}
    assert rows[leme]["gauge_id"] == "copa"  # Leme borders Copacabana, far from Tijuca
    assert rows[leme]["from_nearest_gauge"] is True
    assert rows[leme]["rain_class"].key == "heavy"
    assert rows[tijuca]["rain_class"].key == "weak"
    assert all(row["rain_class"].key != "no_data" for row in rows.values())


def test_gauges_without_a_reading_do_not_speak_for_a_zone(rio):
    copacabana = zone_id_named(rio, "Copacabana")
    lon, lat = inside(rio, copacabana)
    far_lon, far_lat = inside(rio, zone_id_named(rio, "Tijuca"))
    data = city(rio, [gauge("silent", lon, lat), gauge("far", far_lon, far_lat)], rain_mm={"far": 2.0})
    row = next(r for r in zone_rain(data) if r["zone_id"] == copacabana)
    assert row["gauge_id"] == "far" and row["from_nearest_gauge"] is True


def test_zones_trace_sends_levels_and_geometry_once(rio):
    lon, lat = inside(rio, zone_id_named(rio, "Copacabana"))
    data = city(rio, [gauge("g", lon, lat)], rain_mm={"g": 15.0})
    (trace,) = LAYERS["zones"].traces(data)
    assert trace["type"] == "choroplethmap"
    assert len(trace["locations"]) == len(trace["z"]) == len(trace["customdata"]) == 166
    assert len(trace["geojson"]["features"]) == 166
    assert set(trace["z"]) == {5}  # one gauge: every zone takes it, nearest or not
    assert trace["customdata"][0][0] == "very heavy: 15.0 mm/15 min" and trace["meta"] == "UTC-03"
    assert trace["customdata"][0][2] == "17:26 · test"
    assert LAYERS["zones"].traces(data)[0]["geojson"] is trace["geojson"]  # built once, reused
    assert OBSERVED


def test_a_zone_with_alerts_carries_its_worst_one_and_is_outlined_in_its_stage_colour(rio):
    from opscentre.layers.stages import stage_colour

    zone = rio.zones.ids[5]
    lon, lat = inside(rio, zone)
    alerts = [{"id": "a-1", "rule": "rain_15min", "severity": "warning", "zone_id": None, "entity_id": "g1",
               "summary": "warning rain at G1"},
              {"id": "a-2", "rule": "siren_criterion", "severity": "critical", "zone_id": zone, "entity_id": None,
               "summary": "siren criterion met"}]
    data = city(rio, [gauge("g1", lon, lat, zone_id=zone)], alerts=alerts, rain_mm={"g1": 7.0})
    feature = next(f for f in LAYERS["zones"].features(data) if f["id"] == zone)["properties"]
    assert feature["alert_severity"] == "critical" and feature["alert_level"] == 4
    assert feature["alert_colour"] == stage_colour(4)
    assert [a["id"] for a in feature["alerts"]] == ["a-2", "a-1"]
    quiet = next(f for f in LAYERS["zones"].features(data) if f["id"] != zone)["properties"]
    assert quiet["alert_level"] == 0 and quiet["alerts"] == []
    (trace,) = LAYERS["zones"].traces(data)
    i = rio.zones.ids.index(zone)
    assert trace["marker"]["line"]["color"][i] == stage_colour(4) and trace["marker"]["line"]["width"][i] == 3.0
    assert "siren criterion met (+1 more)" in trace["customdata"][i][3]
