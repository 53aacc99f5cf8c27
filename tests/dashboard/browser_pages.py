"""Headless Chromium for the browser tests (Debian's, SwiftShader WebGL): how it is launched, and
a page that records what it must not do — reach a host other than 127.0.0.1 (aborted: the pages
must work with no internet), throw, or break the Content-Security-Policy."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from opscentre.bench import chromium

CHROMIUM = Path(chromium.CHROMIUM)
ARGS, MAP_READY = chromium.ARGS, chromium.MAP_READY

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium "
                                                                  "(apt-get install -y chromium)")


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)


def watched(page):
    """`page`, recording in page.offsite_requests, page.errors and page.csp_violations."""
    page.offsite_requests, page.errors, page.csp_violations = [], [], []

    def only_loopback(route):
        if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            page.offsite_requests.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text
            and page.csp_violations.append(message.text))
    return page


@contextlib.contextmanager
def desktop_page(width: int = 1440, height: int = 900):
    """A watched page of a fresh headless Chromium at a control room's screen size."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        context = chromium.new_context(viewport={"width": width, "height": height})
        try:
            yield watched(context.new_page())
        finally:
            context.close()
            chromium.close()


def sign_in(page, base_url: str, username: str, password: str) -> None:
    """Through the sign-in form, then wait for the console's map."""
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    page.wait_for_function(MAP_READY, timeout=60_000)
