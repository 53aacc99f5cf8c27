"""Headless Chromium for the browser tests (Debian's, SwiftShader WebGL): how it is launched, and
a page that records what it must not do — reach a host other than 127.0.0.1 (aborted: the pages
must work with no internet), throw, or break the Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
MAP_READY = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  return !!(gd && gd.data && gd.data.length && gd._fullLayout && gd._fullLayout.map
            && document.querySelector('canvas.maplibregl-canvas'));
}"""

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
