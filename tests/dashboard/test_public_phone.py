"""The public view on a phone (390×844) in a real headless Chromium, under the app's CSP, served
over loopback HTTP from a real Redis: what a resident needs comes before the map, nothing scrolls
sideways, times are the city's (the browser is set to another zone), the bairro search answers,
the page updates live and switches language by its URL."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from browser_pages import MAP_READY, launch, needs_chromium, watched
from city_seed import alert_record, write_city

from opscentre.core.alert_store import AlertStore
from opscentre.dashboard.public_pages import ids as pids

PHONE = {"width": 390, "height": 844}
# the hover text of the first rain gauge, as the browser's map holds it
GAUGE_HOVER = "() => document.querySelector('.js-plotly-plot').data.find(t => t.name === 'Rain gauges').text[0]"
COPACABANA, JARDIM_BOTANICO = "024", "028"

pytestmark = needs_chromium


@pytest.fixture
def phone():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        # a phone whose own clock is in Tokyo: the page must still show Rio's time
        context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True,
                                      timezone_id="Asia/Tokyo")
        page = watched(context.new_page())
        page.dialogs = []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        yield page
        context.close()
        browser.close()


def box(page, selector: str) -> dict:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not displayed"
    return found


def answer_text(page) -> str:
    return page.locator(f"#{pids.BAIRRO_ANSWER}").inner_text()


def test_a_resident_on_a_phone_sees_stage_alerts_and_search_before_the_map(live, phone, store, rio_settings):
    observed = time.time() - 300
    write_city(store, rio_settings, rain_mm=9.0, observed_at=observed)
    AlertStore(store.redis).put([alert_record("a-copa", "firing", zone_id=COPACABANA)])
    phone.goto(f"{live.url}/public/")
    phone.wait_for_function(MAP_READY, timeout=60_000)

    stage, alerts = phone.locator(f"#{pids.STAGE}"), phone.locator(f"#{pids.ALERTS}")
    assert "Estágio 1 de 5" in stage.inner_text() and "Normalidade" in stage.inner_text()
    assert "✓" in stage.inner_text()  # a sign besides the colour
    assert "Alerta: Chuva forte em Copacabana" in alerts.inner_text()
    assert "O que fazer: Não atravesse ruas alagadas" in alerts.inner_text()
    assert phone.locator(f"label[for={pids.BAIRRO_INPUT}]").inner_text() == "Meu bairro está afetado?"

    map_top = box(phone, ".public-map-frame")["y"]
    for selector in (f"#{pids.STAGE}", f"#{pids.ALERTS}", f"#{pids.BAIRRO_INPUT}", f"#{pids.BAIRRO_BUTTON}"):
        part = box(phone, selector)
        assert part["y"] + part["height"] <= map_top, selector
        assert part["x"] >= 0 and part["x"] + part["width"] <= PHONE["width"], selector
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.locator("canvas.maplibregl-canvas").count() >= 1

    rio = ZoneInfo(rio_settings.city.timezone)
    assert phone.locator(f"#{pids.UPDATED}").inner_text() == \
        f"Atualizado às {datetime.fromtimestamp(observed, rio).strftime('%H:%M')}"
    since = datetime.fromisoformat(AlertStore(store.redis).active()[0]["since"].replace("Z", "+00:00"))
    assert f"Desde {since.astimezone(rio).strftime('%H:%M')}" in alerts.inner_text()
    legend = phone.locator(".public-legend")
    legend.locator("summary").click()
    assert "sem chuva" in legend.inner_text() and "muito forte" in legend.inner_text()
    assert "Copacabana — Alerta" in phone.locator(f"#{pids.ZONES_WITH_ALERTS}").inner_text()
    assert phone.locator("a[href='/api/public/alerts.atom']").count() == 1
    assert phone.locator("a[href='/api/public/ogc/']").count() == 1

    search = phone.locator(f"#{pids.BAIRRO_INPUT}")
    search.fill("COPACABANA")
    search.press("Enter")
    phone.wait_for_function(f"() => document.getElementById('{pids.BAIRRO_ANSWER}').textContent"
                            ".includes('1 alerta para Copacabana')", timeout=15_000)
    search.fill("jardim botanico")
    search.press("Enter")
    phone.wait_for_function(f"() => document.getElementById('{pids.BAIRRO_ANSWER}').textContent"
                            ".includes('Nenhum alerta para Jardim Botânico.')", timeout=15_000)
    hostile = '<img src=x onerror="alert(1)">'
    search.fill(hostile)
    search.press("Enter")
    phone.wait_for_function(f"() => document.getElementById('{pids.BAIRRO_ANSWER}').textContent"
                            ".includes('Não encontramos')", timeout=15_000)
    assert hostile in answer_text(phone)  # shown as the text it is
    assert phone.locator(f"#{pids.BAIRRO_ANSWER} img").count() == 0

    # live: a new alert in the bairro asked about reaches the list and the answer on the tick
    search.fill("Jardim Botânico")
    search.press("Enter")
    phone.wait_for_function(f"() => document.getElementById('{pids.BAIRRO_ANSWER}').textContent"
                            ".includes('Nenhum alerta para Jardim Botânico.')", timeout=15_000)
    AlertStore(store.redis).put([alert_record("a-jb", "firing", zone_id=JARDIM_BOTANICO, severity="critical")])
    phone.wait_for_function(f"() => document.getElementById('{pids.BAIRRO_ANSWER}').textContent"
                            ".includes('1 alerta para Jardim Botânico')", timeout=20_000)
    assert "Crítico: Chuva forte em Jardim Botânico" in alerts.inner_text()
    assert alerts.inner_text().index("Jardim Botânico") < alerts.inner_text().index("Copacabana")  # worst first
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path="/tmp/public-phone.png", full_page=True)
    assert phone.offsite_requests == [] and phone.errors == [] and phone.csp_violations == []
    assert phone.dialogs == []


def test_the_phone_page_in_english_by_its_url(live, phone, store, rio_settings):
    write_city(store, rio_settings, rain_mm=2.0)
    AlertStore(store.redis).put([alert_record("a-copa", "firing", zone_id=COPACABANA)])
    phone.goto(f"{live.url}/public/?lang=en")
    phone.wait_for_function(MAP_READY, timeout=60_000)
    assert phone.evaluate("() => document.documentElement.lang") == "en"
    assert "Stage 1 of 5" in phone.locator(f"#{pids.STAGE}").inner_text()
    assert "Never cross a flooded street" in phone.locator(f"#{pids.ALERTS}").inner_text()
    assert "(rain gauge)" in phone.evaluate(GAUGE_HOVER) and "moderate: 2.0 mm/15 min" in phone.evaluate(GAUGE_HOVER)
    search = phone.locator(f"#{pids.BAIRRO_INPUT}")
    search.fill("copacabana")
    phone.locator(f"#{pids.BAIRRO_BUTTON}").click()
    phone.wait_for_function(f"() => document.getElementById('{pids.BAIRRO_ANSWER}').textContent"
                            ".includes('1 alert for Copacabana')", timeout=15_000)
    phone.locator("a[hreflang='pt-BR']").click()  # the language switch is a plain link
    phone.wait_for_function(f"() => (document.getElementById('{pids.STAGE}') || {{}}).textContent"
                            "?.includes('Estágio 1 de 5')", timeout=30_000)
    phone.wait_for_function(MAP_READY, timeout=60_000)
    assert "(pluviômetro)" in phone.evaluate(GAUGE_HOVER) and "moderada: 2,0 mm/15 min" in phone.evaluate(GAUGE_HOVER)
    assert phone.evaluate("() => document.cookie") == ""
    assert phone.context.cookies() == []
    assert phone.offsite_requests == [] and phone.errors == [] and phone.csp_violations == []
