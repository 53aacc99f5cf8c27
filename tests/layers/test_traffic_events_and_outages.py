"""Traffic events (reported jams and reports, e.g. Waze) on the traffic layer, and the outages layer."""

from layer_city import OBSERVED, city, inside, road

from opscentre.layers import LAYERS
from opscentre.layers.outages import CUSTOMER_CLASSES, marker_size
from opscentre.layers.traffic import JAM_LEVELS, REPORT_CLASSES


def jam_event(event_id, coordinates, level, zone_id=None, **properties):
    return {"event_id": event_id, "source": "waze", "category": "traffic", "event_type": "JAM",
            "title": f"Jam {event_id}", "severity": "moderate", "observed_at": OBSERVED, "starts_at": OBSERVED,
            "ends_at": None, "geometry": {"type": "LineString", "coordinates": coordinates},
            "zone_ids": [zone_id] if zone_id else [],
            "properties": {"level": level, "speedKMH": 8.5, "delay": 240, "length": 900, "street": "Av. Brasil",
                           "city": "Rio de Janeiro", **properties}}


def report_event(event_id, lon, lat, event_type, reliability=7):
    return {"event_id": event_id, "source": "waze", "category": "traffic", "event_type": event_type,
            "title": f"{event_type} on Rua X", "severity": "moderate", "observed_at": OBSERVED, "starts_at": OBSERVED,
            "ends_at": None, "geometry": {"type": "Point", "coordinates": [lon, lat]}, "zone_ids": [],
            "properties": {"reliability": reliability, "subtype": ""}}


def outage_event(event_id, geometry, customers, zone_id, cause="Tree failure"):
    return {"event_id": event_id, "source": "outages_geojson", "category": "outage", "event_type": "outage",
            "title": f"Power outage: {customers} customers", "severity": "minor", "observed_at": OBSERVED,
            "starts_at": OBSERVED - 3600, "ends_at": None, "geometry": geometry, "zone_ids": [zone_id],
            "properties": {"customers": customers, "cause": cause, "substation": "ROWAN(1)", "feeder": "CKT1-01"}}


def zone_entity(entity_id, zone_id):
    return {"entity_id": entity_id, "entity_type": "zone", "source": "outages_geojson", "zone_id": zone_id,
            "name": entity_id, "geometry": None, "properties": {}}


# ---- traffic ----------------------------------------------------------------------------


def test_reported_jams_join_the_segments_on_the_same_level_traces(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    segment = road("r1", [[lon, lat], [lon + 0.01, lat]])
    jams = [jam_event("waze:jam:1", [[lon, lat + 0.01], [lon + 0.01, lat + 0.01], [lon + 0.02, lat + 0.02]], 4),
            jam_event("waze:jam:2", [[lon, lat + 0.02], [lon + 0.01, lat + 0.02]], 5, delay=-1, blocked=True),
            jam_event("waze:jam:3", [[lon, lat + 0.03], [lon + 0.01, lat + 0.03]], None)]
    traces = LAYERS["traffic"].traces(city(rio, [segment], events=jams, jam_level={"r1": 4}))
    level4, level5, no_reading = traces[1 + 4], traces[1 + 5], traces[0]
    assert level4["line"]["color"] == JAM_LEVELS[4][1]
    assert level4["lon"].count(None) == 1 and len([x for x in level4["lon"] if x is not None]) == 2 + 3
    assert len([x for x in level5["lon"] if x is not None]) == 2
    assert len([x for x in no_reading["lon"] if x is not None]) == 2  # a jam without a level
    hover = traces[-1]
    assert len(hover["customdata"]) == 4 and len(hover["text"]) == 4
    assert "reported jam" in hover["text"][1] and "Av. Brasil" in hover["text"][1]
    assert hover["customdata"][1][:2] == [8, "very heavy, +4 min"]
    assert hover["customdata"][2][1] == "standstill (road blocked)"
    assert "waze" in hover["meta"]


def test_reports_are_markers_coloured_by_class(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    events = [report_event("waze:alert:a", lon, lat, "ACCIDENT"), report_event("waze:alert:c", lon, lat, "ROAD_CLOSED"),
              report_event("waze:alert:h", lon, lat, "WEATHERHAZARD"),
              report_event("waze:alert:x", lon, lat, "FLYING_SAUCER", reliability=None)]
    traces = LAYERS["traffic"].traces(city(rio, [], events=events))
    reports = traces[-2]
    colours = {key: colour for key, _, colour, _ in REPORT_CLASSES}
    assert reports["name"] == "Traffic reports" and len(reports["lat"]) == 4
    assert reports["marker"]["color"] == [colours["accident"], colours["closure"], colours["hazard"], colours["other"]]
    assert reports["marker"]["size"][0] > reports["marker"]["size"][3]
    assert "ACCIDENT on Rua X" in reports["text"][0] and "reliability 7/10" in reports["text"][0]
    assert "reliability" not in reports["text"][3]


def test_traffic_features_carry_jams_and_reports(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    events = [jam_event("waze:jam:1", [[lon, lat], [lon + 0.01, lat]], 3, zone_id=rio.zones.ids[0]),
              report_event("waze:alert:a", lon, lat, "ROAD_CLOSED")]
    features = {f["id"]: f for f in LAYERS["traffic"].features(city(rio, [], events=events))}
    jam = features["waze:jam:1"]
    assert jam["geometry"]["type"] == "LineString"
    assert {k: jam["properties"][k] for k in ("kind", "jam_level", "jam_label", "delay_s", "speed_kmh")} == {
        "kind": "jam", "jam_level": 3, "jam_label": "heavy", "delay_s": 240, "speed_kmh": 8.5}
    assert jam["properties"]["zone_ids"] == [rio.zones.ids[0]] and jam["properties"]["source"] == "waze"
    report = features["waze:alert:a"]["properties"]
    assert (report["kind"], report["report_class"], report["event_type"]) == ("report", "closure", "ROAD_CLOSED")


def test_traffic_reads_traffic_events_and_keeps_its_trace_count(rio):
    lon, lat = inside(rio, rio.zones.ids[0])
    layer = LAYERS["traffic"]
    assert layer.event_categories == ("traffic",)
    busy = city(rio, [road("r", [[lon, lat], [lon + 0.01, lat]])], traffic_speed_kmh={"r": 20.0},
                events=[jam_event("waze:jam:1", [[lon, lat], [lon + 0.01, lat]], 2),
                        report_event("waze:alert:a", lon, lat, "ACCIDENT")])
    assert len(layer.traces(busy)) == len(layer.traces(city(rio, []))) == 9
    assert layer.sources(busy) == {"test", "waze"}


# ---- outages ----------------------------------------------------------------------------


def test_outages_are_sized_by_customers_with_zone_totals_in_the_hover(rio):
    zone = rio.zones.ids[0]
    lon, lat = inside(rio, zone)
    events = [outage_event("outages:small", {"type": "Point", "coordinates": [lon, lat]}, 3, zone),
              outage_event("outages:big", {"type": "Point", "coordinates": [lon + 0.001, lat]}, 2400, zone)]
    data = city(rio, [zone_entity("outages:zone:" + zone, zone)], events=events,
                outage_customers={"outages:zone:" + zone: 2403.0})
    outlines, markers = LAYERS["outages"].traces(data)
    assert outlines["lat"] == [] and outlines["mode"] == "lines"
    assert markers["lon"] == [round(lon + 0.001, 5), round(lon, 5)]  # biggest first, small on top
    big, small = markers["marker"]["size"]
    assert big == marker_size(2400) > small == marker_size(3)
    assert markers["marker"]["color"] == [CUSTOMER_CLASSES[2][2], CUSTOMER_CLASSES[0][2]]
    assert "2,400 customers without power" in markers["text"][0]
    assert f"{rio.zones.name_by_id[zone]}: 2,403 customers out in the zone" in markers["text"][0]
    assert "Tree failure" in markers["text"][1] and "ROWAN(1)" in markers["text"][1]


def test_outage_features_and_zone_totals(rio):
    zone, other = rio.zones.ids[0], rio.zones.ids[1]
    lon, lat = inside(rio, zone)
    events = [outage_event("outages:1", {"type": "Point", "coordinates": [lon, lat]}, 40, zone)]
    data = city(rio, [zone_entity(f"outages:zone:{zone}", zone), zone_entity(f"outages:zone:{other}", other)],
                events=events, outage_customers={f"outages:zone:{zone}": 40.0, f"outages:zone:{other}": 0.0})
    features = {f["id"]: f for f in LAYERS["outages"].features(data)}
    outage = features["outages:1"]["properties"]
    assert (outage["kind"], outage["customers"], outage["zone_id"]) == ("outage", 40, zone)
    assert outage["zone_customers"] == 40
    assert outage["customer_class"] == "< 50 customers" and outage["starts_at"].endswith("Z")
    assert features[f"zone:{zone}"]["properties"]["customers"] == 40
    assert features[f"zone:{other}"]["properties"]["customers"] == 0  # a restored zone shows 0
    assert features[f"zone:{other}"]["geometry"]["type"] == "Point"


def test_an_outage_area_is_outlined_with_its_marker_inside(rio):
    zone = rio.zones.ids[0]
    lon, lat = inside(rio, zone)
    d = 0.005
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat - d]]
    events = [outage_event("outages:area", {"type": "Polygon", "coordinates": [ring]}, 900, zone)]
    outlines, markers = LAYERS["outages"].traces(city(rio, [], events=events))
    assert len(outlines["lon"]) == 4
    mlon, mlat = markers["lon"][0], markers["lat"][0]
    assert lon - 0.005 < mlon < lon + 0.005 and lat - 0.005 < mlat < lat + 0.005
    feature = LAYERS["outages"].features(city(rio, [], events=events))[0]
    assert feature["geometry"]["type"] == "Polygon"


def test_outages_layer_contract(rio):
    layer = LAYERS["outages"]
    assert layer.layer_id == "outages" and layer.event_categories == ("outage",)
    assert layer.kinds == ("outage_customers",)
    zone = rio.zones.ids[0]
    lon, lat = inside(rio, zone)
    busy = city(rio, [], events=[outage_event("o", {"type": "Point", "coordinates": [lon, lat]}, 5, zone),
                                 outage_event("bad", {"type": "Point", "coordinates": ["x"]}, 5, zone)])
    assert len(layer.traces(busy)) == len(layer.traces(city(rio, []))) == 2
    assert len(layer.traces(busy)[1]["lat"]) == 1  # an unusable geometry is left out, not a crash
