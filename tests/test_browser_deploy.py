"""A deploy's SIGTERM in the middle of a call, as a person in the browser sees it: the tab says the
server is restarting, the call finishes and its answer is stored before the process exits, the
new process on the same address picks the tab up again, and the service was called once."""

from __future__ import annotations

import signal
import threading
import time

from core.service import StudioService
from core.values import TurnStatus
from tests.test_browser import ARTIFACTS, StudioServer, browser, fake_env, open_studio, send  # noqa: F401


def test_sigterm_mid_call_drains_tells_the_tab_and_the_answer_lands(browser, fake, settings):  # noqa: F811
    calling = threading.Event()

    def slow(_body) -> None:  # type: ignore[no-untyped-def]
        calling.set()
        time.sleep(8)

    fake.during_call = slow
    env = {**fake_env(settings), "STUDIO_DRAIN_S": "60"}
    old = StudioServer(env).start()
    new = None
    try:
        page = open_studio(browser, old.url)
        send(page, "a slow lighthouse at dusk")
        assert calling.wait(30)
        old.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        page.get_by_text("This server is restarting for an update").wait_for(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "draining.png"))
        # The process stops on its own once the answer is stored (well within the drain bound).
        assert old.process.wait(40) == 0  # type: ignore[union-attr]
        svc = StudioService.from_settings(settings)
        request = next(t for t in svc.store.conversation(svc.conversations()[0].id).turns if t.role == "user")
        assert request.status == TurnStatus.OK
        svc.close()
        # The new process on the same address: the open tab reconnects and shows the result.
        new = StudioServer(env, port=old.port).start()
        page.wait_for_selector('[data-testid=stChatMessage] img[alt*="slow lighthouse"]', timeout=30_000)
        assert len(fake.requests) == 1
    finally:
        old.process = None if old.process is None or old.process.poll() is not None else old.process
        old.stop()
        if new is not None:
            new.stop()
