"""PostgreSQL stopped for 30 s with turns out and a message being sent, in a real browser: the
page says so in a plain sentence (no error page), the words stay in the box, both answers the
service gave land once it is back, and the page comes back by itself."""

from __future__ import annotations

import json
import re
import threading
import time

from sqlalchemy import select

from core.config import load_settings
from core.service import StudioService
from core.storage.schema import LedgerRow
from tests.fake_gemini import image_bytes
from tests.test_browser import ARTIFACTS, StudioServer, browser, fake_env, open_studio, send  # noqa: F401
from tests.test_outage import private_postgres  # noqa: F401 - the fixture

DOWN_S = 30.0
BOX = "[data-testid=stChatInput] textarea"
NOTICE = "The studio cannot reach its database"
FIRST_TWO = re.compile(r"^Result [12]$")


def _box_says(page, text: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "([sel, text]) => document.querySelector(sel) && document.querySelector(sel).value === text",
        arg=[BOX, text],
        timeout=30_000,
    )


def _no_error_page(page) -> None:  # type: ignore[no-untyped-def]
    body = page.inner_text("body")
    assert "This app has encountered an error" not in body
    assert "Traceback" not in body and "OperationalError" not in body


def test_database_stopped_30s_with_turns_out(browser, fake, settings, private_postgres, tmp_path):  # noqa: F811
    server, url = private_postgres
    env = {
        **fake_env(settings, url),
        "STUDIO_SPOOL_DIR": str(tmp_path / "spool"),
        "STUDIO_READ_TIMEOUT_S": "60",
    }
    out, release = threading.Event(), threading.Event()

    def during_call(_body):  # type: ignore[no-untyped-def]
        if len(fake.requests) >= 2:
            out.set()
        assert release.wait(90)

    fake.during_call = during_call
    a, b = StudioServer(env).start(), StudioServer(env).start()
    try:
        tab_a = open_studio(browser, a.url)
        tab_b = open_studio(browser, b.url)
        send(tab_a, "a lighthouse at night")
        send(tab_b, "a red bicycle on a beach")
        for tab in (tab_a, tab_b):
            tab.get_by_text("Generating…").wait_for(timeout=30_000)
        assert out.wait(30)

        server.stop()
        stopped = time.monotonic()
        release.set()  # the service answers (and bills) both while the database is down
        fake.during_call = None

        # The running turn's tab says why nothing moves, in words, within a few seconds.
        tab_a.get_by_text(NOTICE).first.wait_for(timeout=15_000)
        _no_error_page(tab_a)
        # A message sent now: the page says so, and the words are in the box again.
        ship = tmp_path / "ship.png"
        ship.write_bytes(image_bytes((48, 32), (20, 40, 200)))
        send(tab_a, "add a ship on the horizon", attachment=ship)
        # Kept by the tab: the image listed under the box, the words back in it.
        tab_a.get_by_text("Kept from your message: ship.png").wait_for(timeout=15_000)
        tab_a.get_by_text(NOTICE).first.wait_for(timeout=15_000)
        _box_says(tab_a, "add a ship on the horizon")
        _no_error_page(tab_a)
        tab_a.screenshot(path=str(ARTIFACTS / "browser-outage-down.png"), full_page=True)
        tab_b.get_by_text(NOTICE).first.wait_for(timeout=15_000)
        _no_error_page(tab_b)

        time.sleep(max(0.0, DOWN_S - (time.monotonic() - stopped)))
        server.start()

        # Back by itself: no reload, both answers landed, the words still in the box.
        # Both answers were released at once: which is "Result 1" and which "Result 2" is a race.
        tab_a.get_by_text(FIRST_TWO).wait_for(timeout=60_000)
        tab_b.get_by_text(FIRST_TWO).wait_for(timeout=60_000)
        tab_a.get_by_text(NOTICE).first.wait_for(state="detached", timeout=30_000)
        _box_says(tab_a, "add a ship on the horizon")
        tab_a.screenshot(path=str(ARTIFACTS / "browser-outage-back.png"), full_page=True)
        assert "interrupted" not in tab_a.inner_text("body").lower()

        tab_a.locator(BOX).focus()
        tab_a.keyboard.press("Enter")
        tab_a.get_by_text("Result 3").wait_for(timeout=30_000)  # the fake numbers its answers
    finally:
        release.set()
        for process in (a, b):
            process.stop()

    assert len(fake.requests) == 3  # nothing was sent twice; the held message went once
    third = fake.requests[2]
    texts = [p.get("text") for m in third["contents"] if m["role"] == "user" for p in m["parts"] if "text" in p]
    assert texts == ["a lighthouse at night", "add a ship on the horizon"]
    last_user = [m for m in third["contents"] if m["role"] == "user"][-1]
    assert any("inlineData" in p for p in last_user["parts"])  # the image kept during the outage went too
    # The answer stored during the outage is replayed exactly as the service gave it.
    (model_turn,) = [m for m in third["contents"] if m["role"] == "model"]
    assert json.dumps(model_turn) in {json.dumps(m) for m in fake.issued[:2]}
    # Billed once each, with the real cost: none interrupted, none twice.
    service = StudioService.from_settings(load_settings(env))
    with service.store.read() as db:
        rows = db.execute(
            select(LedgerRow.turn_id, LedgerRow.outcome, LedgerRow.cost_micro).where(LedgerRow.outcome != "retried")
        ).all()
    assert sorted(r.outcome for r in rows) == ["ok"] * 3
    assert len({r.turn_id for r in rows}) == 3 and all(r.cost_micro is not None for r in rows)
