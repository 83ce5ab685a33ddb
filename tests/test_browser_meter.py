"""The size meter reads the same before and after a restart with no turn between: it follows
what lands (as the money does), not only the page's last full run."""

from __future__ import annotations

import re

from tests.test_browser import ARTIFACTS, StudioServer, browser, fake_env, open_studio, send  # noqa: F401


def _meter(page) -> str:  # type: ignore[no-untyped-def]
    text = page.locator("[data-testid=stSidebar]").get_by_text(re.compile(r"^Next request ≈")).first
    text.wait_for(timeout=30_000)
    return text.inner_text().strip()


def test_the_meter_reads_the_same_before_and_after_a_restart(browser, fake, settings):  # noqa: F811
    env = fake_env(settings)
    server = StudioServer(env).start()
    try:
        page = open_studio(browser, server.url)
        send(page, "a red bicycle on a beach")
        page.get_by_text("Result 1").wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        after_one = _meter(page)
        send(page, "make it blue")
        page.get_by_text("Result 2").wait_for(timeout=30_000)  # landed in the live chat, no full run
        page.wait_for_timeout(2500)
        before = _meter(page)
        page.screenshot(path=str(ARTIFACTS / "browser-meter.png"))
        assert before != after_one  # the second exchange is in the next request now
        port = server.port
        server.stop()
        server = StudioServer(env, port=port).start()
        page.reload()
        page.get_by_text("Result 2").wait_for(timeout=30_000)
        assert _meter(page) == before
    finally:
        server.stop()
