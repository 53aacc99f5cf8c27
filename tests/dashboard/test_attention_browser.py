"""Attention in a real headless Chromium: a critical alert arrives without a reload → the console's
chime rings (data-chime="ringing" on #attention: no audio can be heard headless) and the aria-live
region names the alert; acknowledging it stops the chime; the mute toggle is per screen and
survives a reload. Screenshots are kept as test artifacts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser_pages import MAP_READY, desktop_page, needs_chromium
from browser_pages import sign_in as signed_in
from city_seed import alert_record, write_city

from opscentre.core import operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.roles import Role
from opscentre.dashboard import ids

pytestmark = needs_chromium
PASSWORD = "a long test password"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


@pytest.fixture
def page():
    with desktop_page() as page:
        yield page


@pytest.fixture
def city(store, rio_settings):
    write_city(store, rio_settings, rain_mm=1.0)
    operators.add(store.redis, "olga.ops", PASSWORD, Role.OPERATOR)
    return store


def sign_in(page, live, username: str) -> None:
    signed_in(page, live.url, username, PASSWORD)


def chime(page) -> str:
    return page.get_attribute(f"#{ids.ATTENTION}", "data-chime")


def wait_chime(page, state: str, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(f"() => document.getElementById('{ids.ATTENTION}')?.dataset.chime === '{state}'",
                           timeout=timeout_ms)


def test_a_new_critical_alert_chimes_until_acknowledged_is_announced_and_mute_persists(live, page, city,
                                                                                       rio_settings):
    alerts = AlertStore(city.redis)
    zone = rio_settings.zones.ids[0]
    alerts.put([alert_record("a-warn", "firing", zone_id=zone, severity="warning")])
    sign_in(page, live, "olga.ops")
    wait_chime(page, "silent")
    assert page.locator(f"#{ids.ATTENTION_LIVE}").get_attribute("aria-live") == "polite"

    alerts.put([alert_record("a-crit", "firing", zone_id=zone, severity="critical")])  # no reload
    wait_chime(page, "ringing")
    page.wait_for_function(f"() => document.getElementById('{ids.ATTENTION_LIVE}').textContent"
                           ".includes('critical rain at a-crit')", timeout=10_000)
    assert "a-warn" not in page.locator(f"#{ids.ATTENTION_LIVE}").inner_text()  # only what is new
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "attention-ringing.png"))

    alerts.acknowledge("a-crit", "olga.ops", "on it", time.time())
    wait_chime(page, "silent")

    alerts.put([alert_record("a-crit2", "firing", zone_id=zone, severity="emergency")])
    wait_chime(page, "ringing")
    page.click(f"#{ids.ATTENTION_MUTE}")
    wait_chime(page, "muted", 5_000)
    assert page.get_attribute(f"#{ids.ATTENTION_MUTE}", "aria-pressed") == "true"
    page.reload()
    page.wait_for_function(MAP_READY, timeout=60_000)
    wait_chime(page, "muted", 10_000)  # still muted on this screen, the alarm still on
    page.click(f"#{ids.ATTENTION_MUTE}")
    wait_chime(page, "ringing", 5_000)
    assert page.offsite_requests == [] and page.errors == [] and page.csp_violations == []
