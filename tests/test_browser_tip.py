"""In Chromium: a tab's message edits the version that tab showed. After Branch from here in
another tab, a message from a tab that still shows the old version is Not sent, with Send
again; sent again from the version it now shows, it carries exactly that branch."""

from __future__ import annotations

import time

from core.service import StudioService
from tests.test_browser import ARTIFACTS, StudioServer, browser, fake_env, open_studio, send  # noqa: F401

# A tab whose watch has not yet seen the change: the browser reports it hidden, so it stops
# ticking (ui/assets/watch.js), while its chat input still works.
FREEZE_WATCH = "Object.defineProperty(document, 'hidden', {get: () => true, configurable: true})"


def users(body) -> list[str]:  # type: ignore[no-untyped-def]
    return [c["parts"][0]["text"] for c in body["contents"] if c["role"] == "user"]


def test_a_tab_behind_a_branch_from_here_elsewhere_is_not_sent_then_sends_again(browser, fake, settings):  # noqa: F811
    server = StudioServer(fake_env(settings)).start()
    svc = StudioService.from_settings(settings)
    try:
        tab_a = open_studio(browser, server.url, height=1400)
        send(tab_a, "a bicycle")
        tab_a.get_by_text("Result 1", exact=True).wait_for(timeout=30_000)
        send(tab_a, "make it blue")
        tab_a.get_by_text("Result 2", exact=True).wait_for(timeout=30_000)
        tab_a.wait_for_function("() => location.search.includes('session=')")
        conversation_id = svc.conversations()[0].id
        tip_before = svc.store.tip(conversation_id)
        tab_a.evaluate(FREEZE_WATCH)
        tab_a.wait_for_timeout(1500)  # any tick already on its way has landed

        tab_b = open_studio(browser, tab_a.url, height=1400)
        tab_b.get_by_text("Result 2", exact=True).wait_for(timeout=30_000)
        tab_b.get_by_role("button", name="Branch from here").first.click()
        tab_b.get_by_text("Result 2", exact=True).wait_for(state="detached", timeout=20_000)
        first_answer = next(e.reply.id for e in svc.conversation(conversation_id).exchanges if e.reply)
        assert svc.store.tip(conversation_id) == first_answer != tip_before
        assert tab_a.get_by_text("Result 2", exact=True).count() == 1  # tab A still shows the blue one

        requests = len(fake.requests)
        send(tab_a, "add a bell")
        tab_a.get_by_text("Not sent").first.wait_for(timeout=20_000)
        tab_a.get_by_text("add a bell").first.wait_for(timeout=10_000)  # the words are kept
        assert len(fake.requests) == requests  # nothing went to an image tab A never saw
        held = [t for t in svc.conversation(conversation_id).turns if t.error_kind == "stale"]
        assert [t.text for t in held] == ["add a bell"]
        assert svc.store.tip(conversation_id) == first_answer  # the not-sent turn moved nothing
        tab_a.wait_for_timeout(500)
        tab_a.screenshot(path=str(ARTIFACTS / "browser-tip-not-sent.png"), full_page=True)

        # Tab A now shows the version B chose: Send again sends the words against it.
        tab_a.get_by_role("button", name="Send again").click()
        deadline = time.monotonic() + 30
        while len(fake.requests) == requests:
            assert time.monotonic() < deadline, "Send again sent nothing"
            time.sleep(0.1)
        assert users(fake.requests[-1]) == ["a bicycle", "add a bell"]
    finally:
        server.stop()
        svc.close()


def test_a_conversation_on_a_retired_model_opens_read_only_and_continues_on_its_successor(browser, fake, settings):  # noqa: F811
    svc = StudioService.from_settings(settings)
    conversation = svc.new_conversation("gemini-3.1-flash-image")
    svc.send(conversation.id, "a red bicycle")
    last = svc.send(conversation.id, "make it blue")
    svc.store.set_model(conversation.id, "gemini-3.1-flash-image-preview")  # made in May, on the preview id
    server = StudioServer(fake_env(settings)).start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(f"{server.url}/?session={conversation.id}")
        page.get_by_text("was retired on 25 June 2026").wait_for(timeout=30_000)
        assert page.locator("[data-testid=stChatInput]").count() == 0  # read-only
        assert page.get_by_role("button", name="Another take").count() == 0
        assert page.get_by_text("Next turn").count() == 0  # nothing to estimate: it cannot be sent
        page.get_by_text("was retired on 25 June 2026").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "browser-retired-model.png"))
        page.get_by_role("button", name="Continue on Nano Banana 2 (Gemini 3.1 Flash Image)").click()
        page.get_by_text("Continuing from").wait_for(timeout=20_000)
        send(page, "add a bell")
        page.get_by_text("Result 3", exact=True).wait_for(timeout=30_000)  # numbered after the fake's two
        page.screenshot(path=str(ARTIFACTS / "browser-retired-continued.png"), full_page=True)
    finally:
        server.stop()
    assert fake.paths[-1].startswith("/v1beta/models/gemini-3.1-flash-image:generateContent")
    sent = fake.requests[-1]["contents"]
    assert len(sent) == 1 and sent[0]["parts"][0]["text"] == "add a bell"
    assert any("inlineData" in p for p in sent[0]["parts"])  # the latest image went with it
    assert last.reply is not None
    svc.close()
