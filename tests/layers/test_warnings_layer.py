"""The warnings layer, pure: warning events (as stored) -> public GeoJSON and a fixed set of traces."""

from layer_city import OBSERVED, city, inside

from opscentre.layers import LAYERS, feature_collection
from opscentre.layers.warnings import SEVERITY_STYLES

LAYER = LAYERS["warnings"]


def square(lon, lat, size=0.01):
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]


def warning(event_id, severity="severe", geometry=None, source="cap", zone_ids=(), **properties):
    return {"event_id": event_id, "source": source, "category": "warning", "event_type": "Flood Warning",
            "title": f"Flood Warning {event_id}", "severity": severity, "observed_at": OBSERVED,
            "starts_at": OBSERVED, "ends_at": OBSERVED + 6 * 3600, "geometry": geometry, "zone_ids": list(zone_ids),
            "references": [], "cancelled": False, "properties": properties}


def test_layer_is_registered_and_reads_warning_events():
    assert LAYER.layer_id == "warnings" and LAYER.public
    assert LAYER.event_categories == ("warning",) and LAYER.kinds == ()
    assert [entry.label for entry in LAYER.legend] == ["extreme", "severe", "moderate", "minor", "severity unknown"]
    assert all(entry.shape == "area" for entry in LAYER.legend)


def test_features_carry_severity_times_zones_and_a_null_geometry_for_named_areas(rio):
    zone = rio.zones.ids[0]
    lon, lat = inside(rio, zone)
    polygon = {"type": "Polygon", "coordinates": [square(lon, lat)]}
    events = [
        warning("W1", "extreme", polygon, zone_ids=[zone], area_desc="Centro", urgency="Immediate"),
        warning("NWS-1", "moderate", None, source="nws_alerts", area_desc="North Oregon Coast",
                geocodes={"UGC": ["ORZ001"]}),
    ]
    collection = feature_collection(LAYER, city(rio, [], events=events), simulated=False)
    assert collection["layer"] == "warnings" and "simulated" not in collection
    features = {f["id"]: f for f in collection["features"]}
    assert set(features) == {"cap:W1", "nws_alerts:NWS-1"}
    w1 = features["cap:W1"]
    assert w1["geometry"]["type"] == "Polygon"
    assert w1["geometry"]["coordinates"][0][0] == [round(lon, 5), round(lat, 5)]
    props = w1["properties"]
    assert (props["severity"], props["severity_label"], props["colour"]) == ("extreme", "extreme",
                                                                           SEVERITY_STYLES["extreme"][1])
    assert props["zone_ids"] == [zone] and props["zone_names"] == [rio.zones.names[0]]
    assert props["area_desc"] == "Centro" and props["urgency"] == "Immediate" and props["on_map"] is True
    assert props["observed_at"] == "2026-05-28T20:26:40Z" and props["observed_at_local"] == "2026-05-28T17:26:40-03:00"
    assert props["starts_at"] == "2026-05-28T20:26:40Z"
    assert props["ends_at"] == "2026-05-29T02:26:40Z" and props["ends_at_local"] == "2026-05-28T23:26:40-03:00"
    named = features["nws_alerts:NWS-1"]
    assert named["geometry"] is None
    assert named["properties"]["area_desc"] == "North Oregon Coast"
    assert named["properties"]["geocodes"] == {"UGC": ["ORZ001"]}
    assert named["properties"]["zone_ids"] == [] and named["properties"]["on_map"] is False


def test_polygons_are_filled_in_their_severity_trace_and_each_gets_one_hover_marker(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    two_squares = {"type": "MultiPolygon", "coordinates": [[square(lon, lat)], [square(lon + 0.05, lat)]]}
    with_hole = {"type": "Polygon", "coordinates": [square(lon, lat, 0.04), square(lon + 0.01, lat + 0.01, 0.01)]}
    mixed = {"type": "GeometryCollection", "geometries": [
        {"type": "Polygon", "coordinates": [square(lon, lat + 0.1)]}, {"type": "Point", "coordinates": [lon, lat]}]}
    epicentre = {"type": "Point", "coordinates": [lon, lat + 0.2]}
    events = [warning("a", "severe", two_squares), warning("b", "severe", with_hole), warning("c", "minor", mixed),
              warning("d", "bogus", epicentre), warning("e", "extreme", None)]
    traces = LAYER.traces(city(rio, [], events=events))
    assert len(traces) == len(SEVERITY_STYLES) + 1
    fills = dict(zip(SEVERITY_STYLES, traces))
    assert all(t["fill"] == "toself" and t["type"] == "scattermap" for t in fills.values())
    severe = fills["severe"]
    assert severe["lon"].count(None) == 2  # three outer rings (the hole is not drawn), two gaps
    assert len([x for x in severe["lon"] if x is not None]) == 15
    assert severe["line"]["color"] == SEVERITY_STYLES["severe"][1]
    assert len([x for x in fills["minor"]["lon"] if x is not None]) == 5 and fills["minor"]["lon"].count(None) == 0
    assert fills["extreme"]["lon"] == [] and fills["unknown"]["lon"] == []  # the point has no area to fill
    hover = traces[-1]
    assert len(hover["lon"]) == len(hover["text"]) == 4  # a, b, c, d: everything with a geometry
    assert hover["marker"]["color"] == [SEVERITY_STYLES[k][1] for k in ("severe", "severe", "minor", "unknown")]
    assert "<b>Flood Warning</b> (severe)" in hover["text"][0] and "until 28 May 23:26 (UTC-03)" in hover["text"][0]
    assert hover["lat"][3] == round(lat + 0.2, 5)


def test_the_number_of_traces_is_fixed(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    full = city(rio, [], events=[warning("a", "severe", {"type": "Polygon", "coordinates": [square(lon, lat)]})])
    assert len(LAYER.traces(full)) == len(LAYER.traces(city(rio, []))) == 6
    assert LAYER.features(city(rio, [])) == []
