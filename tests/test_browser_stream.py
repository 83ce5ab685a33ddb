"""STUDIO_STREAM=1 in a real browser (issue 18, item 2): while a streamed turn runs, its thought
summary and draft show under the progress clock before the answer lands, in the tab that sent it
and in a tab served by another process (the progress lives in the database, not in the caller)."""

from __future__ import annotations

import time

from tests.test_browser import ARTIFACTS, StudioServer, browser, fake_env, open_studio, send  # noqa: F401


def test_the_thought_summary_shows_before_the_answer_in_both_processes(browser, fake, settings):  # noqa: F811
    env = {**fake_env(settings), "STUDIO_STREAM": "1"}
    caller, watcher = StudioServer(env).start(), StudioServer(env).start()
    try:
        page = open_studio(browser, caller.url)
        send(page, "a lighthouse at dusk")
        page.get_by_text("Result 1").wait_for(timeout=30_000)
        page.wait_for_function("() => location.search.includes('session=')")
        link = page.url.replace(caller.url, watcher.url)
        other = open_studio(browser, link)  # another process serves this tab
        other.get_by_text("Result 1").wait_for(timeout=30_000)

        fake.stream_pause_s = 6.0  # the thought and the draft, then the model renders in silence
        sent = time.monotonic()
        send(page, "now at night")
        for tab in (page, other):
            tab.get_by_text("Thinking about turn 2").wait_for(state="visible", timeout=15_000)
            draft = tab.get_by_alt_text("A draft the model is sketching while it thinks")
            draft.wait_for(state="visible", timeout=5_000)
            assert tab.get_by_text("Result 2").count() == 0  # the answer has not landed yet
        shown = time.monotonic() - sent
        ARTIFACTS.mkdir(exist_ok=True)
        other.screenshot(path=str(ARTIFACTS / "browser-stream-watcher.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / "browser-stream.png"), full_page=True)
        assert len(fake.requests) == 2 and fake.stream_calls == 2

        for tab in (page, other):
            tab.get_by_text("Result 2").wait_for(timeout=30_000)
            # Landed: the live caption is gone; the thought stays only in the answer's Thinking.
            tab.get_by_text("Thinking about turn 2").wait_for(state="hidden", timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "browser-stream-landed.png"), full_page=True)
        print(f"thought shown {shown:.1f} s after sending (the answer came about 6 s after)")
    finally:
        caller.stop()
        watcher.stop()
    # The second request replayed the first streamed answer exactly (the strict fake checked it).
    assert [c["role"] for c in fake.requests[-1]["contents"]] == ["user", "model", "user"]
