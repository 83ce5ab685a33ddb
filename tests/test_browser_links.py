"""Every link the studio prints, copies or documents opens with no "Page not found" dialog: first
thing on a freshly started server, in a tab left open across a restart, and for someone who signs
in first (through a proxy or an OIDC provider) and then lands on the link."""

from __future__ import annotations

from core.service import StudioService
from core.team.people import LOCAL_EMAIL, User
from tests.test_browser import (  # noqa: F401 - the browser fixture
    ARTIFACTS,
    StudioServer,
    _sidebar_links,
    browser,
    fake_env,
    free_port,
    open_studio,
    send,
)

NAV = ["Studio", "Conversations", "Gallery", "Inbox", "Brand kit", "Usage"]
DIALOG = "Page not found"
CHAT_INPUT = "[data-testid=stChatInput] textarea"


def _settled_without_dialog(page, expected: str, link: str) -> None:  # type: ignore[no-untyped-def]
    """The page shows what the link is for, and a moment later still no dialog (Streamlit sends
    its page-not-found message before the page's own elements)."""
    if expected.startswith("["):
        shown = page.locator(expected)
    elif expected.startswith("h1:"):
        shown = page.locator("h1", has_text=expected[3:])
    else:
        shown = page.get_by_text(expected)
    shown.first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    assert page.get_by_text(DIALOG).count() == 0, f"{link} opened under Streamlit's 'Page not found' dialog"
    assert page.locator("[role=dialog]").count() == 0, link


def test_every_kind_of_link_opens_cleanly_on_a_fresh_server_and_after_a_restart(browser, fake, settings):  # noqa: F811
    env = fake_env(settings)
    server = StudioServer(env).start()
    try:
        page = open_studio(browser, server.url)
        send(page, "a blue door")
        page.get_by_text("Result 1").wait_for(timeout=30_000)
        page.wait_for_function("() => location.search.includes('session=')")
        session = page.url.split("session=")[1]
        svc = StudioService.from_settings(settings).as_user(User(email=LOCAL_EMAIL, name="you", is_admin=True))
        token = svc.create_link(session)
        # The share link exactly as the Conversations page prints it.
        page.goto(f"{server.url}/conversations")
        page.locator("[data-testid=stPopover] button").filter(has_text="Share").first.click()
        printed = page.locator("[data-testid=stCode] code").first.inner_text().strip()
        assert printed == f"{server.url}/studio?share={token}"
        page.close()

        links = [
            (f"/studio?session={session}", "Result 1"),
            (f"/?session={session}", "Result 1"),
            (f"/studio?share={token}", "Result 1"),
            (f"/?share={token}", "Result 1"),
            ("/studio", CHAT_INPUT),
            ("/", CHAT_INPUT),
            ("/conversations", "a blue door"),
            ("/gallery", "a blue door"),
            ("/usage", "By day"),
            ("/inbox", "h1:Inbox"),
            ("/kit", "h1:Brand kit"),
        ]
        port = server.port
        for link, expected in links:
            server.stop()
            server = StudioServer(env, port=port).start()  # each link, first thing on a fresh server
            fresh = browser.new_page(viewport={"width": 1300, "height": 900})
            fresh.goto(server.url + link)
            _settled_without_dialog(fresh, expected, link)
            assert _sidebar_links(fresh) == NAV, link
            if link.startswith("/studio?"):
                fresh.screenshot(path=str(ARTIFACTS / "browser-links-fresh.png"))
            # The same tab across a restart: it reconnects and finds its page again by hash.
            if link in (f"/studio?session={session}", f"/?session={session}", "/gallery"):
                server.stop()
                server = StudioServer(env, port=port).start()
                fresh.wait_for_timeout(4000)
                _settled_without_dialog(fresh, expected, f"{link} after a restart")
                assert _sidebar_links(fresh) == NAV, link
            fresh.close()
    finally:
        server.stop()


def test_someone_not_signed_in_behind_a_proxy_signs_in_and_lands_on_the_shared_link(browser, fake, settings):  # noqa: F811
    env = {**fake_env(settings), "STUDIO_TRUSTED_USER_HEADER": "X-Forwarded-Email", "STUDIO_ADMINS": ""}
    server = StudioServer(env).start()
    try:
        ann = browser.new_context(extra_http_headers={"X-Forwarded-Email": "ann@example.com"}).new_page()
        ann.goto(server.url)
        ann.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        send(ann, "a lighthouse at dusk")
        ann.get_by_text("Result 1").wait_for(timeout=30_000)
        ann.wait_for_function("() => location.search.includes('session=')")
        session = ann.url.split("session=")[1]
        svc = StudioService.from_settings(settings).as_user(User(email="ann@example.com", name="Ann"))
        token = svc.create_link(session)
        server.stop()
        server = StudioServer(env, port=server.port).start()

        context = browser.new_context()
        bob = context.new_page()
        link = f"{server.url}/studio?share={token}"
        bob.goto(link)  # nobody signed in yet, first thing on a fresh server
        _settled_without_dialog(bob, "nobody is signed in", "share link, not signed in")
        assert bob.get_by_text("lighthouse").count() == 0
        bob.screenshot(path=str(ARTIFACTS / "browser-links-refused.png"))
        assert bob.locator("[data-testid=stSidebarNav]").count() == 0  # nothing of the studio
        context.set_extra_http_headers({"X-Forwarded-Email": "bob@example.com"})  # the proxy signed him in
        bob.goto(link)
        _settled_without_dialog(bob, "Result 1", "share link, signed in")
        bob.get_by_role("button", name="Make a copy").click()  # not blocked by any dialog
        bob.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        assert bob.get_by_text(DIALOG).count() == 0
    finally:
        server.stop()


def test_someone_not_signed_in_signs_in_through_oidc_and_lands_on_the_link(browser, fake, settings, tmp_path):  # noqa: F811
    from tests.mock_oidc import CLIENT_ID, CLIENT_SECRET, MockOIDC

    port = free_port()
    with MockOIDC() as provider:
        secrets_file = tmp_path / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            'cookie_secret = "a-test-cookie-secret-of-some-length"\n'
            f'client_id = "{CLIENT_ID}"\n'
            f'client_secret = "{CLIENT_SECRET}"\n'
            f'server_metadata_url = "{provider.url}/.well-known/openid-configuration"\n'
        )
        args = ["--secrets.files", str(secrets_file)]
        server = StudioServer(fake_env(settings), port=port, args=args).start()
        try:
            ann = browser.new_context().new_page()
            ann.goto(server.url)
            ann.get_by_role("button", name="Sign in").click()
            ann.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
            send(ann, "a paper boat")
            ann.get_by_text("Result 1").wait_for(timeout=30_000)
            ann.wait_for_function("() => location.search.includes('session=')")
            session = ann.url.split("session=")[1]
            server.stop()
            server = StudioServer(fake_env(settings), port=port, args=args).start()

            page = browser.new_context().new_page()  # Ann on another machine: not signed in yet
            page.goto(f"{server.url}/studio?session={session}")
            _settled_without_dialog(page, "Sign in to use the studio", "a link, not signed in")
            assert page.get_by_text("paper boat").count() == 0
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"**/studio?session={session}", timeout=30_000)
            _settled_without_dialog(page, "Result 1", "the link, after signing in")
            assert page.get_by_text("Signed in as Ann").count() == 1
            page.screenshot(path=str(ARTIFACTS / "browser-links-after-sign-in.png"))
        finally:
            server.stop()


def test_a_forged_or_doubled_proxy_header_names_nobody_in_a_real_browser(browser, fake, settings):  # noqa: F811
    env = {
        **fake_env(settings),
        "STUDIO_TRUSTED_USER_HEADER": "X-Forwarded-Email",
        "STUDIO_TRUSTED_PROXY_SECRET": "only-the-proxy-knows",
        "STUDIO_ALLOWED_DOMAINS": "example.com",
    }
    server = StudioServer(env).start()
    try:
        for headers, expected in (
            ({"X-Forwarded-Email": "ann@example.com"}, "nobody is signed in"),  # straight to the port
            (
                {
                    "X-Forwarded-Email": "evil@evil.org, ann@example.com",
                    "X-Studio-Proxy-Secret": "only-the-proxy-knows",
                },
                "nobody is signed in",
            ),
            (
                {"X-Forwarded-Email": "ann@example.com", "X-Studio-Proxy-Secret": "only-the-proxy-knows"},
                "Signed in as",
            ),
        ):
            page = browser.new_context(extra_http_headers=headers).new_page()
            page.goto(server.url)
            page.get_by_text(expected).first.wait_for(timeout=30_000)
            assert page.get_by_text("only-the-proxy-knows").count() == 0
            page.context.close()
    finally:
        server.stop()


def test_a_tab_open_on_a_share_link_stops_showing_it_once_the_link_is_revoked(browser, fake, settings):  # noqa: F811
    env = {**fake_env(settings), "STUDIO_TRUSTED_USER_HEADER": "X-Forwarded-Email"}
    server = StudioServer(env).start()
    try:
        ann = browser.new_context(extra_http_headers={"X-Forwarded-Email": "ann@example.com"}).new_page()
        ann.goto(server.url)
        ann.wait_for_selector(CHAT_INPUT, timeout=30_000)
        send(ann, "a private sketch")
        ann.get_by_text("Result 1").wait_for(timeout=30_000)
        ann.wait_for_function("() => location.search.includes('session=')")
        session = ann.url.split("session=")[1]
        owner = StudioService.from_settings(settings).as_user(User(email="ann@example.com", name="Ann"))
        token = owner.create_link(session)
        bob = browser.new_context(extra_http_headers={"X-Forwarded-Email": "bob@example.com"}).new_page()
        bob.goto(f"{server.url}/studio?share={token}")
        _settled_without_dialog(bob, "Result 1", "share link")
        owner.revoke_link(session)
        # No reload: the open tab's next look at the conversation checks the link again.
        bob.get_by_text("does not work any more").wait_for(timeout=15_000)
        assert bob.get_by_text("Result 1").count() == 0
        assert bob.get_by_text("a private sketch").count() == 0
        bob.screenshot(path=str(ARTIFACTS / "browser-link-revoked.png"))
    finally:
        server.stop()
