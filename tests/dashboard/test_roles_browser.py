"""Roles in a real headless Chromium: a viewer sees the console with its role and every control
that would change something disabled; a supervisor approves a mass send from the console."""

from __future__ import annotations

import time

import pytest
from browser_pages import desktop_page, needs_chromium
from browser_pages import sign_in as signed_in
from city_seed import alert_record, write_city

from opscentre.core import operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.notify.deliveries import Delivery, State
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.core.roles import Role
from opscentre.dashboard import ids

pytestmark = needs_chromium
PASSWORD = "a long test password"


@pytest.fixture
def page():
    with desktop_page() as page:
        yield page


def sign_in(page, live, username: str) -> None:
    signed_in(page, live.url, username, PASSWORD)


@pytest.fixture
def city(store, rio_settings):
    write_city(store, rio_settings, rain_mm=1.0)
    AlertStore(store.redis).put([alert_record("a-5", "firing", zone_id=rio_settings.zones.ids[0], severity="critical")])
    now = time.time()
    DeliveryStore(store.redis).add([Delivery(
        id="d-1", notification_id="n-1", transition="opened", channel="sms", recipient_id="r1",
        target_masked="+55 21 9****-**01", idempotency_key="sms|n-1|opened|r1", payload='"Alerta"',
        state=State.AWAITING_APPROVAL, incident_id="i-1", created_at=now, updated_at=now)])
    operators.add(store.redis, "vera.viewer", PASSWORD, Role.VIEWER)
    operators.add(store.redis, "sara.sup", PASSWORD, Role.SUPERVISOR)
    return store


def test_a_viewer_sees_everything_and_can_change_nothing(live, page, city):
    sign_in(page, live, "vera.viewer")
    assert page.locator(f"#{ids.OPERATOR_ROLE}").inner_text().lower() == "viewer"
    assert "critical rain at a-5" in page.locator(f"#{ids.ALERTS_PANEL}").inner_text()
    for button in (ids.ACK_BUTTON, ids.ACK_RESOLVE, ids.ACK_SILENCE, ids.APPROVE_BUTTON, ids.RETRY_BUTTON):
        assert page.locator(f"#{button}").is_disabled(), button
    assert "não agir sobre eles" in page.locator(f"#{ids.ACK_RESULT}").inner_text()
    assert page.offsite_requests == [] and page.errors == [] and page.csp_violations == []


def test_a_supervisor_approves_a_mass_send_from_the_console(live, page, city):
    sign_in(page, live, "sara.sup")
    assert page.locator(f"#{ids.APPROVE_BUTTON}").is_enabled()
    page.click(f"#{ids.APPROVALS}")
    page.get_by_role("dialog").get_by_text("1 sms · incidente i-1").click()
    page.click(f"#{ids.APPROVE_BUTTON}")
    page.wait_for_function(f"() => document.getElementById('{ids.APPROVE_RESULT}').textContent.includes('aprovadas por')",
                           timeout=10_000)
    assert DeliveryStore(city.redis).get("d-1").approvals == ("sara.sup",)
    assert page.errors == [] and page.csp_violations == []
