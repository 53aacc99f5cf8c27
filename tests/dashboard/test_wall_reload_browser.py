"""The wall reloads itself every `?reload=HOURS` (assets/wall.js; 6 h by default), in a real
headless Chromium — but only when its page answers as itself: while the server answers an error,
or sends the browser to the sign-in page, the wall stays as it is and asks again later."""

from __future__ import annotations

import time

import pytest
from browser_pages import MAP_READY, desktop_page, needs_chromium
from city_seed import write_city

from opscentre.core import operators
from opscentre.core.roles import Role

pytestmark = needs_chromium
PASSWORD = "a long test password"
RELOAD_HOURS = 0.003  # 10.8 s
MARK = "() => { window.__sameDocument = true; window.opscentreWallRetryMs = 1000; }"
SAME_DOCUMENT = "() => window.__sameDocument === true"


@pytest.fixture
def city(store, rio_settings):
    write_city(store, rio_settings, rain_mm=1.0)
    operators.add(store.redis, "wall.viewer", PASSWORD, Role.VIEWER)
    return store


def signed_in(page, live) -> None:
    page.goto(f"{live.url}/login")
    page.fill("#username", "wall.viewer")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/")


def same_document(page) -> bool:
    """Is the page still the document marked by MARK? (False while a reload replaces it.)"""
    from playwright.sync_api import Error

    try:
        return page.evaluate(SAME_DOCUMENT)
    except Error:  # "Execution context was destroyed": a navigation is under way
        return False


def run_for(page, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page.wait_for_timeout(200)


def wait_until(page, condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        page.wait_for_timeout(200)
    raise AssertionError("condition not met in time")


def test_the_wall_reloads_itself_only_when_its_page_answers(live, city):
    with desktop_page(1920, 1080) as page:
        signed_in(page, live)
        wall = f"{live.url}/wall?reload={RELOAD_HOURS}"
        page.goto(wall)
        page.wait_for_function(MAP_READY, timeout=60_000)
        page.evaluate(MARK)

        # the server answers 503 to the wall's check: no reload, and it asks again every second
        asked = []

        def unavailable(route):
            if route.request.resource_type == "fetch":
                asked.append(time.monotonic())
                route.fulfill(status=503, body="down for maintenance")
            else:
                route.continue_()

        page.route("**/wall?reload=*", unavailable)
        wait_until(page, lambda: len(asked) >= 3, timeout_s=RELOAD_HOURS * 3600 + 30)
        assert same_document(page), "the wall reloaded into an error page"

        # the server is back: the next check reloads the wall, which draws its map again
        page.unroute("**/wall?reload=*")
        wait_until(page, lambda: not same_document(page), timeout_s=30)
        page.wait_for_load_state("load")
        page.wait_for_function(MAP_READY, timeout=60_000)
        assert page.url == wall

        # the session ends: the check is sent to the sign-in page, so the wall stays as it is
        page.evaluate(MARK)
        page.context.clear_cookies()
        redirected = []
        page.on("response", lambda r: redirected.append(r) if "/login" in r.url else None)
        wait_until(page, lambda: len(redirected) >= 2, timeout_s=RELOAD_HOURS * 3600 + 30)
        assert same_document(page), "the wall reloaded into the sign-in page"
        assert page.url == wall


def test_a_wall_told_never_to_reload_does_not(live, city):
    with desktop_page(1920, 1080) as page:
        signed_in(page, live)
        checks = []
        page.on("request", lambda r: checks.append(r) if r.resource_type == "fetch" and "/wall" in r.url else None)
        page.goto(f"{live.url}/wall?reload=0")
        page.wait_for_function(MAP_READY, timeout=60_000)
        page.evaluate(MARK)
        run_for(page, 5)
        assert same_document(page) and checks == []
