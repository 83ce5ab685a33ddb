"""In a real browser: offline demo calls are free, marked as such, and never held against a cap
(a person on the offline demo with a small daily cap still sends, and the Usage page says why)."""

from __future__ import annotations

from tests.test_browser import ARTIFACTS, StudioServer, browser, send  # noqa: F401 - the browser fixture


def test_offline_demo_calls_are_free_marked_and_never_refused_by_a_cap(browser, db_url):  # noqa: F811
    # A real call on this model costs about $0.04: two of them would break this cap.
    env = {"COMETAPI_KEY": "", "DATABASE_URL": db_url, "STUDIO_LIMIT_PERSON_DAY_USD": "0.01"}
    server = StudioServer(env).start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(server.url)
        page.get_by_text("Offline demo model").wait_for(timeout=30_000)
        for n, prompt in enumerate(["a red bicycle on a beach", "make it blue", "add a bell"], start=1):
            send(page, prompt)
            page.get_by_text(f"Here is turn {n}").wait_for(timeout=60_000)
        assert page.get_by_text("daily spending limit").count() == 0
        page.get_by_text("$0.00, offline demo (never billed)").first.wait_for(timeout=10_000)
        page.goto(f"{server.url}/usage")
        page.get_by_text("went to the offline demo model").wait_for(timeout=30_000)
        text = page.locator("[data-testid=stMain]").inner_text()
        assert "3 of these calls went to the offline demo model" in text
        assert "count against no limit" in text
        spent = page.locator("[data-testid=stMetric]").filter(has_text="Spent").first.inner_text()
        assert "$0.00" in spent
        page.screenshot(path=str(ARTIFACTS / "usage-offline.png"), full_page=True)
    finally:
        server.stop()
