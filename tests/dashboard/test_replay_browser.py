"""Replay in a real headless Chromium: the slider moved back two hours with the keyboard shows the
stage as it was then, says it is replaying, and Back to live returns the live stage."""

from __future__ import annotations

from pathlib import Path

from browser_pages import desktop_page, needs_chromium, sign_in
from test_replay_http import PASSWORD, history  # noqa: F401 (the fixture: three hours of stored history)

from opscentre.dashboard import ids

pytestmark = needs_chromium
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def stage_badge(page) -> str:
    return page.locator(f"#{ids.STATUS_BAR} .stage-badge").inner_text()


def test_the_slider_two_hours_back_shows_the_stage_then_and_back_to_live_the_stage_now(live, history):  # noqa: F811
    with desktop_page() as page:
        sign_in(page, live.url, "viewer.user", PASSWORD)
        assert "1" in stage_badge(page)
        handle = page.locator(f"#{ids.REPLAY_SLIDER} [role=slider]")
        handle.focus()
        for _ in range(24):  # 24 × 5 min
            page.keyboard.press("ArrowLeft")
        page.wait_for_function(f"() => document.getElementById('{ids.REPLAY_LABEL}').className.includes('replaying')",
                               timeout=20_000)
        page.wait_for_function(f"() => document.querySelector('#{ids.STATUS_BAR} .stage-badge')"
                               ".textContent.includes('3')", timeout=20_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "replay-two-hours-back.png"))
        page.click(f"#{ids.REPLAY_LIVE}")
        page.wait_for_function(f"() => !document.getElementById('{ids.REPLAY_LABEL}').className.includes('replaying')",
                               timeout=20_000)
        page.wait_for_function(f"() => document.querySelector('#{ids.STATUS_BAR} .stage-badge')"
                               ".textContent.includes('1')", timeout=20_000)
        assert page.errors == [] and page.offsite_requests == [] and page.csp_violations == []
