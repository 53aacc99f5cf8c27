"""The entity and notifications pages in a real headless Chromium: a click on a rain gauge on the
map (the mouse, at the point's pixel) opens the gauge's page with its day charted and the rules'
levels as lines; a supervisor finds a dead letter on the notifications page and retries it.
Screenshots kept as test artifacts (var/test-artifacts/page-entity.png, page-notifications.png)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser_pages import desktop_page, needs_chromium, sign_in
from city_seed import write_city
from test_pages_browser import SETTLED, wait_for

from opscentre.core import operators
from opscentre.core.notify import deliveries
from opscentre.core.notify.deliveries import Event, State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.roles import Role
from opscentre.dashboard import ids

pytestmark = needs_chromium
PASSWORD = "a long test password"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
MAP = ".city-map .js-plotly-plot, .city-map.js-plotly-plot"
HOUR = 3600.0


@pytest.fixture
def city(store, rio_settings):
    now = time.time()
    entities = write_city(store, rio_settings, rain_mm=0.5, observed_at=now - 5 * HOUR)
    gauge = entities[0]
    write_city(store, rio_settings, rain_mm={gauge.entity_id: 7.5}, observed_at=now - 2 * HOUR)
    write_city(store, rio_settings, rain_mm={gauge.entity_id: 1.5}, observed_at=now - 60)
    operators.add(store.redis, "vera.viewer", PASSWORD, Role.VIEWER)
    operators.add(store.redis, "sara.sup", PASSWORD, Role.SUPERVISOR)
    return gauge


# The pixel of a gauge's point on the map (plotly's own projection), and its trace and index.
POINT_AT = """(id) => { const gd = document.querySelector('MAP');
  const m = gd._fullLayout.map._subplot.map;
  for (let c = 0; c < gd.data.length; c++) {
    const cd = gd.data[c].customdata; const k = Array.isArray(cd) ? cd.indexOf(id) : -1;
    if (k >= 0 && gd.data[c].visible !== false) {
      const p = m.project([gd.data[c].lon[k], gd.data[c].lat[k]]);
      const box = m.getContainer().getBoundingClientRect();
      return {x: box.left + p.x, y: box.top + p.y, curve: c, point: k}; } }
  return null; }""".replace("MAP", MAP)


def test_a_click_on_a_gauge_opens_its_day_with_the_level_lines(live, city):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with desktop_page() as page:
        sign_in(page, live.url, "vera.viewer", PASSWORD)
        page.wait_for_function(SETTLED.replace("SELECTOR", MAP), timeout=60_000)
        at = page.evaluate(POINT_AT, city.entity_id)
        assert at is not None, "the gauge's point carries its entity id"
        page.mouse.move(at["x"], at["y"])
        page.mouse.click(at["x"], at["y"])
        page.wait_for_url(f"{live.url}/entity/{city.entity_id}", timeout=30_000)
        chart = f"#{ids.ENTITY_CHART}-rain_mm .js-plotly-plot"
        page.wait_for_selector(f"{chart} .scatterlayer .trace", timeout=30_000)
        drawn = page.evaluate("""(sel) => { const gd = document.querySelector(sel);
            return gd.data.map(t => ({role: t.meta.role, y: t.y, n: t.x.length})); }""", chart)
        assert drawn[0]["role"] == "reading" and drawn[0]["y"] == [0.5, 7.5, 1.5]
        levels = sorted(t["y"][0] for t in drawn[1:] if t["role"] == "level")
        assert levels == [1.25, 6.25, 10.1, 12.5, 25.0]  # Rio's rain_15min classes and stage criteria
        # every line is drawn on the chart (plotly's SVG: one path per trace)
        assert page.eval_on_selector_all(f"{chart} .scatterlayer .trace .js-line", "els => els.length") >= 6
        assert page.locator(f"#{ids.ENTITY_ALERTS}").is_visible()
        page.screenshot(path=str(ARTIFACTS / "page-entity.png"), full_page=True)
        page.go_back()  # the map again, as the browser's Back
        page.wait_for_url(f"{live.url}/", timeout=30_000)
        page.wait_for_selector(MAP, timeout=30_000)
        assert page.offsite_requests == [] and page.errors == [] and page.csp_violations == []


def test_a_supervisor_retries_a_dead_letter_from_the_notifications_page(live, city, store):
    now = time.time()
    store_ = DeliveryStore(store.redis)
    dead = deliveries.new(notification_id="n-1", transition="opened", channel="sms", recipient_id="r-1",
                          target_masked="+55 21 9****-**21", payload="Chuva forte", now=now - 600, incident_id="i-7")
    store_.add([dead])
    store_.record(dead.id, Event.CLAIM, now - 500)
    store_.record(dead.id, Event.FAILED, now - 499, error="21610 unsubscribed", retryable=False)
    with desktop_page() as page:
        sign_in(page, live.url, "sara.sup", PASSWORD)
        page.wait_for_function(SETTLED.replace("SELECTOR", MAP), timeout=60_000)
        page.click(f"#{ids.NAV} a[href='/notifications']")
        row = f"#{ids.NOTIFY_DEAD} tr[data-delivery='{dead.id}']"
        page.wait_for_selector(row, timeout=30_000)
        assert "+55 21 9****-**21" in page.inner_text(row) and "21610 unsubscribed" in page.inner_text(row)
        page.screenshot(path=str(ARTIFACTS / "page-notifications.png"), full_page=True)
        page.click(f"#{ids.DEAD_LETTERS}")
        page.get_by_role("dialog").get_by_text("+55 21 9****-**21").click()
        page.click(f"#{ids.RETRY_BUTTON}")
        page.wait_for_function(f"() => document.getElementById('{ids.RETRY_RESULT}').textContent"
                               ".includes('sara.sup')", timeout=15_000)
        wait_for(page, lambda: page.locator(row).count() == 0)  # the lists redrawn at once
        assert store_.get(dead.id).state is State.QUEUED
        assert page.offsite_requests == [] and page.errors == [] and page.csp_violations == []
