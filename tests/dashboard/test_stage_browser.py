"""The stage control in a real headless Chromium, two supervisors at two screens: one sets stage 5
with a note, the other's console shows the waiting change without a reload and confirms it; the
one who asked cannot. Screenshots are kept as test artifacts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser_pages import launch, needs_chromium, sign_in, watched
from city_seed import write_city

from opscentre.core import operators, stage_control
from opscentre.core.alert_store import AlertStore
from opscentre.core.roles import Role
from opscentre.dashboard import ids
from opscentre.dashboard.components.stage_panel import stage_label
from opscentre.i18n import translator

pytestmark = needs_chromium
PASSWORD = "a long test password"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def console(browser, live, username: str):
    page = watched(browser.new_context(viewport={"width": 1440, "height": 900}).new_page())
    sign_in(page, live.url, username, PASSWORD)
    return page


def ask_for_stage_5(page, t, note: str) -> None:
    """Choose stage 5, write the note, Set; wait until the panel shows the request waiting."""
    page.click(f"#{ids.STAGE_LEVEL}")
    page.get_by_role("dialog").get_by_text(stage_label(t, 5)).click()
    page.fill(f"#{ids.STAGE_NOTE}", note)
    page.click(f"#{ids.STAGE_SET}")
    page.wait_for_function(f"() => document.getElementById('{ids.STAGE_PENDING}').textContent.includes('sara.sup')",
                           timeout=10_000)


def test_stage_5_set_at_one_screen_is_confirmed_at_another(live, browser, store, rio_settings):
    write_city(store, rio_settings, rain_mm=1.0)
    operators.add(store.redis, "sara.sup", PASSWORD, Role.SUPERVISOR)
    operators.add(store.redis, "bruno.sup", PASSWORD, Role.SUPERVISOR)
    alerts = AlertStore(store.redis)
    t = translator(rio_settings.city.language)
    sara, bruno = console(browser, live, "sara.sup"), console(browser, live, "bruno.sup")

    ask_for_stage_5(sara, t, "landslides in three bairros; Defesa Civil agrees")
    assert sara.locator(f"#{ids.STAGE_CONFIRM}").is_disabled()  # not the one who asked
    assert alerts.stage_override() is None and alerts.stage_pending()["level"] == 5

    bruno.wait_for_function(f"() => document.getElementById('{ids.STAGE_PENDING}').textContent"
                            ".includes('landslides in three bairros')", timeout=15_000)  # no reload
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    bruno.screenshot(path=str(ARTIFACTS / "stage-waiting-for-confirmation.png"))
    bruno.click(f"#{ids.STAGE_CONFIRM}")
    bruno.wait_for_function(f"() => document.getElementById('{ids.STAGE_RESULT}').textContent.includes('bruno.sup')",
                            timeout=10_000)
    override = alerts.stage_override()
    assert override["level"] == 5 and override["by"] == "sara.sup" and override["confirmed_by"] == "bruno.sup"
    sara.wait_for_function(f"() => document.getElementById('{ids.STAGE_PENDING}').textContent === ''",
                           timeout=15_000)
    for page in (sara, bruno):
        assert page.offsite_requests == [] and page.errors == [] and page.csp_violations == []


def test_a_request_confirmed_elsewhere_before_this_screens_next_tick_leaves_this_screen(
        live, browser, store, rio_settings):
    """Confirmed by another supervisor within moments of the asking (here through the store, at
    once): the asker's screen, whose tick never saw the request waiting, still clears it."""
    write_city(store, rio_settings, rain_mm=1.0)
    operators.add(store.redis, "sara.sup", PASSWORD, Role.SUPERVISOR)
    alerts = AlertStore(store.redis)
    t = translator(rio_settings.city.language)
    sara = console(browser, live, "sara.sup")

    ask_for_stage_5(sara, t, "landslides; Defesa Civil agrees")
    request_id = alerts.stage_pending()["id"]
    now = time.time()
    alerts.change_stage(lambda override, pending: stage_control.confirm("bruno.sup", now, override, pending,
                                                                        request_id), "bruno.sup", now)
    assert alerts.stage_override()["confirmed_by"] == "bruno.sup"
    sara.wait_for_function(f"() => document.getElementById('{ids.STAGE_PENDING}').textContent === ''",
                           timeout=15_000)
    assert sara.errors == [] and sara.csp_violations == []
