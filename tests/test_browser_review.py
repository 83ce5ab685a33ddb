"""Review in a real browser, two people behind an authenticating proxy: Bob comments on Ann's
shared version and mentions her; her Inbox counts it; she answers with the mention picker and
approves the version; Bob's Inbox and Gallery follow; Bob adds a logo to the brand kit and
attaches it to a message, and the request carries that image."""

from __future__ import annotations

import base64
import re
import time

from PIL import Image

from core.service import StudioService
from tests.test_browser import ARTIFACTS, StudioServer, _sidebar_links, browser, fake_env, send  # noqa: F401

PROXY = {"STUDIO_TRUSTED_USER_HEADER": "X-Forwarded-Email", "STUDIO_ADMINS": ""}


def person(browser, email: str, name: str):  # type: ignore[no-untyped-def]  # noqa: F811
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000},
        extra_http_headers={"X-Forwarded-Email": email, "X-Forwarded-User": name},
    )
    return context.new_page()


def sidebar_link(page, label: str, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """The sidebar's link whose label (what a person reads, after its icon) is exactly this,
    once it shows (the unread count changes with a rerun)."""
    deadline = time.monotonic() + timeout
    while True:
        labels = _sidebar_links(page)
        if label in labels:
            return page.locator("[data-testid=stSidebarNav] a").nth(labels.index(label))
        assert time.monotonic() < deadline, f"no {label!r} in the sidebar: {labels}"
        page.wait_for_timeout(500)


def close_dialog(page) -> None:  # type: ignore[no-untyped-def]
    """Close the open dialog; again if a rerun that was under way when it closed drew it anew."""
    for _ in range(5):
        dialog = page.get_by_role("dialog")
        if dialog.count() == 0:
            return
        page.wait_for_timeout(500)  # let the last click's rerun finish first
        if dialog.count():
            dialog.get_by_role("button", name="Close").click()
        page.wait_for_timeout(1000)
    assert page.get_by_role("dialog").count() == 0, "the dialog stays open"


def test_comment_mention_inbox_approve_gallery_and_the_brand_kit(browser, fake, settings, tmp_path):  # noqa: F811
    server = StudioServer({**fake_env(settings), **PROXY}).start()
    try:
        ann = person(browser, "ann@example.com", "Ann")
        ann.goto(server.url)
        ann.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        send(ann, "a poster with our logo")
        ann.get_by_text("Result 1").wait_for(timeout=30_000)
        send(ann, "make it gold")
        ann.get_by_text("Result 2").wait_for(timeout=30_000)
        ann.wait_for_function("() => location.search.includes('session=')")
        link = ann.url
        ann.goto(f"{server.url}/conversations")
        ann.locator("[data-testid=stPopover] button").filter(has_text="Share").first.click()
        ann.get_by_role("button", name="Share with the team").click()
        ann.wait_for_timeout(1000)

        # Bob comments on version 2, typing the mention.
        bob = person(browser, "bob@example.com", "Bob")
        bob.goto(link)
        bob.get_by_text("Result 2").wait_for(timeout=30_000)
        bob.get_by_role("button", name="Comment…").last.click()
        dialog = bob.get_by_role("dialog")
        dialog.get_by_label("Comment", exact=True).fill("@ann make the logo bigger")
        dialog.get_by_role("button", name="Post comment").click()
        dialog.get_by_text("Comment posted.").wait_for(timeout=15_000)
        dialog.get_by_text("@ann make the logo bigger").first.wait_for(timeout=10_000)
        close_dialog(bob)

        # Ann's Inbox: counted in the sidebar, listed, and Open goes to that version.
        ann.goto(f"{server.url}/gallery")
        sidebar_link(ann, "Inbox (1)")
        sidebar_link(ann, "Inbox (1)").click()
        ann.get_by_text("@ann make the logo bigger").wait_for(timeout=30_000)
        ann.get_by_text("1 unread").wait_for(timeout=10_000)
        ann.screenshot(path=str(ARTIFACTS / "browser-review-inbox.png"), full_page=True)
        ann.get_by_role("button", name="Open").first.click()
        ann.get_by_text("Result 2").wait_for(timeout=30_000)
        sidebar_link(ann, "Inbox")  # read now

        # Ann answers, mentioning Bob with the picker, and approves version 2.
        ann.get_by_role("button", name=re.compile("Review · 1 comment")).click()
        dialog = ann.get_by_role("dialog")
        dialog.get_by_text("@ann make the logo bigger").wait_for(timeout=15_000)
        dialog.get_by_label("Comment", exact=True).fill("done, see v2")
        dialog.locator("[data-testid=stSelectbox]").click()
        ann.get_by_role("option", name="Bob (bob@example.com)").click()
        box = dialog.get_by_label("Comment", exact=True)
        ann.wait_for_function("el => el.value.includes('@bob@example.com')", arg=box.element_handle(), timeout=10_000)
        dialog.get_by_role("button", name="Post comment").click()
        dialog.get_by_text("Comment posted.").wait_for(timeout=15_000)
        dialog.locator("[data-testid=stRadio] label").filter(has_text="Approved").click()
        dialog.locator("[data-testid=stMarkdownContainer]").filter(has_text=re.compile("^Approved$")).first.wait_for(
            timeout=15_000
        )
        ann.screenshot(path=str(ARTIFACTS / "browser-review-dialog.png"), full_page=True)
        close_dialog(ann)
        chat_badge = ann.locator("[data-testid=stChatMessage] [data-testid=stMarkdownContainer]")
        chat_badge.filter(has_text=re.compile("Approved$")).first.wait_for(timeout=15_000)

        # Bob: a mention and a status change in his Inbox; the Gallery's Approved filter.
        bob.goto(f"{server.url}/gallery")
        sidebar_link(bob, "Inbox (2)").click()
        bob.get_by_text("done, see v2 @bob@example.com").wait_for(timeout=30_000)  # Ann's mention
        bob.get_by_text(re.compile("changed a status where you commented")).wait_for(timeout=10_000)
        bob.get_by_text("v2: approved").wait_for(timeout=10_000)
        bob.goto(f"{server.url}/gallery")
        opens = bob.get_by_role("link", name=re.compile("Open$"))
        opens.nth(1).wait_for(timeout=30_000)
        assert opens.count() == 2
        bob.locator("[data-testid=stCheckbox]").filter(has_text="Approved").click()
        bob.get_by_text("a poster with our logo").wait_for(state="detached", timeout=15_000)
        bob.get_by_text("make it gold").wait_for(timeout=10_000)
        assert opens.count() == 1
        bob.screenshot(path=str(ARTIFACTS / "browser-review-gallery-approved.png"), full_page=True)

        # Bob adds the logo to the brand kit, then attaches it to a message of his own.
        logo = tmp_path / "logo.png"
        Image.new("RGB", (300, 120), (20, 90, 200)).save(logo)
        sidebar_link(bob, "Brand kit").click()
        bob.get_by_text("Add to the kit").wait_for(timeout=30_000)
        bob.set_input_files("[data-testid=stFileUploader] input[type=file]", str(logo))
        bob.get_by_label("Name", exact=True).fill("Logo")
        bob.get_by_label("Tags (comma-separated)").fill("logo, brand")
        bob.get_by_test_id("stForm").get_by_text("logo.png").wait_for(timeout=15_000)
        bob.get_by_test_id("stBaseButton-primaryFormSubmit").click()
        bob.locator("[data-testid=stImage]").first.wait_for(timeout=30_000)
        # A prompt preset with a placeholder, added on the same page, filled in beside the chat input.
        bob.get_by_role("tab", name="Prompt presets").click()
        bob.get_by_label("Preset name").fill("Mug shot")
        bob.get_by_label("Words").fill("a mug with {thing}")
        bob.get_by_role("button", name="Add preset").click()
        bob.get_by_text("a mug with {thing}").wait_for(timeout=15_000)
        bob.goto(server.url)
        bob.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        bob.get_by_role("button", name="Brand kit").click()
        bob.locator("[data-testid=stMultiSelect]").click()
        bob.get_by_role("option", name=re.compile("^Logo")).click()
        bob.get_by_label("Prompt preset").click()
        bob.get_by_role("option", name="Mug shot").click()
        bob.get_by_label("thing", exact=True).fill("our logo")
        bob.get_by_role("button", name="Insert into the message").click()
        box = bob.locator("[data-testid=stChatInput] textarea")
        bob.wait_for_function("el => el.value === 'a mug with our logo'", arg=box.element_handle(), timeout=15_000)
        bob.keyboard.press("Escape")
        bob.get_by_text(re.compile("With your next message.*Logo")).wait_for(timeout=15_000)
        box.click()
        bob.wait_for_selector("[data-testid=stChatInputSubmitButton]:not([disabled])", timeout=30_000)
        bob.keyboard.press("Enter")
        bob.get_by_text("Result 3").wait_for(timeout=30_000)
        bob.locator("[data-testid=stChatMessage] [data-testid=stImage]").first.wait_for(timeout=15_000)
        bob.screenshot(path=str(ARTIFACTS / "browser-review-kit.png"), full_page=True)
    except Exception:
        for name, page in (("ann", locals().get("ann")), ("bob", locals().get("bob"))):
            if page is not None:
                page.screenshot(path=str(ARTIFACTS / f"browser-review-failed-{name}.png"), full_page=True)
        raise
    finally:
        server.stop()
    svc = StudioService.from_settings(settings)
    item = svc.review.kit.items()[0]
    kit_bytes = svc.images.data(item.image_hash)
    sent = [p for p in fake.requests[-1]["contents"][-1]["parts"] if "inlineData" in p]
    assert [base64.b64decode(p["inlineData"]["data"]) for p in sent] == [kit_bytes]
    assert fake.requests[-1]["contents"][-1]["parts"][0]["text"] == "a mug with our logo"
