"""The console's pages in a real headless Chromium: an operator signs in at the map, follows the
header's link to the alerts page (no reload), moves through the queue with j / k, acknowledges with
a, and the acknowledgement is in the audit (and on the audit page) and stops the chime, which
rings on every page; the incident page draws its
bairros on a small map; the feeds page lists the feeds. Screenshots of each page are kept as test artifacts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser_pages import desktop_page, needs_chromium, sign_in
from city_seed import alert_record, write_city

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.alerting.incidents import Incident
from opscentre.core.roles import Role
from opscentre.dashboard import ids

pytestmark = needs_chromium
PASSWORD = "a long test password"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
SETTLED = """() => { const gd = document.querySelector('SELECTOR');
  const m = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot
            && gd._fullLayout.map._subplot.map;
  return !!(gd && gd.__cityFitted && m && m.loaded() && !m.isMoving()); }"""


@pytest.fixture
def city(store, rio_settings):
    write_city(store, rio_settings, rain_mm=1.0)
    zones = rio_settings.zones.ids
    AlertStore(store.redis).put([alert_record("a-warn", "firing", zone_id=zones[0], severity="warning"),
                                 alert_record("a-crit", "firing", zone_id=zones[1], severity="critical"),
                                 alert_record("a-adv", "firing", zone_id=zones[2], severity="advisory")])
    now = time.time()
    store.redis.hset(keys.INCIDENTS, "i-7", Incident(
        id="i-7", severity="critical", zone_ids=[zones[1], zones[3]], fingerprints=["rain_15min|a-crit"],
        opened_at=now - 900, updated_at=now - 900,
        timeline=[{"at": now - 900, "change": "firing", "alert_id": "a-crit", "rule": "rain_15min",
                   "severity": "critical", "where": "x"}]).model_dump_json())
    operators.add(store.redis, "olga.ops", PASSWORD, Role.OPERATOR)
    return store


def wait_for(page, condition, timeout_s: float = 30.0):
    """Poll `condition` while the page runs (page.wait_for_timeout: the page's requests pass through
    this process's route handler, which only runs while Playwright is called — never time.sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        page.wait_for_timeout(100)
    raise AssertionError("condition not met in time")


def checked(page) -> str | None:
    return page.evaluate("() => { const r = document.querySelector('.alert-queue input:checked');"
                         " return r ? r.value : null; }")


def test_an_operator_acknowledges_from_the_queue_with_the_keyboard_and_finds_it_in_the_audit(live, city):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with desktop_page() as page:
        sign_in(page, live.url, "olga.ops", PASSWORD)
        # (leaving a plotly map while it still draws its fit throws in plotly: let it settle first)
        page.wait_for_function(SETTLED.replace("SELECTOR", ".city-map .js-plotly-plot, .city-map.js-plotly-plot"),
                               timeout=60_000)
        page.click(f"#{ids.NAV} a[href='/alerts']")  # an in-app link: the router draws the page
        page.wait_for_selector(".alert-queue input[type=radio]")
        assert page.url == f"{live.url}/alerts"
        rows = page.eval_on_selector_all(".alert-queue [data-alert]", "els => els.map(e => e.dataset.alert)")
        assert rows == ["a-crit", "a-warn", "a-adv"]  # most severe first
        page.wait_for_selector(f"#{ids.ATTENTION}[data-chime='ringing']")  # the chime rings on every page
        page.locator("body").press("j")
        wait_for(page, lambda: checked(page) == "a-crit")
        page.keyboard.press("j")
        wait_for(page, lambda: checked(page) == "a-warn")
        page.keyboard.press("k")
        wait_for(page, lambda: checked(page) == "a-crit")
        page.keyboard.press("a")
        audit = wait_for(page, lambda: [e for e in AlertStore(city.redis).audit()
                                  if e["action"] == "acknowledged" and e["subject"] == "a-crit"])
        assert audit[0]["actor"] == "olga.ops"
        page.wait_for_selector("[data-alert='a-crit'] .queue-acked")  # the queue says so without a reload
        assert "olga.ops" in page.locator(f"#{ids.ACK_RESULT}").inner_text()
        page.wait_for_selector(f"#{ids.ATTENTION}[data-chime='silent']")  # acknowledged: quiet
        page.screenshot(path=str(ARTIFACTS / "page-alerts.png"), full_page=True)

        page.keyboard.press("j")  # on from the row last chosen
        wait_for(page, lambda: checked(page) == "a-warn")

        page.click(f"#{ids.NAV} a[href='/audit']")
        page.wait_for_selector(f"#{ids.AUDIT_TABLE} tr[data-action='acknowledged']")
        assert "a-crit" in page.locator(f"#{ids.AUDIT_TABLE}").inner_text()
        page.screenshot(path=str(ARTIFACTS / "page-audit.png"), full_page=True)

        page.goto(f"{live.url}/incident/i-7")
        page.wait_for_function("() => { const gd = document.querySelector('#incident-map .js-plotly-plot')"
                               " || document.querySelector('.incident-map.js-plotly-plot');"
                               " return !!(gd && gd.data && gd.data.length === 2 && gd._fullLayout"
                               " && gd._fullLayout.map); }", timeout=60_000)
        page.wait_for_selector(f"#{ids.INCIDENT_MAP} canvas.maplibregl-canvas", timeout=60_000)
        incident_map = ".incident-map .js-plotly-plot, .incident-map.js-plotly-plot"
        page.wait_for_function(SETTLED.replace("SELECTOR", incident_map), timeout=60_000)  # fitted to its bairros
        assert "olga.ops" in page.locator(".incident-timeline").inner_text()  # the acknowledgement, by whom
        page.screenshot(path=str(ARTIFACTS / "page-incident.png"), full_page=True)

        page.click(f"#{ids.NAV} a[href='/feeds']")
        page.wait_for_selector(f"#{ids.FEEDS_TABLE} tr[data-feed='simulator']")
        page.screenshot(path=str(ARTIFACTS / "page-feeds.png"), full_page=True)

        page.click(f"#{ids.NAV} a[href='/']")  # and back to the map
        page.wait_for_selector(".js-plotly-plot canvas.maplibregl-canvas", timeout=60_000)
        assert page.offsite_requests == [] and page.errors == [] and page.csp_violations == []
