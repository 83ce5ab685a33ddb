"""A public demo opened by two strangers, each in a browser context of their own (their own
localStorage, so their own visitor key), on a real key (the local fake of the route)."""

from __future__ import annotations

import re

from tests.fake_gemini import google_error
from tests.test_browser import ARTIFACTS, StudioServer, browser, fake_env, send  # noqa: F401

PROJECT = "projects/123456789012"


def visit(browser, url: str):  # type: ignore[no-untyped-def]  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url)
    return page


def test_two_visitors_see_only_their_own_work_share_nothing_and_pages_open_by_address(browser, fake, settings):  # noqa: F811
    env = {**fake_env(settings), "STUDIO_DEMO": "1", "STUDIO_LIMIT_TURNS_PER_MINUTE": "off"}
    server = StudioServer(env).start()
    try:
        a = visit(browser, server.url)
        # A real key and nothing featured: ideas in words, never the offline model's drawings.
        a.get_by_text("Ideas to start from").wait_for(timeout=60_000)
        assert "OFFLINE" not in a.inner_text("body") and "Try it" not in a.inner_text("body")
        a.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        # The demo's one running turn: no Takes to choose from.
        assert a.get_by_text("Takes").count() == 0
        send(a, "a secret lighthouse")
        a.get_by_text("Result 1").wait_for(timeout=60_000)
        a.wait_for_function("() => location.search.includes('session=')")
        mine = a.url
        # An upstream 400 that names the base URL and a Google project: neither reaches the page.
        fake.then(google_error(400, "INVALID_ARGUMENT", f"Bad request to {settings.base_url} for {PROJECT}"))
        send(a, "make it stormy")
        a.get_by_text(re.compile(r"Reference [A-Z0-9]{6}")).first.wait_for(timeout=60_000)
        body = a.inner_text("body")
        (ARTIFACTS / "demo-error.txt").write_text(body)
        assert settings.base_url not in body and "123456789012" not in body and PROJECT not in body
        a.screenshot(path=str(ARTIFACTS / "demo-error.png"), full_page=True)
        # A's Conversations: no team tab, no share control.
        a.goto(f"{server.url}/conversations")
        try:
            a.get_by_role("tab", name="Mine").wait_for(timeout=30_000)
        except Exception:
            a.screenshot(path=str(ARTIFACTS / "demo-conversations-failed.png"), full_page=True)
            (ARTIFACTS / "demo-conversations-failed.txt").write_text(a.inner_text("body"))
            raise
        a.get_by_text("a secret lighthouse").first.wait_for(timeout=30_000)
        assert a.get_by_role("tab", name="Shared with the team").count() == 0
        assert a.get_by_role("button", name="Share").count() == 0
        assert a.get_by_text("Create a read-only link").count() == 0
        a.screenshot(path=str(ARTIFACTS / "demo-conversations.png"), full_page=True)

        b = visit(browser, f"{server.url}/gallery")  # typed into the address bar
        b.get_by_role("heading", name="Gallery").wait_for(timeout=60_000)
        b.get_by_text("No images yet.").wait_for(timeout=30_000)
        assert "a secret lighthouse" not in b.inner_text("body")
        b.reload()  # and on reload
        try:
            b.get_by_role("heading", name="Gallery").wait_for(timeout=60_000)
        except Exception:
            b.screenshot(path=str(ARTIFACTS / "demo-reload-failed.png"), full_page=True)
            (ARTIFACTS / "demo-reload-failed.txt").write_text(b.url + "\n" + b.inner_text("body"))
            raise
        b.screenshot(path=str(ARTIFACTS / "demo-gallery-by-address.png"), full_page=True)
        b.goto(f"{server.url}/conversations")
        b.get_by_text("No conversations yet.").wait_for(timeout=60_000)
        assert "a secret lighthouse" not in b.inner_text("body")
        assert b.get_by_role("tab", name="Shared with the team").count() == 0
        b.goto(f"{server.url}/usage")
        b.get_by_role("heading", name="Usage").wait_for(timeout=60_000)
        assert "a secret lighthouse" not in b.inner_text("body")
        b.goto(mine)  # A's conversation by its link
        b.get_by_text(re.compile("If someone sent you this link")).wait_for(timeout=60_000)
        assert "a secret lighthouse" not in b.inner_text("body")
    finally:
        server.stop()


def test_an_admin_features_a_conversation_and_a_visitor_takes_it_up_with_an_exact_replay(browser, fake, settings):  # noqa: F811
    env = {
        **fake_env(settings),
        "STUDIO_DEMO": "1",
        "STUDIO_TRUSTED_USER_HEADER": "X-Forwarded-Email",
        "STUDIO_ADMINS": "boss@example.com",
        "STUDIO_LIMIT_TURNS_PER_MINUTE": "off",
    }
    server = StudioServer(env).start()
    try:
        boss_context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, extra_http_headers={"X-Forwarded-Email": "boss@example.com"}
        )
        boss = boss_context.new_page()
        boss.goto(server.url)
        boss.wait_for_selector("[data-testid=stChatInput] textarea", timeout=60_000)
        send(boss, "a lighthouse on a cliff")
        boss.get_by_text("Result 1").wait_for(timeout=60_000)
        send(boss, "at dusk")
        boss.get_by_text("Result 2").wait_for(timeout=60_000)
        boss.goto(f"{server.url}/conversations")
        boss.get_by_role("tab", name="Shared with the team").wait_for(timeout=60_000)  # staff keep the team
        boss.get_by_role("button", name="Feature as example").first.click()
        boss.get_by_role("button", name="Unfeature").first.wait_for(timeout=30_000)
        boss.screenshot(path=str(ARTIFACTS / "demo-feature.png"), full_page=True)

        guest = visit(browser, server.url)  # no header: a visitor
        guest.get_by_text("Try an example").wait_for(timeout=60_000)
        guest.screenshot(path=str(ARTIFACTS / "demo-featured-start.png"), full_page=True)
        guest.get_by_text("at dusk").wait_for(timeout=30_000)
        guest.wait_for_timeout(1000)
        guest.screenshot(path=str(ARTIFACTS / "demo-featured-start.png"), full_page=True)
        guest.get_by_role("button", name="Try it").first.click()
        guest.get_by_text("Copy of a lighthouse on a cliff").first.wait_for(timeout=60_000)
        guest.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        send(guest, "with a storm")
        guest.get_by_text("Result 3").wait_for(timeout=60_000)
        assert guest.get_by_role("tab", name="Shared with the team").count() == 0
    finally:
        server.stop()
    contents = fake.requests[-1]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    # The admin's two answers, replayed exactly as received (signatures and all).
    import json

    assert [json.dumps(c) for c in contents if c["role"] == "model"] == [json.dumps(c) for c in fake.issued[:2]]
