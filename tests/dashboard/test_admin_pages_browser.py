"""The Recipients page in a real headless Chromium: an admin fills the form (name, phone in the
national form, a bairro chosen from the city's zones), saves, and sees the recipient listed with
the phone masked. Screenshots kept as test artifacts (page-recipients.png, page-users.png)."""

from __future__ import annotations

from pathlib import Path

from browser_pages import desktop_page, needs_chromium, sign_in

from opscentre.core import operators
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.roles import Role
from opscentre.dashboard import ids

pytestmark = needs_chromium
PASSWORD = "a long test password"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def test_an_admin_adds_a_recipient_through_the_form_and_sees_it_listed(live, store, rio_settings):
    operators.add(store.redis, "admin.user", PASSWORD, Role.ADMIN)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with desktop_page() as page:
        sign_in(page, live.url, "admin.user", PASSWORD)
        page.goto(f"{live.url}/recipients")
        page.wait_for_selector(f"#{ids.RECIPIENT_SAVE}")
        page.fill(f"#{ids.RECIPIENT_NAME}", "Ana <b>Lima</b>")
        page.fill(f"#{ids.RECIPIENT_PHONE}", "(21) 98765-4321")
        zones = page.locator(f"#{ids.RECIPIENT_ZONES}")
        zones.click()
        page.keyboard.type("Copacabana")
        page.get_by_role("option", name="Copacabana", exact=True).click()
        page.keyboard.press("Escape")
        page.click(f"#{ids.RECIPIENT_SAVE}")
        row = page.locator(f"#{ids.RECIPIENTS_TABLE} tr.recipient-row")
        row.first.wait_for(timeout=30_000)
        page.locator(f"#{ids.RECIPIENT_RESULT}", has_text="+55 21 9****-**21").wait_for(timeout=30_000)
        assert row.count() == 1
        assert row.locator(".cell-name").inner_text() == "Ana <b>Lima</b>"  # text, never markup
        assert row.locator(".cell-phone").inner_text() == "+55 21 9****-**21"
        assert row.locator(".cell-where").inner_text() == "Copacabana"
        assert page.locator(f"#{ids.RECIPIENTS_TABLE} b").count() == 0
        page.screenshot(path=str(ARTIFACTS / "page-recipients.png"), full_page=True)
        page.goto(f"{live.url}/users")
        page.wait_for_selector(f"#{ids.USERS_TABLE} tr[data-user='admin.user']")
        page.screenshot(path=str(ARTIFACTS / "page-users.png"), full_page=True)
        assert not page.errors and not page.csp_violations and not page.offsite_requests
    (stored,) = RecipientStore(store.redis).list()
    assert stored.phone == "+5521987654321" and stored.zone_ids == (rio_settings.zones.find("Copacabana"),)
