"""OGC API – Features and the layer files read by real clients (OWSLib, GDAL through pyogrio)
from the public web app on loopback, over a real Redis.

GDAL runs in a child process: pyogrio holds the GIL while GDAL fetches pages, so a server
thread in the same process could never answer it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import time

import pytest
import redis
import requests
from owslib.ogcapi.features import Features

from opscentre.core.settings import load_settings
from opscentre.core.store import Store
from opscentre.dashboard.server import create_public_wsgi_app
from tests.dashboard import city_seed
from tests.dashboard.city_seed import RIO, LiveServer, write_city

OGC = "/api/public/ogc/"


class Recording:
    """The WSGI app, noting each request's path, query and Range header."""

    def __init__(self, app):
        self.app, self.seen = app, []

    def __call__(self, environ, start_response):
        self.seen.append((environ.get("PATH_INFO"), environ.get("QUERY_STRING"), environ.get("HTTP_RANGE")))
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def rio():
    return load_settings(RIO / "demo.yaml")


@pytest.fixture
def store(redis_client):
    return Store(redis_client)


@pytest.fixture
def served(rio, redis_server, redis_client):
    recording = Recording(create_public_wsgi_app(rio, redis_server.url))
    with LiveServer(recording) as server:
        server.seen = recording.seen
        yield server


def in_gdal(script: str, *args: str) -> dict:
    """Run `script` (it prints one JSON line last) with pyogrio in a child Python."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], check=False, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_owslib_lists_the_collections_and_reads_items_in_a_bbox(served, store, rio):
    write_city(store, rio)
    api = Features(served.url + OGC)
    assert api.feature_collections() == ["zones", "warnings", "traffic", "outages", "rivers", "rain_gauges",
                                         "air_quality", "transit"]
    assert "incidents" not in json.dumps(api.collections())
    assert api.collection("rain_gauges")["extent"]["spatial"]["bbox"] == [list(rio.zones.bounds)]
    bbox = [-43.40, -23.05, -43.20, -22.85]
    page = api.collection_items("rain_gauges", bbox=bbox, limit=5)
    everything = requests.get(f"{served.url}/api/public/layers/rain_gauges.geojson", timeout=10).json()["features"]
    inside = [f["id"] for f in everything
              if bbox[0] <= f["geometry"]["coordinates"][0] <= bbox[2]
              and bbox[1] <= f["geometry"]["coordinates"][1] <= bbox[3]]
    assert 5 < len(inside) < len(everything)  # the box holds some gauges, not all, and more than a page
    assert page["numberMatched"] == len(inside) and page["numberReturned"] == 5
    assert [f["id"] for f in page["features"]] == inside[:5]
    one = api.collection_item("rain_gauges", inside[0])
    assert one["id"] == inside[0] and one["geometry"]["type"] == "Point"


GDAL_READ_ALL = """
    import json, sys, pyogrio
    base = "OAPIF:" + sys.argv[1]
    found = {"layers": pyogrio.list_layers(base)[:, 0].tolist()}
    for name in ("zones", "traffic", "rain_gauges"):
        frame = pyogrio.read_dataframe(base, layer=name, PAGE_SIZE="50")
        found[name] = sorted(frame["id"].astype(str)) if "id" in frame else len(frame)
    print(json.dumps(found))
"""


def test_gdal_oapif_lists_the_collections_and_pages_through_every_feature(served, store, rio, monkeypatch):
    monkeypatch.setattr(city_seed, "ROAD_COUNT", 120)
    write_city(store, rio)
    found = in_gdal(GDAL_READ_ALL, served.url + OGC)
    assert found["layers"] == ["zones", "warnings", "traffic", "outages", "rivers", "rain_gauges", "air_quality",
                               "transit"]
    for name in ("zones", "traffic", "rain_gauges"):
        layer = requests.get(f"{served.url}/api/public/layers/{name}.geojson", timeout=10).json()["features"]
        assert found[name] == sorted(f["id"] for f in layer), name
    assert len(found["zones"]) == 166 and len(found["traffic"]) == 120
    zone_pages = [query for path, query, _ in served.seen
                  if path == "/api/public/ogc/collections/zones/items" and "limit=50" in (query or "")]
    assert any("offset=150" in q for q in zone_pages)  # GDAL followed the next links to the last page


GDAL_READ_FILE = """
    import json, sys, pyogrio
    print(json.dumps({"features": pyogrio.read_info(sys.argv[1])["features"]}))
"""


def test_gdal_opens_the_traffic_layer_file_by_url_reading_byte_ranges(served, store, rio, monkeypatch):
    monkeypatch.setattr(city_seed, "ROAD_COUNT", 400)
    write_city(store, rio)
    url = f"{served.url}/api/public/layers/traffic.geojson"
    assert len(requests.get(url, timeout=10).content) > 100_000  # large enough that GDAL reads it in ranges
    assert in_gdal(GDAL_READ_FILE, url) == {"features": 400}
    assert any(path == "/api/public/layers/traffic.geojson" and byte_range for path, _, byte_range in served.seen)


def test_layer_file_answers_ranges_honouring_if_range(served, store, rio):
    write_city(store, rio)
    url = f"{served.url}/api/public/layers/traffic.geojson"
    whole = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)  # (ranges are of this one)
    assert whole.headers["Accept-Ranges"] == "bytes" and "Content-Encoding" not in whole.headers
    size, etag = len(whole.content), whole.headers["ETag"]
    zipped = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Accept-Ranges"] == "bytes"
    assert zipped.headers["ETag"] != etag and gzip.decompress(zipped.raw.read()) == whole.content
    part = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206 and part.headers["Content-Range"] == f"bytes 100-199/{size}"
    assert part.content == whole.content[100:200]
    tail = requests.get(url, headers={"Range": "bytes=-50"}, timeout=10)
    assert tail.status_code == 206 and tail.content == whole.content[-50:]
    same = requests.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}, timeout=10)
    assert same.status_code == 206 and same.content == whole.content[:10]
    stale = requests.get(url, headers={"Range": "bytes=0-9", "If-Range": '"not-this-version"'}, timeout=10)
    assert stale.status_code == 200 and stale.content == whole.content  # changed since: the whole file
    beyond = requests.get(url, headers={"Range": f"bytes={size + 10}-"}, timeout=10)
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
    assert "range" in beyond.json()["error"]


def test_walking_the_items_links_over_http_returns_the_layer_once(served, store, rio):
    write_city(store, rio)
    url, seen = f"{served.url}{OGC}collections/zones/items?limit=40", []
    while url:
        page = requests.get(url, timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("application/geo+json")
        body = page.json()
        assert body["numberMatched"] == 166 and body["timeStamp"].endswith("Z") and body["simulated"] is True
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert seen == list(rio.zones.ids)


def test_links_follow_the_host_the_client_used(served, store, rio):
    port = served.url.rsplit(":", 1)[1]
    landing = requests.get(served.url + OGC, headers={"Host": f"localhost:{port}"}, timeout=10).json()
    assert {link["href"].split("/api/")[0] for link in landing["links"]} == {f"http://localhost:{port}"}


def test_single_item_and_unknown_item_or_collection(served, store, rio):
    write_city(store, rio)
    zone_id = rio.zones.ids[3]
    found = requests.get(f"{served.url}{OGC}collections/zones/items/{zone_id}", timeout=10)
    assert found.status_code == 200 and found.headers["Content-Type"].startswith("application/geo+json")
    assert found.json()["id"] == zone_id and found.json()["properties"]["name"] == rio.zones.names[3]
    for path in ("collections/zones/items/no-such-zone", "collections/incidents/items", "collections/nothing",
                 "collections/incidents", "no/such/thing"):
        refused = requests.get(f"{served.url}{OGC}{path}", timeout=10)
        assert refused.status_code == 404, path
        assert refused.headers["Content-Type"].startswith("application/json") and refused.json()["error"], path


@pytest.mark.parametrize("query", ["bbox=1,2,3", "bbox=a,b,c,d", "bbox=-43.5,-23,-43.1,95", "bbox=-43,-23,-44,-22",
                                   "bbox=nan,-23,-43.1,-22.8", "limit=-5", "limit=0", "limit=ten", "offset=-1",
                                   "f=html", "f=xml", "bbox-crs=EPSG:3857&bbox=1,2,3,4"])
def test_bad_items_queries_are_json_400s(served, store, rio, query):
    refused = requests.get(f"{served.url}{OGC}collections/zones/items?{query}", timeout=10)
    assert refused.status_code == 400
    assert refused.headers["Content-Type"].startswith("application/json")
    assert refused.json()["error"] and "Traceback" not in refused.text


def test_huge_limit_is_clamped_not_refused(served, store, rio):
    write_city(store, rio)
    page = requests.get(f"{served.url}{OGC}collections/zones/items?limit=100000000", timeout=10).json()
    assert page["numberReturned"] == 166 and "next" not in {link["rel"] for link in page["links"]}


@pytest.mark.parametrize("accept, status", [("text/html", 406), ("application/xml", 406),
                                            ("text/html,application/xhtml+xml,*/*;q=0.8", 200),
                                            ("application/geo+json", 200), ("application/json", 200),
                                            ("application/vnd.oai.openapi+json;version=3.0", 200)])
def test_accept_header_that_admits_no_json_is_a_406(served, accept, status):
    answer = requests.get(f"{served.url}{OGC}collections", headers={"Accept": accept}, timeout=10)
    assert answer.status_code == status
    assert answer.headers["Content-Type"].startswith("application/json")


def test_answers_are_cacheable_and_304_on_their_etag(served, store, rio):
    write_city(store, rio)
    for path in ("", "conformance", "collections", "api", "collections/zones/items?limit=10"):
        first = requests.get(f"{served.url}{OGC}{path}", timeout=10)
        assert first.status_code == 200, path
        assert "public" in first.headers["Cache-Control"] and "max-age=5" in first.headers["Cache-Control"]
        assert first.headers["Access-Control-Allow-Origin"] == "*"
        again = requests.get(f"{served.url}{OGC}{path}", headers={"If-None-Match": first.headers["ETag"]},
                             timeout=10)
        assert again.status_code == 304, path


def test_ogc_routes_win_over_the_public_catch_all_in_both_apps(served, live_ops):
    for base in (served.url, live_ops.url):
        assert requests.get(f"{base}/api/public/ogc", timeout=10).json()["links"][0]["rel"] == "self"
        assert requests.get(f"{base}{OGC}conformance", timeout=10).status_code == 200
        unknown = requests.get(f"{base}{OGC}nothing-here", timeout=10)
        assert unknown.status_code == 404 and unknown.json()["error"] == "no such OGC API resource"
        other = requests.get(f"{base}/api/public/nothing-here", timeout=10)
        assert other.status_code == 404 and other.json()["error"] == "no such public resource"
        assert "ogc/" in other.json()["resources"]


@pytest.fixture
def live_ops(rio, redis_server, redis_client):
    from opscentre.dashboard.server import create_wsgi_app

    with LiveServer(create_wsgi_app(rio, redis_server.url, city_seed.SECRET)) as server:
        yield server


def test_while_redis_is_down_the_last_items_are_served_as_of_when(rio, own_redis):
    store = Store(redis.Redis.from_url(own_redis.url))
    write_city(store, rio)
    with LiveServer(create_public_wsgi_app(rio, own_redis.url)) as server:
        before = requests.get(f"{server.url}{OGC}collections/zones/items", timeout=10)
        assert before.status_code == 200
        own_redis.stop()
        down = requests.get(f"{server.url}{OGC}collections/zones/items", timeout=30)
        assert down.status_code == 200 and down.json()["features"] == before.json()["features"]
        assert down.json()["timeStamp"] == before.json()["timeStamp"]  # when it was built: "as of"
        layer = requests.get(f"{server.url}/api/public/layers/zones.geojson", timeout=30)  # held by the same build
        assert layer.status_code == 200 and len(layer.json()["features"]) == len(rio.zones.ids)
        assert requests.get(f"{server.url}{OGC}collections", timeout=10).status_code == 200


def test_items_follow_the_data_when_it_changes(served, store, rio):
    write_city(store, rio, rain_mm=0.0)
    url = f"{served.url}{OGC}collections/rain_gauges/items?limit=3"
    first = requests.get(url, timeout=10)
    assert first.json()["features"][0]["properties"]["rain_mm"] == 0.0
    write_city(store, rio, rain_mm=8.0, observed_at=time.time() + 1)
    second = requests.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=10)
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    assert second.json()["features"][0]["properties"]["rain_mm"] == 8.0
    one = requests.get(f"{served.url}{OGC}collections/rain_gauges/items/{first.json()['features'][0]['id']}",
                       timeout=10)
    assert one.json()["properties"]["rain_mm"] == 8.0


def test_items_pages_are_gzipped_for_clients_that_accept_it(served, store, rio):
    write_city(store, rio)
    url = f"{served.url}{OGC}collections/zones/items?limit=100"
    plain = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
    zipped = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.raw.read()) == plain.content
    again = requests.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]}, timeout=10)
    assert again.status_code == 304
