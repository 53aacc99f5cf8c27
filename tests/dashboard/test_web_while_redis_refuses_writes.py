"""A Redis that answers reads and refuses every write (its disk full: MISCONF) must not stop the
web: it starts, says why on /healthz, and keeps serving what Redis still holds. A web worker
that failed to start this way was restarted by granian until it gave up, and the whole web
process went down with it (seen in the disk-full drill)."""

import time

import requests
from city_seed import SECRET, LiveServer, write_city

from opscentre.core.store import Store
from opscentre.dashboard.server import create_public_wsgi_app, create_wsgi_app


def test_the_console_starts_and_serves_while_redis_refuses_every_write(rio_settings, refusing_redis):
    store = Store(refusing_redis.client)
    write_city(store, rio_settings, rain_mm=12.0)
    store.beat("worker-1", time.time())
    refusing_redis.refuse()
    app = create_wsgi_app(rio_settings, refusing_redis.url, SECRET)  # (Dash's set-up draws the map page)
    with LiveServer(app) as live:
        health = requests.get(f"{live.url}/healthz", timeout=10)
        assert health.status_code == 503
        persistence = health.json()["components"]["persistence"]
        assert persistence["status"] == "down" and "MISCONF" in persistence["error"]
        status = requests.get(f"{live.url}/api/public/status.json", timeout=10)
        assert status.status_code == 200 and status.json()["stage"]
        login = requests.get(f"{live.url}/login", timeout=10)
        assert login.status_code == 200


def test_the_public_view_starts_and_serves_while_redis_refuses_every_write(rio_settings, refusing_redis):
    write_city(Store(refusing_redis.client), rio_settings)
    refusing_redis.refuse()
    with LiveServer(create_public_wsgi_app(rio_settings, refusing_redis.url)) as live:
        for path in ("/", "/api/public/status.json", "/api/public/layers/zones.geojson", "/api/public/alerts.atom"):
            response = requests.get(live.url + path, timeout=30)
            assert response.status_code == 200, (path, response.text[:300])
