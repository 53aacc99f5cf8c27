"""The console's date charts speak the user's language in a real headless Chromium: the entity
page's day chart and the feeds page's items chart write their date axis's ticks, and the entity
chart its hover, with the viewer's month names (and the hover its decimal sign): pt-BR, the Rio
city's language; en and da picked with ?lang=. Each graph carries its locale in its config
(dashboard/chart_locale.py): no script to load, no CSP violation, no page error."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from babel.dates import get_month_names
from browser_pages import desktop_page, needs_chromium, sign_in
from city_seed import write_city

from opscentre.core import keys, operators
from opscentre.core.roles import Role
from opscentre.dashboard import ids

pytestmark = needs_chromium
PASSWORD = "a long test password"
HOUR = 3600.0
ENTITY_CHART = f"#{ids.ENTITY_CHART}-rain_mm .js-plotly-plot"
FEEDS_CHART = ".feeds-chart .js-plotly-plot"
# the text of each x tick (a tick over two lines has one tspan a line: joined with " | ")
TICKS = """(sel) => Array.from(document.querySelectorAll(sel + ' .xtick text')).map(t => {
  const lines = t.querySelectorAll('tspan.line');
  return lines.length ? Array.from(lines).map(l => l.textContent).join(' | ') : t.textContent; })"""
HOVER = """(sel) => { const gd = document.querySelector(sel);
  Plotly.Fx.hover(gd, [{curveNumber: 0, pointNumber: 1}]);
  return Array.from(gd.querySelectorAll('.hoverlayer .hovertext text')).map(t => t.textContent).join(' '); }"""


@pytest.fixture
def gauge(store, rio_settings):
    now = time.time()
    for hours_ago in (23, 17, 11, 5, 1):  # a day of the simulator's polls (the chart's line)
        at_ms = int((now - hours_ago * HOUR) * 1000)
        store.redis.xadd(keys.feed_polls("simulator"), {"i": 1234, "s": "ok"}, id=f"{at_ms}-0")
    entities = write_city(store, rio_settings, rain_mm=0.5, observed_at=now - 20 * HOUR)
    gauge = entities[0]
    write_city(store, rio_settings, rain_mm={gauge.entity_id: 7.5}, observed_at=now - 2 * HOUR)
    write_city(store, rio_settings, rain_mm={gauge.entity_id: 1.5}, observed_at=now - 60)
    operators.add(store.redis, "vera.viewer", PASSWORD, Role.VIEWER)
    return gauge


def short_months(lang: str, start: float, end: float, tz) -> set[str]:
    """The abbreviations (Babel's) of the months a window's local days fall in."""
    names = get_month_names("abbreviated", "format", {"pt-BR": "pt_BR"}.get(lang, lang))
    return {names[datetime.fromtimestamp(ts, tz).month] for ts in (start, end)}


def chart_window(page, selector: str) -> tuple[float, float]:
    meta = page.evaluate("(sel) => document.querySelector(sel).layout.meta", selector)
    return meta["start"], meta["end"]


def open_chart(page, url: str, selector: str) -> list[str]:
    page.goto(url)
    page.wait_for_selector(f"{selector} .xtick text", timeout=30_000)
    return page.evaluate(TICKS, selector)


# (lang asked with ?lang=, or None: the city's, pt-BR) -> what its ticks and hover must show
CASES = [(None, "pt-BR", "7,5"), ("en", "en", "7.5"), ("da", "da", "7,5")]


def test_the_entity_and_feeds_charts_date_axes_follow_the_viewers_language(live, gauge, rio_settings):
    tz = rio_settings.tz
    english = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
    with desktop_page() as page:
        sign_in(page, live.url, "vera.viewer", PASSWORD)
        for asked, lang, reading in CASES:
            query = f"?lang={asked}" if asked else ""
            ticks = open_chart(page, f"{live.url}/entity/{gauge.entity_id}{query}", ENTITY_CHART)
            start, end = chart_window(page, ENTITY_CHART)
            months = short_months(lang, start, end, tz)
            said = " ".join(ticks)
            assert any(month in said for month in months), (lang, months, ticks)
            if lang != "en":  # "dez." / "dec.", never "Dec"
                assert not any(word in said.split() for word in english), (lang, ticks)
            hover = page.evaluate(HOVER, ENTITY_CHART)  # "%{x|%d %b %H:%M}: %{y} mm"
            assert any(f" {month} " in f" {hover} " for month in short_months(lang, end - 3 * HOUR, end, tz)), \
                (lang, hover)
            assert f": {reading} mm" in hover, (lang, hover)  # the decimal sign too

            feed_ticks = open_chart(page, f"{live.url}/feeds{query}", FEEDS_CHART)
            said = " ".join(feed_ticks)
            assert any(month in said for month in short_months(lang, time.time() - 24 * HOUR, time.time(), tz)), \
                (lang, feed_ticks)
            if lang != "en":
                assert not any(word in said.split() for word in english), (lang, feed_ticks)
        assert page.offsite_requests == [] and page.errors == [] and page.csp_violations == []
