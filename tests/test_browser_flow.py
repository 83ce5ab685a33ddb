"""A designer's rhythm in a real browser: typing ahead while a turn is being made, the clock
against what such a turn usually takes, and a queued message waiting when the turn before fails."""

from __future__ import annotations

import os
import re
import shutil
import time

from tests.conftest import ROOT
from tests.fake_gemini import google_error
from tests.test_browser import ARTIFACTS, StudioServer, browser, fake_env, open_studio, send  # noqa: F401
from tests.test_lifecycle import user_texts


def wait_until(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_two_messages_typed_ahead_go_in_order_each_editing_the_one_before(browser, fake, settings):  # noqa: F811
    delays = iter([10, 3, 3])
    fake.during_call = lambda body: time.sleep(next(delays, 0))
    server = StudioServer(fake_env(settings)).start()
    try:
        page = open_studio(browser, server.url, height=1400)
        send(page, "a red bicycle on a beach")
        page.get_by_text("Generating…").wait_for(timeout=30_000)
        page.get_by_text(re.compile(r"^\d+ s so far")).wait_for(timeout=10_000)  # the clock runs in the browser
        send(page, "make it blue")
        page.get_by_text(re.compile(r"^Queued \(next\)")).wait_for(timeout=15_000)
        send(page, "add a bell")
        page.get_by_text(re.compile(r"^Queued \(2nd\)")).wait_for(timeout=15_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "flow-queued.png"))
        wait_until(lambda: len(fake.requests) == 3, timeout=60)
        page.get_by_text("Result 3", exact=True).wait_for(timeout=30_000)
        page.wait_for_timeout(1200)
        page.screenshot(path=str(ARTIFACTS / "flow-landed.png"))
        assert page.get_by_text("Not sent").count() == 0
        assert page.get_by_text(re.compile(r"^Queued")).count() == 0
    finally:
        server.stop()
    assert [user_texts(r) for r in fake.requests] == [
        ["a red bicycle on a beach"],
        ["a red bicycle on a beach", "make it blue"],
        ["a red bicycle on a beach", "make it blue", "add a bell"],
    ]


def test_a_queued_message_is_edited_then_waits_with_its_choice_when_the_turn_before_fails(browser, fake, settings):  # noqa: F811
    fake.then(lambda request: (time.sleep(5), google_error(500, "INTERNAL", "The model broke."))[1])
    fake.then(*[lambda request: (time.sleep(0.1), google_error(500, "INTERNAL", "The model broke."))[1]] * 3)
    server = StudioServer(fake_env(settings)).start()
    try:
        page = open_studio(browser, server.url, height=1400)
        send(page, "a lighthouse")
        page.get_by_text("Generating…").wait_for(timeout=30_000)
        send(page, "make it stormy")
        page.get_by_text(re.compile(r"^Queued \(next\)")).wait_for(timeout=15_000)
        page.get_by_role("button", name="Edit").last.click()
        box = page.get_by_label("Edit the queued message")
        box.wait_for(timeout=10_000)
        box.fill("make it stormy at night")
        page.get_by_role("button", name="Save").click()
        page.get_by_text("make it stormy at night").wait_for(timeout=10_000)
        page.get_by_text(re.compile(r"The turn before it failed")).wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "flow-held.png"))
        sent_before = len(fake.requests)
        page.get_by_role("button", name="Send against the current version").click()
        page.get_by_text("Result 1", exact=True).wait_for(timeout=30_000)
    finally:
        server.stop()
    assert user_texts(fake.requests[-1]) == ["make it stormy at night"]
    assert len(fake.requests) == sent_before + 1


def test_after_edit_and_resend_the_chat_shows_one_branch_with_a_switcher(browser, fake, settings):  # noqa: F811
    server = StudioServer(fake_env(settings)).start()
    try:
        page = open_studio(browser, server.url, height=1400)
        for n, prompt in enumerate(["a bicycle", "make it blue"], start=1):
            send(page, prompt)
            page.get_by_text(f"Result {n}", exact=True).wait_for(timeout=30_000)
        page.get_by_role("button", name="Edit and resend from here").last.click()
        box = page.get_by_role("textbox", name="Your message").last
        box.fill("make it red")
        page.get_by_role("button", name="Send", exact=True).last.click()
        page.get_by_text("Result 3", exact=True).wait_for(timeout=30_000)
        page.get_by_text("2 / 2", exact=True).wait_for(timeout=15_000)
        chat = page.locator("[data-testid=stChatMessage]")
        page.wait_for_timeout(1000)
        assert chat.get_by_text("make it blue", exact=True).count() == 0  # not shown as if it came first
        page.screenshot(path=str(ARTIFACTS / "flow-switcher.png"))
        page.get_by_role("button", name="‹").click()
        page.get_by_text("1 / 2", exact=True).wait_for(timeout=15_000)
        chat.get_by_text("make it blue", exact=True).wait_for(timeout=15_000)
        assert chat.get_by_text("make it red", exact=True).count() == 0
        send(page, "add a bell")
        page.get_by_text("Result 4", exact=True).wait_for(timeout=30_000)
    finally:
        server.stop()
    assert user_texts(fake.requests[-1]) == ["a bicycle", "make it blue", "add a bell"]


def test_the_board_shows_large_versions_and_compares_four_side_by_side(browser, fake, settings):  # noqa: F811
    server = StudioServer(fake_env(settings)).start()
    try:
        page = open_studio(browser, server.url, height=1400)
        for n, prompt in enumerate(["a bicycle", "make it blue", "add a bell", "on a beach"], start=1):
            send(page, prompt)
            page.get_by_text(f"Result {n}", exact=True).wait_for(timeout=30_000)
        page.get_by_role("img", name=re.compile(r"Versions, .*version 4: on a beach")).wait_for(timeout=20_000)
        page.get_by_role("button", name="All versions…").click()
        dialog = page.get_by_role("dialog")
        card = dialog.locator(".st-key-version-card-1")
        card.wait_for(timeout=20_000)
        width = card.locator("img").first.evaluate("img => img.getBoundingClientRect().width")
        assert width >= 320, width  # large previews, not 160 px thumbnails
        for number in (1, 2, 3, 4):
            dialog.locator(f".st-key-version-card-{number}").get_by_text("Compare").click()
            page.wait_for_timeout(300)
        dialog.get_by_role("button", name="Compare the 4 ticked").click()
        compare = page.get_by_role("dialog")
        sides = compare.locator("[class*='st-key-cmp-side-']")
        compare.get_by_text("v4", exact=False).first.wait_for(timeout=20_000)
        deadline = time.monotonic() + 20
        while sides.count() < 4 and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert sides.count() == 4
        boxes = [sides.nth(i).bounding_box() for i in range(4)]
        assert boxes[3]["x"] + boxes[3]["width"] - boxes[0]["x"] > 900  # the dialog's full width
        page.wait_for_timeout(800)
        page.screenshot(path=str(ARTIFACTS / "flow-board-compare.png"))
    finally:
        server.stop()


def _background(page) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    colour = page.locator("[data-testid=stApp]").evaluate("e => getComputedStyle(e).backgroundColor")
    return tuple(int(n) for n in re.findall(r"\d+", colour)[:3])


def test_the_theme_follows_the_person_light_or_dark(browser, fake, settings):  # noqa: F811
    server = StudioServer(fake_env(settings)).start()
    try:
        dark = browser.new_page(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
        dark.goto(server.url)
        dark.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        send(dark, "a lighthouse at dusk")
        dark.get_by_text("Result 1", exact=True).wait_for(timeout=30_000)
        dark.wait_for_timeout(1000)
        assert sum(_background(dark)) < 200  # the studio does not pin a theme: dark for a dark system
        dark.screenshot(path=str(ARTIFACTS / "dark.png"))
        light = open_studio(browser, server.url)
        assert sum(_background(light)) > 600
    finally:
        server.stop()
    if os.environ.get("STUDIO_UPDATE_SCREENSHOT"):
        shutil.copy(ARTIFACTS / "dark.png", ROOT / "docs" / "dark.png")


def test_a_queue_waiting_survives_a_restart_and_offers_its_choice(browser, fake, settings):  # noqa: F811
    env = fake_env(settings)
    slow_once = {"left": 1}

    def slow(body):  # type: ignore[no-untyped-def]
        if slow_once["left"]:
            slow_once["left"] -= 1
            time.sleep(8)

    fake.during_call = slow
    server = StudioServer(env).start()
    try:
        page = open_studio(browser, server.url, height=1400)
        send(page, "a lighthouse in a storm")
        page.get_by_text("Generating…").wait_for(timeout=30_000)
        send(page, "add a boat")
        page.get_by_text(re.compile(r"^Queued \(next\)")).wait_for(timeout=15_000)
        url = page.url
        server.stop()  # killed while the model works on the turn the message waits for
        server = StudioServer(env).start()
        page.goto(url.replace(url.split("/?")[0], server.url))
        page.get_by_text(re.compile(r"The turn before it was interrupted")).wait_for(timeout=40_000)
        page.get_by_text("add a boat", exact=True).wait_for(timeout=10_000)  # the words are kept
        page.screenshot(path=str(ARTIFACTS / "flow-restart.png"))
        page.get_by_role("button", name="Send against the current version").click()
        page.get_by_text("Result", exact=False).first.wait_for(timeout=30_000)
    finally:
        server.stop()
    assert user_texts(fake.requests[-1]) == ["add a boat"]
