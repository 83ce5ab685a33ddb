"""An SQLite file that refuses writes when the studio starts, in a real browser: no error page,
a plain notice, the words sent meanwhile kept in the box, and the page back by itself (no
restart, no reload) once the file takes writes again; the kept words then go."""

from __future__ import annotations

import time

from core.storage.store import Store
from tests.test_browser import ARTIFACTS, StudioServer, browser, fake_env, open_studio, send  # noqa: F401
from tests.test_browser_outage import BOX, _box_says, _no_error_page
from tests.test_sqlite_unwritable import unwritable

NOTICE = "The studio cannot"


def test_a_file_that_refuses_writes_at_start_up_then_takes_them(browser, fake, settings, tmp_path):  # noqa: F811
    database = tmp_path / "studio.db"
    url = f"sqlite:///{database}"
    Store(url).engine.dispose()  # made and migrated, as a studio that ran before
    env = {**fake_env(settings, url), "STUDIO_SPOOL_DIR": str(tmp_path / "spool")}
    server = StudioServer(env)
    try:
        with unwritable(database):
            server.start()
            page = open_studio(browser, server.url)
            page.get_by_text(NOTICE).first.wait_for(timeout=15_000)
            _no_error_page(page)
            assert "sqlite" not in page.inner_text("body").lower()
            # What is wrong, said plainly: the file, and what to check.
            page.get_by_text(f"cannot write its database file {database}").first.wait_for(timeout=15_000)
            send(page, "a kite over the dunes")
            page.get_by_text(NOTICE).first.wait_for(timeout=15_000)
            _box_says(page, "a kite over the dunes")
            _no_error_page(page)
            page.screenshot(path=str(ARTIFACTS / "browser-sqlite-unwritable.png"), full_page=True)
            time.sleep(3)  # it keeps waiting while the file refuses
            _box_says(page, "a kite over the dunes")
        page.get_by_text(NOTICE).first.wait_for(state="detached", timeout=30_000)
        _box_says(page, "a kite over the dunes")
        page.locator(BOX).focus()
        page.keyboard.press("Enter")
        page.get_by_text("Result 1").wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "browser-sqlite-writable-again.png"), full_page=True)
    finally:
        server.stop()
    assert len(fake.requests) == 1
    texts = [p.get("text") for m in fake.requests[0]["contents"] if m["role"] == "user" for p in m["parts"]]
    assert texts == ["a kite over the dunes"]
