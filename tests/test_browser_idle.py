"""An open tab while nothing happens: it shows what another process made without a reload, keeps
what is being typed, and a hidden tab stops asking the server until it is shown again."""

from __future__ import annotations

from core.config import load_settings
from core.service import StudioService
from tests.test_browser import ARTIFACTS, StudioServer, browser, open_studio  # noqa: F401

HIDE = """() => {
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
  document.dispatchEvent(new Event('visibilitychange'));
}"""
SHOW = """() => {
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_an_idle_tab_shows_what_another_process_made_and_a_hidden_tab_stops_asking(browser, tmp_path):  # noqa: F811
    database_url = f"sqlite:///{tmp_path / 'idle.db'}"
    maker = StudioService.from_settings(load_settings({"DATABASE_URL": database_url, "COMETAPI_KEY": ""}))
    conversation = maker.new_conversation(title="Idle")
    maker.send(conversation.id, "a red bicycle on a beach")
    server = StudioServer({"COMETAPI_KEY": "", "DATABASE_URL": database_url}).start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        sent: list[int] = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda _f: sent.append(1)))
        page.goto(f"{server.url}/?session={conversation.id}")
        page.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        page.wait_for_selector('[data-testid=stChatMessage] img[alt*="red bicycle"]', timeout=30_000)

        # Half a message typed, then a result made by another process lands: it shows, the words stay.
        page.fill("[data-testid=stChatInput] textarea", "half a thought")
        maker.send(conversation.id, "make it blue")
        page.wait_for_selector('[data-testid=stChatMessage] img[alt*="make it blue"]', timeout=15_000)
        assert page.input_value("[data-testid=stChatInput] textarea") == "half a thought"

        # A visible idle tab asks about once a second; a hidden one not at all.
        page.wait_for_timeout(1000)
        before = len(sent)
        page.wait_for_timeout(4000)
        visible_ticks = len(sent) - before
        assert visible_ticks >= 2

        page.evaluate(HIDE)
        page.wait_for_timeout(500)
        before = len(sent)
        maker.send(conversation.id, "add a bell")
        page.wait_for_timeout(4000)
        assert len(sent) == before, "a hidden tab kept asking the server"
        assert page.locator('[data-testid=stChatMessage] img[alt*="add a bell"]').count() == 0

        # Shown again, it catches up at once rather than at its next tick.
        page.evaluate(SHOW)
        page.wait_for_selector('[data-testid=stChatMessage] img[alt*="add a bell"]', timeout=5_000)
        assert page.input_value("[data-testid=stChatInput] textarea") == "half a thought"
        page.screenshot(path=str(ARTIFACTS / "idle-tab.png"))
    finally:
        server.stop()
        maker.close()


def test_a_dialog_open_in_an_idle_tab_stays_open_when_a_turn_lands(browser, tmp_path):  # noqa: F811
    """Two tabs on one conversation, one with All versions open, the other with Mark a region
    open: a result made by another process lands. Both dialogs stay as they were (a redraw of the
    chat must not close or reset them), and each tab shows the result once its dialog is closed."""
    database_url = f"sqlite:///{tmp_path / 'dialogs.db'}"
    maker = StudioService.from_settings(load_settings({"DATABASE_URL": database_url, "COMETAPI_KEY": ""}))
    conversation = maker.new_conversation(title="Dialogs")
    maker.send(conversation.id, "a red bicycle on a beach")
    maker.send(conversation.id, "make it blue")
    server = StudioServer({"COMETAPI_KEY": "", "DATABASE_URL": database_url}).start()
    try:
        tabs = []
        for opener in ("All versions…", "Mark a region…"):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{server.url}/?session={conversation.id}")
            page.wait_for_selector('[data-testid=stChatMessage] img[alt*="make it blue"]', timeout=30_000)
            page.get_by_role("button", name=opener).click()
            page.get_by_role("dialog").wait_for(timeout=20_000)
            tabs.append(page)
        board, marking = tabs
        board.get_by_role("dialog").locator(".st-key-version-card-2").wait_for(timeout=20_000)
        note = marking.get_by_role("dialog").get_by_role("textbox").first
        note.fill("make the sky pink")

        maker.send(conversation.id, "add a bell")
        for page in tabs:  # the chat behind the dialog is redrawn with the result; the dialog stays
            page.wait_for_selector(
                '[data-testid=stChatMessage] img[alt*="add a bell"]', state="attached", timeout=15_000
            )
            page.wait_for_timeout(1500)
            assert page.get_by_role("dialog").count() == 1, "a redraw closed the open dialog"
        assert note.input_value() == "make the sky pink", "a redraw reset the dialog's field"
        board.screenshot(path=str(ARTIFACTS / "idle-dialog.png"))
        for page in tabs:
            page.keyboard.press("Escape")
            page.get_by_role("dialog").wait_for(state="detached", timeout=10_000)
            page.wait_for_selector('[data-testid=stChatMessage] img[alt*="add a bell"]', timeout=10_000)
    finally:
        server.stop()
        maker.close()
