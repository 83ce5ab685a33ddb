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
