"""The OGC API – Features documents and query parsing (open_data/ogc.py), without HTTP."""

from urllib.parse import parse_qs, urlsplit

import pytest

from opscentre.open_data import ogc

BASE = "http://city.example/api/public/ogc/"
CATALOGUE = ogc.Catalogue(city="Rio de Janeiro", layers={"zones": "Zones", "traffic": "Traffic"},
                          bounds=(-43.8, -23.1, -43.1, -22.7))


def point(fid, lon, lat, **properties):
    feature = {"type": "Feature", "properties": properties, "geometry": {"type": "Point", "coordinates": [lon, lat]}}
    if fid is not None:
        feature["id"] = fid
    return feature


def grid(n):
    """n points in a row, 0.01 degree apart, ids p000..."""
    return ogc.LayerItems("gauges", [point(f"p{i:03d}", -43.5 + i * 0.01, -22.9) for i in range(n)])


def test_bbox_parses_four_numbers_in_order():
    assert ogc.parse_bbox("-43.5,-23,-43.1,-22.8") == (-43.5, -23.0, -43.1, -22.8)
    assert ogc.parse_bbox(" -43.5, -23 ,-43.1,-22.8") == (-43.5, -23.0, -43.1, -22.8)
    assert ogc.parse_bbox(None) is None and ogc.parse_bbox("") is None


@pytest.mark.parametrize("raw, says", [
    ("1,2,3", "4 numbers"),
    ("1,2,3,4,5", "4 numbers"),
    ("a,b,c,d", "finite numbers"),
    ("-43.5,-23,-43.1,x", "finite numbers"),
    ("-43.5,,-43.1,-22.8", "finite numbers"),
    ("nan,-23,-43.1,-22.8", "finite numbers"),
    ("-inf,-23,-43.1,-22.8", "finite numbers"),
    ("-43.5,-23,-43.1,inf", "finite numbers"),
    ("-43.5,-23,-43.1,91", "latitudes"),
    ("-43.5,-90.5,-43.1,-22", "latitudes"),
    ("-181,-23,-43.1,-22.8", "longitudes"),
    ("-43.5,-23,180.5,-22.8", "longitudes"),
    ("-43.1,-23,-43.5,-22.8", "minimum"),
    ("-43.5,-22.8,-43.1,-23", "minimum"),
])
def test_bad_bbox_is_a_400_that_says_why(raw, says):
    with pytest.raises(ogc.OgcError) as refused:
        ogc.parse_bbox(raw)
    assert refused.value.status == 400 and says in refused.value.message


def test_bbox_in_another_crs_is_refused_and_crs84_accepted():
    with pytest.raises(ogc.OgcError) as refused:
        ogc.parse_bbox("1,2,3,4", crs="http://www.opengis.net/def/crs/EPSG/0/3857")
    assert refused.value.status == 400
    assert ogc.parse_bbox("1,2,3,4", crs=ogc.CRS84) == (1, 2, 3, 4)


def test_limit_defaults_clamps_huge_and_refuses_garbage():
    assert ogc.parse_limit(None) == ogc.DEFAULT_LIMIT and ogc.parse_limit("") == ogc.DEFAULT_LIMIT
    assert ogc.parse_limit("7") == 7
    assert ogc.parse_limit(str(ogc.MAX_LIMIT)) == ogc.MAX_LIMIT
    assert ogc.parse_limit("99999999999999999999999") == ogc.MAX_LIMIT
    for bad in ("0", "-1", "-100", "abc", "1.5", "1e3", "+5", "١٢"):
        with pytest.raises(ogc.OgcError) as refused:
            ogc.parse_limit(bad)
        assert refused.value.status == 400 and "limit" in refused.value.message, bad


def test_offset_is_a_whole_number_from_zero():
    assert ogc.parse_offset(None) == 0 and ogc.parse_offset("25") == 25
    for bad in ("-1", "x", "2.0", str(ogc.MAX_OFFSET + 1)):
        with pytest.raises(ogc.OgcError):
            ogc.parse_offset(bad)


def test_only_json_formats_are_accepted():
    for good in (None, "", "json", "geojson"):
        ogc.check_format(good)
    for bad in ("html", "xml", "csv", "JSONP"):
        with pytest.raises(ogc.OgcError) as refused:
            ogc.check_format(bad)
        assert refused.value.status == 400


def _query(href):
    return {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}


def _link(page, rel):
    return next((link["href"] for link in page["links"] if link["rel"] == rel), None)


def test_walking_next_links_returns_every_feature_once_in_order():
    items = grid(237)
    seen, offset, pages = [], 0, 0
    while True:
        page = ogc.items_page(items, BASE, None, 50, offset, "2026-01-01T00:00:00Z")
        assert page["numberMatched"] == 237 and page["numberReturned"] == len(page["features"])
        seen += [f["id"] for f in page["features"]]
        pages += 1
        following = _link(page, "next")
        if following is None:
            break
        assert following.startswith(BASE + "collections/gauges/items?")
        offset = int(_query(following)["offset"])
        assert int(_query(following)["limit"]) == 50
    assert seen == [f"p{i:03d}" for i in range(237)]
    assert pages == 5


def test_prev_links_walk_back_to_the_first_page():
    items = grid(120)
    page = ogc.items_page(items, BASE, None, 50, 100, "t")
    assert [f["id"] for f in page["features"]] == [f"p{i:03d}" for i in range(100, 120)]
    assert _link(page, "next") is None
    offsets = []
    while (previous := _link(page, "prev")) is not None:
        offset = int(_query(previous).get("offset", 0))
        offsets.append(offset)
        page = ogc.items_page(items, BASE, None, 50, offset, "t")
    assert offsets == [50, 0]
    assert _link(ogc.items_page(items, BASE, None, 50, 0, "t"), "prev") is None


def test_a_page_past_the_end_is_empty_and_points_back():
    page = ogc.items_page(grid(10), BASE, None, 5, 40, "t")
    assert page["features"] == [] and page["numberMatched"] == 10 and page["numberReturned"] == 0
    assert _query(_link(page, "prev"))["offset"] == "5"


def test_bbox_keeps_what_intersects_and_rides_along_in_the_links():
    line = {"type": "Feature", "id": "road", "properties": {},
            "geometry": {"type": "LineString", "coordinates": [[-44.0, -22.95], [-43.0, -22.95]]}}
    items = ogc.LayerItems("mixed", [point("in", -43.45, -22.9), point("out", -43.0, -22.0), line,
                                     {"type": "Feature", "id": "nowhere", "properties": {}, "geometry": None}])
    bbox = ogc.parse_bbox("-43.5,-23,-43.4,-22.85")
    page = ogc.items_page(items, BASE, bbox, 1, 0, "t")
    assert page["numberMatched"] == 2 and [f["id"] for f in page["features"]] == ["in"]
    following = _query(_link(page, "next"))
    assert following["bbox"] == "-43.5,-23,-43.4,-22.85" and following["offset"] == "1"
    second = ogc.items_page(items, BASE, ogc.parse_bbox(following["bbox"]), 1, 1, "t")
    assert [f["id"] for f in second["features"]] == ["road"]
    assert ogc.items_page(items, BASE, None, 10, 0, "t")["numberMatched"] == 4  # no bbox: all, even no geometry


def test_every_feature_gets_a_unique_id_from_the_layer_or_its_properties():
    items = ogc.LayerItems("stations", [
        point("g1", -43.2, -22.9),
        point(None, -43.2, -22.9, entity_id="s-7"),
        point(None, -43.2, -22.9, event_id="ev-1"),
        point(None, -43.2, -22.9),
        point("g1", -43.2, -22.9),
    ])
    ids = [f["id"] for f in items.features]
    assert ids[:4] == ["g1", "s-7", "ev-1", "stations-3"]
    assert len(set(ids)) == 5


def test_single_item_with_links_and_unknown_item_is_a_404():
    items = ogc.LayerItems("warnings", [point("nws:abc/1", -43.2, -22.9, title="Flood")])
    found = ogc.item(items, "nws:abc/1", BASE, {"simulated": True})
    assert found["id"] == "nws:abc/1" and found["properties"]["title"] == "Flood" and found["simulated"] is True
    assert _link(found, "self") == BASE + "collections/warnings/items/nws%3Aabc%2F1"
    assert _link(found, "collection") == BASE + "collections/warnings"
    with pytest.raises(ogc.OgcError) as refused:
        ogc.item(items, "nope", BASE)
    assert refused.value.status == 404


def test_landing_page_links_the_definition_conformance_and_data():
    page = ogc.landing(CATALOGUE, BASE)
    assert {link["rel"]: link["href"] for link in page["links"]} == {
        "self": BASE, "service-desc": BASE + "api", "conformance": BASE + "conformance", "data": BASE + "collections"}
    assert "Rio de Janeiro" in page["title"]
    conforms = ogc.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conforms


def test_collections_describe_each_public_layer_with_the_city_extent():
    listed = ogc.collections(CATALOGUE, BASE)["collections"]
    assert [c["id"] for c in listed] == ["zones", "traffic"]
    zones = listed[0]
    assert zones["itemType"] == "feature" and zones["title"] == "Zones" and zones["description"]
    assert zones["extent"]["spatial"]["bbox"] == [[-43.8, -23.1, -43.1, -22.7]]
    assert _link(zones, "items") == BASE + "collections/zones/items"
    with pytest.raises(ogc.OgcError) as refused:
        ogc.collection(CATALOGUE, "incidents", BASE)
    assert refused.value.status == 404


def test_api_definition_states_the_limit_bounds_clients_page_by():
    definition = ogc.openapi(CATALOGUE, BASE)
    params = definition["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    limit = next(p for p in params if p["name"] == "limit")
    assert limit["schema"]["maximum"] == ogc.MAX_LIMIT and limit["schema"]["default"] == ogc.DEFAULT_LIMIT
    assert definition["servers"] == [{"url": BASE.rstrip("/")}]


@pytest.mark.parametrize("accepted, admits", [
    ([], True),
    ([("application/json", 1)], True),
    ([("application/geo+json", 1)], True),
    ([("application/vnd.oai.openapi+json;version=3.0", 1)], True),
    ([("text/html", 1), ("*/*", 0.8)], True),
    ([("application/*", 1)], True),
    ([("text/html", 1)], False),
    ([("application/xml", 1), ("text/xml", 0.9)], False),
    ([("text/html", 1), ("application/json", 0)], False),
])
def test_accept_headers_admit_json_unless_they_exclude_it(accepted, admits):
    assert ogc.admits_json(accepted) is admits
