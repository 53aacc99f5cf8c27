"""The console's Incidents panel: per incident, its messages by channel and where they stand —
the pure model, the tick (one read, nothing sent when nothing changed), and in a real headless
Chromium signed in to the console, updating as deliveries are recorded."""

from __future__ import annotations

import random
import time
from zoneinfo import ZoneInfo

from browser_pages import launch, needs_chromium, watched
from dash import no_update

from opscentre.core import keys
from opscentre.core.alerting.incidents import Incident
from opscentre.core.notify import deliveries as dl
from opscentre.core.notify.deliveries import Event
from opscentre.core.notify.delivery_store import DeliveryStore
from opscentre.dashboard import ids
from opscentre.dashboard.components import incident_panel as ip

RIO_TZ = ZoneInfo("America/Sao_Paulo")
NOW = 1_765_110_000.0  # 7 Dec 2025 12:20 UTC, 09:20 in Rio


def incident(incident_id, zone_ids, severity="critical", opened_at=NOW - 25 * 60, resolved_at=None):
    return Incident(id=incident_id, severity=severity, zone_ids=zone_ids, fingerprints=[f"{incident_id}-a"],
                    opened_at=opened_at, updated_at=resolved_at or opened_at, resolved_at=resolved_at,
                    state="resolved" if resolved_at else "open")


def store_incidents(redis_client, *incidents):
    redis_client.hset(keys.INCIDENTS, mapping={i.id: i.model_dump_json() for i in incidents})


def messages(incident_id, channel, n, now):
    return [dl.new(notification_id=f"{incident_id}-opened", transition="opened", channel=channel,
                   recipient_id=f"{channel}-{i}", target_masked="+55 21 9****-**21", payload="Chuva forte", now=now,
                   incident_id=incident_id) for i in range(n)]


def settle(store, sms, hook, now):
    """What the notifier and the provider's receipts would record: 2 SMS delivered, 1 failed for
    good, 1 still waiting; every webhook delivered."""
    rng = random.Random(1)
    for d in sms[:3]:
        store.claim_for_send(d.id, now)
    for i, d in enumerate(sms[:2]):
        store.record(d.id, Event.ACCEPTED, now, provider_id=f"SM{i}")
        store.apply_receipt(f"SM{i}", "delivered", None, now)
    store.record(sms[2].id, Event.FAILED, now, rng=rng, error="invalid number", retryable=False, code="21211")
    for d in hook:
        store.claim_for_send(d.id, now)
        store.record(d.id, Event.DELIVERED, now)


def test_a_channel_line_counts_its_messages_then_says_where_they_stand():
    line = ip.channel_line("sms", {"delivered": 118, "undelivered": 1, "dead": 1, "queued": 3, "sent": 2})
    assert line == "SMS 125 · 118 delivered · 2 sent · 3 waiting · 2 failed"
    assert ip.channel_line("webhook", {"delivered": 3}) == "webhook 3 · 3 delivered"


def test_the_model_lists_open_incidents_worst_first_then_the_recently_resolved(rio_settings):
    zones = rio_settings.zones
    copacabana, leme, campo_grande = zones.find("Copacabana"), zones.find("Leme"), zones.find("Campo Grande")
    rows = [
        ("i-warn", incident("i-warn", [leme], "warning", opened_at=NOW - 600).model_dump(mode="json"), {}),
        ("i-crit", incident("i-crit", [copacabana, leme]).model_dump(mode="json"),
         {"webhook": {"delivered": 1}, "sms": {"delivered": 2, "dead": 1}}),
        ("i-done", incident("i-done", [campo_grande], "warning", opened_at=NOW - 7200,
                            resolved_at=NOW - 3600).model_dump(mode="json"), {"sms": {"delivered": 4}}),
        ("i-old", incident("i-old", [campo_grande], opened_at=NOW - 90000, resolved_at=NOW - 80000)
         .model_dump(mode="json"), {}),
    ]
    model = ip.panel_model(rows, zones.name_by_id, RIO_TZ, NOW)
    assert [r["id"] for r in model["rows"]] == ["i-crit", "i-warn", "i-done"]
    crit = model["rows"][0]
    assert crit["zones"] == "Copacabana, Leme" and crit["severity"] == "critical"
    assert crit["when"] == "opened 07 Dec 08:55 (UTC-03) · 25 min ago"  # the city's time zone
    assert crit["messages"] == ["SMS 3 · 2 delivered · 1 failed", "webhook 1 · 1 delivered"]
    assert model["rows"][1]["messages"] == ["no messages"]
    assert model["rows"][2]["when"] == "resolved 07 Dec 08:20 (UTC-03)" and not model["rows"][2]["open"]


def test_the_tick_sends_nothing_until_what_the_panel_shows_changes(redis_client, rio_settings):
    copacabana = rio_settings.zones.find("Copacabana")
    store_incidents(redis_client, incident("i-1", [copacabana], opened_at=time.time() - 60))
    panel = ip.IncidentPanel(redis_client, rio_settings.zones.name_by_id, rio_settings.tz)
    held = panel.initial()[1].data
    assert panel.tick(held) == (no_update, no_update)
    store = DeliveryStore(redis_client)
    store.add(messages("i-1", "sms", 2, time.time()))
    children, digest = panel.tick(held)
    assert digest != held and "SMS 2 · 2 waiting" in str(children)
    assert panel.tick(digest) == (no_update, no_update)


@needs_chromium
def test_operator_sees_each_incidents_messages_by_channel_update_live(live, redis_client, rio_settings, operator):
    from playwright.sync_api import sync_playwright

    zones = rio_settings.zones
    now = time.time()
    store_incidents(redis_client, incident("i-storm", [zones.find("Copacabana"), zones.find("Leme")], opened_at=now - 1500),
                    incident("i-heat", [zones.find("Campo Grande")], "warning", opened_at=now - 7200,
                             resolved_at=now - 1800))
    store = DeliveryStore(redis_client)
    sms, hook = messages("i-storm", "sms", 4, now), messages("i-storm", "webhook", 3, now)
    store.add([*sms, *hook])
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = watched(browser.new_page(viewport={"width": 1440, "height": 900}))
        page.goto(f"{live.url}/")
        page.fill("#username", operator[0])
        page.fill("#password", operator[1])
        page.click("button[type=submit]")
        page.wait_for_url(f"{live.url}/")
        panel = page.locator(f"#{ids.INCIDENT_PANEL}")
        panel.wait_for(timeout=60_000)
        storm = panel.locator("[data-incident=i-storm]")
        assert storm.locator(".incident-zones").inner_text() == "Copacabana, Leme"
        # (Rio's console speaks pt-BR, the city's language)
        assert "crítico" in storm.inner_text().lower() and "min" in storm.inner_text() and "há" in storm.inner_text()
        assert storm.locator(".incident-messages").all_inner_texts() == ["SMS 4 · 4 aguardando",
                                                                         "webhook 3 · 3 aguardando"]
        assert "resolvido" in panel.locator("[data-incident=i-heat]").inner_text()

        settle(store, sms, hook, time.time())  # the notifier sends, the receipts come back: the tick shows it
        page.wait_for_function(f"() => document.getElementById('{ids.INCIDENT_PANEL}').textContent"
                               ".includes('SMS 4 · 2 entregues · 1 aguardando · 1 com falha')", timeout=20_000)
        assert storm.locator(".incident-messages").all_inner_texts() == [
            "SMS 4 · 2 entregues · 1 aguardando · 1 com falha", "webhook 3 · 3 entregues"]
        page.screenshot(path="/tmp/incident-panel.png")
        found = page.offsite_requests, page.errors, page.csp_violations
        browser.close()
    assert found == ([], [], [])
