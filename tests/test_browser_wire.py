"""Model and thought text never load what they name: a Markdown image in an answer fetches
nothing (no request to the tracker, no <img> with its address), a link shows its real address as
text; and the studio works under the Content-Security-Policy the README gives a reverse proxy."""

from __future__ import annotations

import base64
import re

import pytest

from tests.conftest import ROOT
from tests.fake_gemini import image_bytes
from tests.test_browser import ARGS, ARTIFACTS, CHROMIUM, StudioServer, fake_env, send, sync_playwright

TRACKER = "tracker.example"
PHISH = "phish.example"
ANSWER = (
    "Here is your lighthouse. ![pixel](//tracker.example/pixel.png) "
    '![alt](https://tracker.example/a.gif "t") [Sign in again](//phish.example/login) and '
    "<img src='//tracker.example/raw.png'> ![ref][r]\n\n[r]: //tracker.example/ref.png"
)
THOUGHT = "Planning. ![draft](//tracker.example/thought.png) [docs](https://phish.example/docs)"


@pytest.fixture
def browser():
    # A page whose document Playwright fulfils (to add the proxy's header) counts as public to
    # Chromium's local network checks, which would then refuse its websocket to 127.0.0.1.
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=[*ARGS, "--disable-features=LocalNetworkAccessChecks"]
        )
        yield browser
        browser.close()


def readme_csp() -> str:
    """The policy exactly as the README tells a reverse proxy to send it."""
    found = re.search(r"^Content-Security-Policy: (.+)$", (ROOT / "README.md").read_text(), re.MULTILINE)
    assert found, "the README names the Content-Security-Policy"
    return found.group(1).strip()


def test_model_text_loads_no_remote_image_and_links_show_their_address(browser, fake, settings):
    data = base64.b64encode(image_bytes((64, 48), (30, 90, 200), fmt="JPEG")).decode()
    content = {
        "role": "model",
        "parts": [
            {"text": THOUGHT, "thought": True},
            {"text": ANSWER, "thoughtSignature": "s" * 80},
            {"inlineData": {"data": data, "mimeType": "image/jpeg"}, "thoughtSignature": "t" * 80},
        ],
    }
    fake.then(fake.custom(content))
    csp = readme_csp()
    server = StudioServer(fake_env(settings)).start()
    requested: list[str] = []
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda request: requested.append(request.url))
        page.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation', "
            "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )

        def with_policy(route):  # type: ignore[no-untyped-def]
            # As the reverse proxy would: the README's policy on every page the studio serves.
            if route.request.resource_type != "document":
                return route.continue_()
            response = route.fetch()
            return route.fulfill(response=response, headers={**response.headers, "content-security-policy": csp})

        page.route("**/*", with_policy)
        page.goto(server.url)
        page.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        send(page, "a lighthouse at dusk")
        page.get_by_text("Here is your lighthouse").wait_for(timeout=30_000)
        page.get_by_role("button", name="Download", exact=True).wait_for(timeout=30_000)  # landed and drawn
        page.locator("[data-testid=stExpander] summary").filter(has_text="Thinking").first.click()
        page.get_by_text("Planning").wait_for(timeout=10_000)
        page.get_by_role("button", name="Download", exact=True).wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "browser-model-text.png"), full_page=True)
        body = page.inner_text("body").replace("\u2060", "")  # word joiners keep `:` from icons
        images = page.eval_on_selector_all("img", "els => els.map(e => e.src)")
        links = page.eval_on_selector_all("a", "els => els.map(e => e.href)")
        shown = page.eval_on_selector_all("[data-testid=stChatMessage] img", "els => els.map(e => e.naturalWidth)")
        violations = page.evaluate("() => window.__csp")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "browser-model-text-failed.png"), full_page=True)
        raise
    finally:
        server.stop()
    assert not [url for url in requested if TRACKER in url or PHISH in url]
    assert not [src for src in images if TRACKER in src]
    assert not [href for href in links if PHISH in href or TRACKER in href]
    # Each address is there to read, as text.
    assert "//phish.example/login" in body and "Sign in again" in body and "https://phish.example/docs" in body
    assert "//tracker.example/pixel.png" in body
    # The studio still works under the README's policy: the result shows, nothing was blocked.
    assert shown and all(width > 0 for width in shown)
    assert violations == [], violations
    assert fake.requests and len(fake.requests) == 1
