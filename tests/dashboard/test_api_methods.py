"""The public API is read-only: a POST, PUT or DELETE to any /api/public/ URL is a JSON 405 with
Allow, like every other public refusal, from both web processes (real HTTP on loopback)."""

import pytest
import requests
from city_seed import write_city

PATHS = ["status.json", "layers/zones.geojson", "alerts.atom", "alerts/a-0123456789.cap", "ogc/collections",
         "ogc/collections/zones/items", "no/such/thing"]


@pytest.mark.parametrize("server", ["live", "public_live"])
def test_writes_to_the_public_api_are_json_405s_naming_the_methods_allowed(server, request, store, rio_settings):
    base = request.getfixturevalue(server).url
    write_city(store, rio_settings)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in PATHS:
            response = requests.request(method, f"{base}/api/public/{path}", json={"x": 1}, timeout=10)
            assert response.status_code == 405, (method, path, response.text[:200])
            assert response.headers["Content-Type"].startswith("application/json"), (method, path)
            body = response.json()
            assert "read-only" in body["error"] and "GET" in body["allowed"], (method, path)
            assert {m.strip() for m in response.headers["Allow"].split(",")} == set(body["allowed"])
            assert response.headers["Cache-Control"] == "no-store" and "<" not in response.text
            assert (body.get("code") == "MethodNotAllowed") == path.startswith("ogc/")
    assert requests.get(f"{base}/api/public/status.json", timeout=10).status_code == 200  # reading still works
