"""Wall mode in a real headless Chromium: a viewer opens /wall; the map draws, with no header,
links or forms on the page; the side panel turns to its next section (and on) with a short cycle
(`?cycle=2`) while the map stays the same element, never drawn again; a new stage arrives without a
reload; Dash's undo history, which gains an entry at every tick, is cut back (assets/wall.js); and
the wall's screenshot is kept as a test artifact (var/test-artifacts/page-wall.png)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from browser_pages import MAP_READY, desktop_page, needs_chromium
from city_seed import alert_record, write_city

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.incidents import Incident
from opscentre.core.roles import Role
from opscentre.dashboard import ids
from opscentre.dashboard.pages import wall as wall_page
from opscentre.i18n import translator

pytestmark = needs_chromium
PASSWORD = "a long test password"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
SHOWN = """() => { const shown = [...document.querySelectorAll('#wall-side > .wall-panel')]
  .filter(s => getComputedStyle(s).display !== 'none'); return shown.map(s => s.dataset.panel); }"""
MARK_MAP = """() => { window.__wallMap = document.querySelector('.js-plotly-plot');
  window.__wallCanvas = document.querySelector('canvas.maplibregl-canvas'); }"""
HISTORY = "() => (window.dash_stores || []).reduce((n, s) => n + s.getState().history.past.length, 0)"
SAME_MAP = """() => document.querySelector('.js-plotly-plot') === window.__wallMap
  && document.querySelector('canvas.maplibregl-canvas') === window.__wallCanvas"""


@pytest.fixture
def city(store, rio_settings):
    write_city(store, rio_settings, rain_mm=1.0)
    zones = rio_settings.zones.ids
    AlertStore(store.redis).put([alert_record("a-warn", "firing", zone_id=zones[0], severity="warning"),
                                 alert_record("a-crit", "firing", zone_id=zones[1], severity="critical")])
    now = time.time()
    store.redis.hset(keys.INCIDENTS, "i-7", Incident(
        id="i-7", severity="critical", zone_ids=[zones[1], zones[3]], fingerprints=["rain_15min|a-crit"],
        opened_at=now - 900, updated_at=now - 900, timeline=[]).model_dump_json())
    store.redis.set(keys.STAGE_RECORD, orjson.dumps({"level": 3, "name": "Attention", "since": now - 1800,
                                                     "reasons": [], "manual": False}))
    operators.add(store.redis, "wall.viewer", PASSWORD, Role.VIEWER)
    return store


def wait_for(page, condition, timeout_s: float = 30.0):
    """Poll `condition` while the page runs (page.wait_for_timeout, never time.sleep: the page's
    requests pass through this process's route handler)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        page.wait_for_timeout(100)
    raise AssertionError("condition not met in time")


def test_a_viewer_opens_the_wall_the_map_draws_and_the_panel_cycles(live, city, rio_settings):
    t = translator(rio_settings.city.language)
    with desktop_page(1920, 1080) as page:
        page.goto(f"{live.url}/login")
        page.fill("#username", "wall.viewer")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live.url}/")
        page.goto(f"{live.url}/wall?cycle=2")
        page.wait_for_function(MAP_READY, timeout=60_000)
        assert page.locator(f"#{ids.NAV}, form, input, button, select, header.topbar").count() == 0
        stage = page.locator(f"#{ids.WALL_STAGE}").inner_text()
        assert t.gettext(wall_page.TEXT["stage"]).format(level=3, name=t.gettext("Attention")) in stage
        assert page.locator("[data-incident='i-7']").count() == 1
        page.evaluate(MARK_MAP)
        page.evaluate("() => { window.opscentreHistoryKept = 5; }")  # (assets/wall.js: 50 by default)
        # one section shown at a time, and it turns to the next: incidents -> alerts -> feeds -> incidents
        shown = page.evaluate(SHOWN)
        assert len(shown) == 1
        for _ in range(len(wall_page.PANELS)):
            following = wall_page.PANELS[(wall_page.PANELS.index(shown[0]) + 1) % len(wall_page.PANELS)]
            shown = wait_for(page, lambda: (now := page.evaluate(SHOWN)) != shown and now)
            assert shown == [following]
            if following == "alerts":
                assert page.locator("#wall-side [data-severity='critical']").is_visible()
        # a new stage arrives on the tick, without a reload; the turning drew no new map
        city.redis.set(keys.STAGE_RECORD, orjson.dumps({"level": 4, "name": "Alert", "since": time.time(),
                                                        "reasons": [], "manual": False}))
        write_city(city, rio_settings, rain_mm=2.0)  # (a poll: the status is read again)
        alert_stage = t.gettext(wall_page.TEXT["stage"]).format(level=4, name=t.gettext("Alert"))
        wait_for(page, lambda: alert_stage in page.locator(f"#{ids.WALL_STAGE}").inner_text())
        assert page.evaluate(SAME_MAP)
        # Dash's undo history gains an entry at every tick; it is cut back (assets/wall.js), not kept for days
        wait_for(page, lambda: page.evaluate(HISTORY) > 5)
        wait_for(page, lambda: page.evaluate(HISTORY) <= 5)
        assert page.errors == [] and page.csp_violations == [] and page.offsite_requests == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "page-wall.png"))
