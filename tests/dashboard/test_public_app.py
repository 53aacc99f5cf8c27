import time

import requests
from city_seed import alert_record, write_city

from opscentre.core.alert_store import AlertStore
from opscentre.dashboard import ids
from opscentre.dashboard.public_pages import ids as pids

# What the public page's callbacks may write: display only.
DISPLAY_OUTPUTS = {f"{ids.MAP}.figure", f"{ids.MAP_STATE}.data", f"{pids.STAGE}.children", f"{pids.UPDATED}.children",
                   f"{pids.ALERTS}.children", f"{pids.ZONES_WITH_ALERTS}.children", f"{pids.BAIRRO_ANSWER}.children",
                   f"{pids.PANEL_STATE}.data"}


def outputs_of(dependency: dict) -> set[str]:
    return {part.split("@")[0] for part in dependency["output"].strip(".").split("...")}


def test_public_callback_map_holds_only_read_only_callbacks_on_the_tick(wsgi_app, live):
    public = wsgi_app.public_dash
    dependencies = requests.get(f"{live.url}/public/_dash-dependencies", timeout=10).json()
    assert len(dependencies) == 2 == len(public.callback_map)  # the map's tick, the panel's tick (and search)
    for callback in dependencies:
        assert ids.TICK in [i["id"] for i in callback["inputs"]]
        assert outputs_of(callback) <= DISPLAY_OUTPUTS
    assert ids.LAYER_TOGGLE not in str(dependencies)
    # the operator console is a different Dash app with its own callback map
    ops_dependencies = wsgi_app.ops_server.view_functions
    assert "/public/_dash-update-component" not in ops_dependencies


def test_public_page_shows_no_operator_data_or_controls(live, store, rio_settings, operator):
    write_city(store, rio_settings, rain_mm=9.0)
    AlertStore(store.redis).put([alert_record("a1", "firing")])
    AlertStore(store.redis).acknowledge("a1", "zelda.ops", "ring 555-0101", time.time())
    layout = requests.get(f"{live.url}/public/_dash-layout?lang=en", timeout=10)
    assert layout.status_code == 200
    text = layout.text
    for forbidden in (operator[0], "555-0101", "Sign out", "/logout", ids.LAYER_TOGGLE, "acknowledged_by", "password"):
        assert forbidden not in text, forbidden
    assert "SIMULATED DATA" in text
    assert "Alerts now · 1 alert" in text and "Warning: Heavy rain in the whole city" in text
    index = requests.get(f"{live.url}/public", timeout=10)
    assert index.status_code == 200 and index.url.endswith("/public/")
    assert "validation_layout" not in index.text


def test_scripts_load_even_when_they_are_a_fresh_process_first_requests(rio_settings, redis_server, store):
    """A browser's script requests can reach a web worker that never served a page; fired
    together as its very first requests, every one must still load (Dash's lazy set-up raced)."""
    import re
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    from city_seed import LiveServer, write_city

    from opscentre.dashboard.server import create_wsgi_app

    write_city(store, rio_settings)
    with LiveServer(create_wsgi_app(rio_settings, redis_server.url, "k")) as first:
        with urllib.request.urlopen(first.url + "/public/") as response:
            page = response.read().decode()
    scripts = re.findall(r'src="(/public/_dash-component-suites/[^"]+)"', page)
    assert len(scripts) >= 4
    with LiveServer(create_wsgi_app(rio_settings, redis_server.url, "k")) as fresh:
        def status(path):
            try:
                with urllib.request.urlopen(fresh.url + path, timeout=30) as response:
                    return response.status
            except urllib.error.HTTPError as exc:
                return exc.code

        with ThreadPoolExecutor(len(scripts)) as pool:
            assert set(pool.map(status, scripts)) == {200}
