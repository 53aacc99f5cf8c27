"""The pages in a real headless Chromium (SwiftShader WebGL), served over loopback HTTP.

Every request the page makes to a host other than 127.0.0.1 is recorded and aborted: the map
must draw with no internet (no tiles, no glyphs, no CDN)."""

from __future__ import annotations

import json
import time

import pytest
import redis
from browser_pages import MAP_READY, launch, needs_chromium, watched
from city_seed import RIO, LiveServer, write_city

from opscentre.core.alert_store import AlertStore
from opscentre.core.store import Store
from opscentre.dashboard import ids
from opscentre.dashboard.public_pages import ids as pids
from opscentre.dashboard.server import create_public_wsgi_app
from opscentre.i18n import translator
from opscentre.layers import LAYERS

PT = translator("pt-BR")  # Rio's console speaks the city's language

TRACES = """() => document.querySelector('.js-plotly-plot').data.map(t => ({
  type: t.type, name: t.name, visible: t.visible, locations: t.locations ? t.locations.length : null,
  z: t.z ? Array.from(t.z) : null, color: t.marker && Array.isArray(t.marker.color) ? t.marker.color : null,
  lat: t.lat ? t.lat.length : null}))"""

pytestmark = needs_chromium


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield watched(context.new_page())  # the pages run under a Content-Security-Policy: nothing may be refused
    context.close()


def hover_text_at_gauge(page, index: int) -> str:
    """Move the mouse onto gauge `index` of the gauges trace and read plotly's hover label."""
    x, y = page.evaluate("""(i) => {
      const gd = document.querySelector('.js-plotly-plot');
      const trace = gd.data.find(t => t.name === 'Rain gauges');
      const map = gd._fullLayout.map._subplot.map;
      const p = map.project([trace.lon[i], trace.lat[i]]);
      const box = map.getCanvas().getBoundingClientRect();
      return [box.left + p.x, box.top + p.y];
    }""", index)
    page.mouse.move(x, y)
    page.wait_for_selector(".hoverlayer .hovertext", timeout=5_000)
    return page.locator(".hoverlayer .hovertext").first.text_content()


def rain_pattern() -> dict[str, float]:
    sites = json.loads((RIO / "alerta_rio_gauges.json").read_text())["pluviometros"]
    return {site["id"]: (i % 6) * 2.6 for i, site in enumerate(sites)}


def test_public_page_draws_166_zones_and_updates_live(live, page, store, rio_settings):
    write_city(store, rio_settings, rain_mm=rain_pattern(), jam_level=2, speed_kmh=30)
    response = page.goto(f"{live.url}/public?lang=en")
    assert "script-src 'self' 'sha256-" in response.headers["content-security-policy"]
    page.wait_for_function(MAP_READY, timeout=60_000)
    traces = page.evaluate(TRACES)
    assert traces[0]["type"] == "choroplethmap" and traces[0]["locations"] == 166
    assert len(set(traces[0]["z"])) > 2  # several rain classes across the city
    assert page.locator(".public-simulated").inner_text().startswith("SIMULATED DATA")
    assert "Stage 1 of 5" in page.locator(f"#{pids.STAGE}").text_content()
    assert page.locator(f"#{ids.ATTRIBUTION}").inner_text() == rio_settings.city.attribution
    assert page.locator("input[type=checkbox]").count() == 0  # nothing to operate
    time.sleep(1.5)  # let maplibre finish painting before the picture
    page.screenshot(path="/tmp/public.png")
    page.evaluate("() => { window.__same_page = true; }")

    write_city(store, rio_settings, rain_mm=15.0, jam_level=5, speed_kmh=2, observed_at=time.time() + 60)
    page.wait_for_function("() => { const z = document.querySelector('.js-plotly-plot').data[0].z;"
                           " return Array.from(z).every(v => v === 5); }", timeout=15_000)
    after = page.evaluate(TRACES)
    gauges = next(t for t in after if t["name"] == "Rain gauges")
    assert set(gauges["color"]) == {"#9b3fc4"}  # every gauge very heavy
    standstill = next(t for t in after if t["name"] == "Traffic: standstill")
    assert standstill["lat"] > 0
    assert page.evaluate("() => window.__same_page === true")  # updated in place, no reload
    assert page.offsite_requests == [] and page.errors == [] and page.csp_violations == []


def test_operator_logs_in_sees_the_map_and_toggles_traffic(live, page, store, rio_settings, operator):
    write_city(store, rio_settings, rain_mm=rain_pattern(), jam_level=3, speed_kmh=20)
    page.goto(f"{live.url}/")
    assert page.url.endswith("/login?next=/") or "/login" in page.url
    page.fill("#username", operator[0])
    page.fill("#password", operator[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/")
    page.wait_for_function(MAP_READY, timeout=60_000)
    toggles = page.locator(f"#{ids.LAYER_TOGGLE} input[type=checkbox]")
    labels = [label.strip() for label in page.locator(f"#{ids.LAYER_TOGGLE} label").all_inner_texts()]
    assert labels == [PT.gettext(layer.label) for layer in LAYERS.values()]
    assert toggles.count() == len(LAYERS)
    shortcuts = page.locator(f"#{ids.LAYER_TOGGLE} [aria-keyshortcuts]")
    assert shortcuts.count() == len(LAYERS)
    keys = [shortcuts.nth(i).get_attribute("aria-keyshortcuts") for i in range(len(LAYERS))]
    assert len(set(keys)) == len(keys) and keys[labels.index(PT.gettext("Rain gauges"))] == "Alt+R"
    assert "Fontes 1/1 saudáveis" in page.locator(f"#{ids.STATUS_BAR}").inner_text()
    assert operator[0] in page.locator(".operator-name").inner_text()
    time.sleep(1.5)
    page.screenshot(path="/tmp/ops.png")
    hover = hover_text_at_gauge(page, 0)
    assert "mm/15 min" in hover and "(UTC-03)" in hover and "simulator" in hover

    traffic_box = toggles.nth(labels.index(PT.gettext("Traffic")))
    traffic_box.focus()  # keyboard: focus the toggle, Space flips it
    page.keyboard.press("Space")
    page.wait_for_function("() => document.querySelector('.js-plotly-plot').data"
                           ".filter(t => t.name.startsWith('Traffic')).every(t => t.visible === false)", timeout=10_000)
    visible = {t["name"]: t["visible"] for t in page.evaluate(TRACES)}
    assert visible["Zones"] is True and visible["Rain gauges"] is True
    assert not traffic_box.is_checked()
    page.keyboard.press("Alt+t")  # the keyboard shortcut brings it back
    page.wait_for_function("() => document.querySelector('.js-plotly-plot').data"
                           ".filter(t => t.name.startsWith('Traffic')).every(t => t.visible === true)", timeout=10_000)
    assert traffic_box.is_checked()
    assert page.offsite_requests == [] and page.errors == [] and page.csp_violations == []


def test_page_keeps_the_last_snapshot_saying_as_of_when_redis_is_unreachable_and_recovers(own_redis, rio_settings,
                                                                                           page):
    write_city(Store(redis.Redis.from_url(own_redis.url)), rio_settings, rain_mm=1.0)
    with LiveServer(create_public_wsgi_app(rio_settings, own_redis.url)) as server:
        page.goto(f"{server.url}/public/?lang=en")
        page.wait_for_function(MAP_READY, timeout=60_000)
        assert "Stage 1" in page.locator(f"#{pids.STAGE}").text_content()
        own_redis.stop()
        page.wait_for_function(f"() => document.getElementById('{pids.UPDATED}').textContent"
                               ".includes('Data as of ')", timeout=20_000)
        assert "reconnecting" in page.locator(f"#{pids.UPDATED}").text_content()
        assert page.evaluate(TRACES)[0]["locations"] == 166  # the map stays
        own_redis.start()
        page.wait_for_function(f"() => document.getElementById('{pids.UPDATED}').textContent"
                               ".includes('Updated at')", timeout=20_000)
        assert "Stage 1" in page.locator(f"#{pids.STAGE}").text_content()  # kept while Redis was away
        assert page.errors == []


def test_operator_acknowledges_an_alert_with_a_note_that_stays_text(live, page, store, rio_settings, operator):
    from city_seed import alert_record


    write_city(store, rio_settings, rain_mm=1.0)
    alert = alert_record("a-77", "firing", zone_id=rio_settings.zones.ids[0], severity="critical")
    AlertStore(store.redis).put([alert])
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live.url}/login")
    page.fill("#username", operator[0])
    page.fill("#password", operator[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/")
    page.wait_for_function(MAP_READY, timeout=60_000)
    assert "critical rain at a-77" in page.locator(f"#{ids.ALERTS_PANEL}").inner_text()
    page.click(f"#{ids.ACK_ALERT}")
    page.get_by_role("dialog").get_by_text("crítico · critical rain at a-77").click()
    note = '<img src=x onerror="alert(1)"> pumps running'
    page.fill(f"#{ids.ACK_NOTE}", note)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the button has the focus after the note: keyboard only
    page.wait_for_function(f"() => document.getElementById('{ids.ACK_RESULT}').textContent.includes('Reconhecido')",
                           timeout=10_000)
    assert AlertStore(store.redis).acks()["a-77"]["by"] == operator[0]
    page.wait_for_function(f"() => document.getElementById('{ids.ALERTS_PANEL}').textContent.includes('pumps')",
                           timeout=10_000)
    panel = page.locator(f"#{ids.ALERTS_PANEL}")
    assert f"reconhecido por {operator[0]}: <img src=x" in panel.inner_text()  # shown as the text it is
    assert panel.locator("img").count() == 0 and dialogs == []
    assert page.offsite_requests == [] and page.errors == [] and page.csp_violations == []
