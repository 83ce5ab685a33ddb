"""A person's path in a real browser: `streamlit run app.py` driven in Debian's Chromium."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.service import StudioService
from core.values import TurnStatus
from tests.conftest import API_KEY, ROOT
from tests.fake_gemini import image_bytes

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not Path(CHROMIUM).exists():
    if os.environ.get("STUDIO_REQUIRE_BROWSER"):
        raise RuntimeError(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StudioServer:
    def __init__(self, env: dict[str, str], port: int | None = None, args: list[str] | None = None) -> None:
        self.port = port or free_port()
        self.args = args or []
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen | None = None
        self.log = ARTIFACTS / f"streamlit-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StudioServer:
        ARTIFACTS.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                *self.args,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not start; see {self.log}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # as a crash would: no clean shutdown
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def fake_env(settings, database_url: str | None = None) -> dict[str, str]:
    """The studio pointed at the local fake of the route, with the fake's key. A short lease,
    so a killed process's turn shows as interrupted within seconds rather than half a minute."""
    return {
        "COMETAPI_KEY": API_KEY,
        "COMETAPI_BASE_URL": settings.base_url,
        "DATABASE_URL": database_url or settings.database_url,
        "STUDIO_LEASE_S": "4",
    }


def open_studio(browser, url: str, height: int = 1000):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.goto(url)
    page.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
    return page


def send(page, text: str, attachment: Path | None = None) -> None:
    if attachment is not None:
        page.set_input_files("[data-testid=stChatInput] input[type=file]", str(attachment))
        page.locator("[data-testid=stChatInput]").get_by_text(attachment.name).wait_for(timeout=15_000)
    page.fill("[data-testid=stChatInput] textarea", text)
    # Streamlit ignores Enter until every attached file has finished uploading (the send button
    # is disabled until then, and the words stay in the box), as a person would see: wait for it.
    page.wait_for_selector("[data-testid=stChatInputSubmitButton]:not([disabled])", timeout=30_000)
    page.keyboard.press("Enter")


def user_turns(settings):  # type: ignore[no-untyped-def]
    """The requests of the newest conversation, as the store holds them."""
    svc = StudioService.from_settings(settings)
    return [t for t in svc.store.conversation(svc.conversations()[0].id).turns if t.role == "user"]


PASTE = """(b64) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], "pasted.png", {type: "image/png"}));
  const box = document.querySelector('[data-testid=stChatInput] textarea');
  box.focus();
  box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
}"""


def test_two_turns_restart_reload_third_turn_replays_full_history(browser, fake, settings, tmp_path):
    env = fake_env(settings)
    server = StudioServer(env).start()
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(image_bytes((48, 32), (20, 120, 200), fmt="JPEG"))
    try:
        page = open_studio(browser, server.url)
        send(page, "a red bicycle on a beach", photo)
        page.get_by_text("Result 1").wait_for(timeout=30_000)
        pasted = image_bytes((24, 24), (250, 250, 0))
        page.evaluate(PASTE, base64.b64encode(pasted).decode())  # an image pasted from the clipboard
        page.locator("[data-testid=stChatInput]").get_by_text("pasted.png").wait_for(timeout=10_000)
        send(page, "make it blue like this")
        page.get_by_text("Result 2").wait_for(timeout=30_000)
        page.wait_for_function("() => location.search.includes('session=')")
        url = page.url
        server.stop()
        server = StudioServer(env).start()  # the server restarts; the link still opens the conversation
        page.goto(url.replace(url.split("/?")[0], server.url))
        page.get_by_text("Result 2").wait_for(timeout=30_000)
        send(page, "add a bell")
        page.get_by_text("Result 3").wait_for(timeout=30_000)
        # The third result's buttons are drawn just after its words: wait for all three Downloads.
        downloads = page.get_by_role("button", name="Download", exact=True)
        deadline = time.monotonic() + 30
        while downloads.count() < 3 and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        with page.expect_download() as download:
            downloads.last.click()
        downloaded = Path(download.value.path()).read_bytes()
        page.wait_for_timeout(1000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-fake.png"), full_page=True)
    finally:
        server.stop()
    assert len(fake.requests) == 3
    # The download is the full-resolution image as the model sent it, named by its real type.
    assert download.value.suggested_filename.endswith(".png")
    assert downloaded == base64.b64decode(fake.issued[2]["parts"][3]["inlineData"]["data"])
    contents = fake.requests[-1]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    assert contents[0]["parts"][0] == {"text": "a red bicycle on a beach"}
    assert contents[0]["parts"][1]["inlineData"]["mimeType"] == "image/jpeg"
    assert contents[2]["parts"][0] == {"text": "make it blue like this"}
    assert base64.b64decode(contents[2]["parts"][1]["inlineData"]["data"]) == pasted
    assert [json.dumps(c) for c in contents if c["role"] == "model"] == [json.dumps(c) for c in fake.issued[:2]]
    assert all("thoughtSignature" in p for c in contents if c["role"] == "model" for p in c["parts"][2:])


def test_offline_demo_in_the_browser(browser, db_url):
    env = {"COMETAPI_KEY": "", "DATABASE_URL": db_url}
    server = StudioServer(env).start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 2750})  # tall: the whole chat in one shot
        page.goto(server.url)
        page.get_by_text("Offline demo model").wait_for(timeout=30_000)
        for n, prompt in enumerate(["a red bicycle on a beach", "make it blue", "add a bell"], start=1):
            send(page, prompt)
            page.get_by_text(f"Here is turn {n}").wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        page.evaluate("document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "studio.png"), full_page=True)
    finally:
        server.stop()
    assert (ARTIFACTS / "studio.png").stat().st_size > 10_000
    if os.environ.get("STUDIO_UPDATE_SCREENSHOT"):
        shutil.copy(ARTIFACTS / "studio.png", ROOT / "docs" / "screenshot.png")


def test_server_killed_mid_call_shows_interrupted_then_retry_works(browser, fake, settings):
    env = fake_env(settings)
    slow_once = {"left": 1}

    def slow(body):
        if slow_once["left"]:
            slow_once["left"] -= 1
            time.sleep(6)

    fake.during_call = slow
    server = StudioServer(env).start()
    try:
        page = open_studio(browser, server.url)
        send(page, "a lighthouse in a storm")
        page.get_by_text("Generating").wait_for(timeout=30_000)
        page.wait_for_function("() => location.search.includes('session=')")
        url = page.url
        deadline = time.monotonic() + 20
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.1)
        server.stop()  # killed while the model is working
        server = StudioServer(env).start()
        page.goto(url.replace(url.split("/?")[0], server.url))
        page.get_by_text("The studio stopped while this turn was being made").wait_for(timeout=30_000)
        page.get_by_text("a lighthouse in a storm").first.wait_for(timeout=10_000)  # the words are still there
        page.get_by_role("button", name="Retry").click()
        page.get_by_text("Result").first.wait_for(timeout=30_000)
        html = page.content()
        page.screenshot(path=str(ARTIFACTS / "browser-interrupted.png"), full_page=True)
    finally:
        server.stop()
    assert API_KEY not in html
    assert API_KEY not in server.log.read_text(errors="replace")


def test_clicking_elsewhere_during_a_call_loses_nothing(browser, fake, settings):
    env = fake_env(settings)
    fake.during_call = lambda body: time.sleep(4)
    server = StudioServer(env).start()
    try:
        page = open_studio(browser, server.url)
        send(page, "a slow cathedral")
        page.get_by_text("Generating").wait_for(timeout=30_000)
        # A rerun while the model works. The sidebar may briefly hold the old widget beside the new
        # one while the first message's conversation is created: click the newest.
        page.get_by_text("Image only (no text)").last.click()
        page.get_by_text("Generating…").wait_for(timeout=15_000)
        page.get_by_text("Result 1").wait_for(timeout=30_000)  # the page refreshes by itself
    finally:
        server.stop()
    assert len(fake.requests) == 1  # the call was not repeated


def test_two_tabs_on_one_conversation_never_fork_and_lose_nothing(browser, fake, settings):
    env = fake_env(settings)
    server = StudioServer(env).start()
    try:
        first = open_studio(browser, server.url)
        send(first, "a harbour at dawn")
        first.get_by_text("Result 1").wait_for(timeout=30_000)
        first.wait_for_function("() => location.search.includes('session=')")
        second = browser.new_context().new_page()  # another tab (another person), same link
        second.set_viewport_size({"width": 1300, "height": 900})
        second.goto(first.url)
        second.get_by_text("Result 1").wait_for(timeout=30_000)
        fake.during_call = lambda body: time.sleep(2)
        send(first, "add fishing boats")
        send(second, "make it foggy")  # at once: one of the two edits a version the other has not seen
        # Exactly one of the two is held back, kept as a "Not sent" turn with its words.
        svc = StudioService.from_settings(settings)
        deadline = time.monotonic() + 30
        held: list = []
        while not held and time.monotonic() < deadline:
            held = [
                t for t in svc.store.conversation(svc.conversations()[0].id).turns if t.error_kind in ("stale", "busy")
            ]
            time.sleep(0.2)
        assert len(held) == 1, "exactly one message is held back"
        lost_words = held[0].parts[0].text
        loser, winner = (second, first) if lost_words == "make it foggy" else (first, second)
        loser.get_by_text("Not sent").first.wait_for(timeout=15_000)
        # The other tab's turn shows up by itself, and the words typed here are kept.
        for page in (first, second):
            page.get_by_text("Result 2").wait_for(timeout=40_000)
        loser.get_by_text(lost_words).first.wait_for(timeout=10_000)
        loser.screenshot(path=str(ARTIFACTS / "browser-two-tabs.png"), full_page=True)
        fake.during_call = None
        loser.get_by_role("button", name="Send again").click()
        loser.get_by_text("Result 3").wait_for(timeout=30_000)
        winner.get_by_text("Result 3").wait_for(timeout=30_000)  # picked up by the other tab by itself
    finally:
        server.stop()
    conversation = svc.conversation(svc.conversations()[0].id)
    ok = [e.request.parts[0].text for e in conversation.exchanges if e.replayable]
    assert ok[0] == "a harbour at dawn" and sorted(ok[1:]) == ["add fishing boats", "make it foggy"]
    assert ok[2] == lost_words
    # The third request edited the second result, which both tabs had seen.
    last = fake.requests[-1]["contents"]
    assert [c["parts"][0].get("text") for c in last if c["role"] == "user"] == ok
    svc.close()


def test_typed_size_and_ratio_stick_in_a_real_browser(browser, fake, settings):
    """The browser sends each widget's value back; the sidebar must not undo a typed "4K, 16:9"."""
    server = StudioServer(fake_env(settings)).start()
    try:
        page = open_studio(browser, server.url)
        for n, prompt in enumerate(["a red bicycle on a beach", "4K, 16:9", "add a basket"], start=1):
            send(page, prompt)
            page.get_by_text(f"Result {n}").wait_for(timeout=30_000)
    finally:
        server.stop()
    configs = [body["generationConfig"]["imageConfig"] for body in fake.requests]
    assert configs == [
        {"aspectRatio": "1:1", "imageSize": "1K"},
        {"aspectRatio": "16:9", "imageSize": "4K"},
        {"aspectRatio": "16:9", "imageSize": "4K"},
    ]


def test_two_server_processes_on_postgresql_share_turns_leases_and_retries(browser, fake, settings, postgres_url):
    """Replicas A and B on one PostgreSQL database: a turn run by A shows as running in B and lands
    there by itself; a third process started mid-turn changes nothing; A killed mid-turn: B
    offers Retry within the lease, and the retry goes through."""
    env = fake_env(settings, postgres_url)
    a, b = StudioServer(env).start(), StudioServer(env).start()
    c = None
    try:
        delay = {"s": 25.0}
        fake.during_call = lambda body: time.sleep(delay["s"])
        tab_a = open_studio(browser, a.url)
        send(tab_a, "a lighthouse at night")
        tab_a.get_by_text("Generating…").wait_for(timeout=30_000)
        tab_a.wait_for_function("() => location.search.includes('session=')")
        query = tab_a.url.split("/", 3)[3]
        tab_b = open_studio(browser, f"{b.url}/{query}")
        tab_b.get_by_text("Generating…").wait_for(timeout=30_000)  # running in A, shown in B
        c = StudioServer(env).start()  # a deploy starts a third process mid-turn
        tab_c = open_studio(browser, f"{c.url}/{query}")
        tab_c.get_by_text("Generating…").wait_for(timeout=30_000)
        tab_b.get_by_text("Result 1").wait_for(timeout=60_000)  # landed in B by itself
        assert len(fake.requests) == 1
        delay["s"] = 1.0
        send(tab_b, "add a ship")  # B runs this one; then A dies during a turn of its own
        tab_b.get_by_text("Result 2").wait_for(timeout=30_000)
        tab_a.get_by_text("Result 2").wait_for(timeout=30_000)
        delay["s"] = 15.0
        send(tab_a, "make it stormy")
        tab_a.get_by_text("Generating…").wait_for(timeout=30_000)
        deadline = time.monotonic() + 20
        while len(fake.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        a.stop()  # killed mid-call
        tab_b.get_by_text("The studio stopped while this turn was being made").wait_for(timeout=60_000)
        tab_b.screenshot(path=str(ARTIFACTS / "browser-replicas-interrupted.png"), full_page=True)
        fake.during_call = None
        deadline = time.monotonic() + 20
        while len(fake.issued) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # the killed call still ends at the service (and may be billed)
        tab_b.get_by_role("button", name="Retry").click()
        tab_b.get_by_text("Result 4").wait_for(timeout=30_000)
        tab_c.get_by_text("Result 4").wait_for(timeout=30_000)
    finally:
        for server in (a, b, c):
            if server is not None:
                server.stop()
    assert len(fake.requests) == 4  # nothing ran twice on its own
    last = fake.requests[-1]["contents"]
    assert [p["text"] for m in last if m["role"] == "user" for p in m["parts"]] == [
        "a lighthouse at night",
        "add a ship",
        "make it stormy",
    ]
    assert [json.dumps(m) for m in last if m["role"] == "model"] == [json.dumps(m) for m in fake.issued[:2]]


def _sidebar_links(page) -> list[str]:  # type: ignore[no-untyped-def]
    nav = page.locator("[data-testid=stSidebarNav]")
    nav.wait_for(timeout=30_000)
    # Each link reads "<icon name>\n\n<label>"; the label is what a person sees.
    return [t.strip().splitlines()[-1] for t in nav.locator("a").all_inner_texts()]


def test_navigation_survives_a_restart_and_saved_links_open_on_a_fresh_server(browser, fake, settings):
    env = fake_env(settings)
    server = StudioServer(env).start()
    try:
        page = open_studio(browser, server.url)
        send(page, "a blue door")
        page.get_by_text("Result 1").wait_for(timeout=30_000)
        page.wait_for_function("() => location.search.includes('session=')")
        session = page.url.split("session=")[1]
        assert _sidebar_links(page) == ["Studio", "Conversations", "Gallery", "Inbox", "Brand kit", "Usage"]
        port = server.port
        server.stop()
        server = StudioServer(env, port=port).start()  # a restart; the tab stays open and reconnects
        page.wait_for_timeout(4000)
        page.get_by_text("Result 1").wait_for(timeout=30_000)
        assert _sidebar_links(page) == ["Studio", "Conversations", "Gallery", "Inbox", "Brand kit", "Usage"]
        page.screenshot(path=str(ARTIFACTS / "browser-after-restart.png"))
        for link, expected in (
            (f"/studio?session={session}", "Result 1"),
            ("/conversations", "a blue door"),
            (f"/?session={session}", "Result 1"),
        ):
            server.stop()
            server = StudioServer(env).start()  # each saved link, first thing on a fresh server
            fresh = browser.new_page(viewport={"width": 1300, "height": 900})
            fresh.goto(server.url + link)
            fresh.get_by_text(expected).first.wait_for(timeout=30_000)
            assert _sidebar_links(fresh) == ["Studio", "Conversations", "Gallery", "Inbox", "Brand kit", "Usage"], link
            fresh.close()
    finally:
        server.stop()


def test_cancel_while_generating_keeps_the_words_and_nothing_is_replayed(browser, fake, settings):
    env = fake_env(settings)
    fake.during_call = lambda body: time.sleep(4)
    server = StudioServer(env).start()
    try:
        page = open_studio(browser, server.url)
        send(page, "a castle in fog")
        page.get_by_text("Generating…").wait_for(timeout=30_000)
        page.get_by_role("button", name="Cancel").click()
        page.get_by_text("Cancelled.").first.wait_for(timeout=15_000)
        page.get_by_text("a castle in fog").first.wait_for(timeout=5_000)
        time.sleep(4.5)  # the call finishes at the service anyway: its answer is kept, not replayed
        fake.during_call = None
        page.reload()
        page.get_by_text("arrived after the turn was cancelled").wait_for(timeout=30_000)
        page.get_by_role("button", name="Send again").click()
        page.get_by_text("Result 2").wait_for(timeout=30_000)
    finally:
        server.stop()
    assert len(fake.requests) == 2
    assert fake.requests[-1]["contents"] == [{"role": "user", "parts": [{"text": "a castle in fog"}]}]


HOSTILE = (
    "<style>html,body,*{display:none!important}</style>"
    '<form action="http://127.0.0.1:9/steal"><input name="password" placeholder="Password">'
    '<button id="login">Log in</button></form>'
    "<script>window.parent.document.body.innerHTML = 'PWNED'; document.title = 'script ran'</script>"
    '<a href="https://www.google.com/search?q=x">weather in Paris</a>'
)


def test_hostile_search_markup_stays_inside_its_frame(browser, fake, settings):
    original = fake.answer

    def with_hostile_grounding(body):  # type: ignore[no-untyped-def]
        payload = original(body)
        payload["candidates"][0]["groundingMetadata"] = {
            "webSearchQueries": ["weather in Paris"],
            "searchEntryPoint": {"renderedContent": HOSTILE},
        }
        return payload

    fake.answer = with_hostile_grounding
    server = StudioServer(fake_env(settings)).start()
    try:
        page = open_studio(browser, server.url)
        send(page, "weather in Paris as a poster")
        page.get_by_text("Result 1").wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        frame_el = page.locator("iframe[title='Google Search suggestions']")
        frame_el.wait_for(timeout=10_000)
        sandbox = frame_el.get_attribute("sandbox")
        inner = frame_el.element_handle().content_frame()
        inside_title = inner.evaluate("() => document.title")
        inside_origin = inner.evaluate("() => window.origin")
        page.screenshot(path=str(ARTIFACTS / "browser-hostile-search.png"), full_page=True)
        body = page.inner_text("body")
    finally:
        server.stop()
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox and "allow-forms" not in sandbox
    assert inside_title != "script ran"  # the script never ran, inside or out
    assert inside_origin == "null"  # an opaque origin: nothing inside can reach the app
    assert "PWNED" not in body and "Result 1" in body  # the app is untouched and still visible


def test_nothing_typed_or_attached_is_lost_and_text_shows_as_typed(browser, fake, settings, tmp_path):
    env = {**fake_env(settings), "STUDIO_MAX_UPLOAD_MB": "1"}
    server = StudioServer(env).start()
    typed = "a -- b -> c :material/home: see https://example.com/x"
    small = []
    for n in range(15):
        path = tmp_path / f"ref{n:02d}.png"
        path.write_bytes(image_bytes((16, 16), (n * 15, 40, 90)))
        small.append(str(path))
    big = tmp_path / "huge.png"
    big.write_bytes(image_bytes((700, 700), noise=True))  # ~1.4 MB: over the 1 MB cap
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    try:
        page = open_studio(browser, server.url)
        send(page, typed)
        page.get_by_text("Result 1").wait_for(timeout=30_000)
        bubble = page.locator("[data-testid=stChatMessage]").first
        assert bubble.inner_text().strip().endswith(typed)  # no dash, arrow or icon
        assert bubble.locator("a").count() == 0  # and no link
        title = page.locator("h1").first.inner_text().replace("\u2060", "")
        assert title.startswith("a -- b -> c :material/home:")

        page.set_input_files("[data-testid=stChatInput] input[type=file]", small)  # 15, for a limit of 14
        page.wait_for_timeout(800)
        send(page, "use all of these")
        page.get_by_text("accepts at most 14 images").first.wait_for(timeout=20_000)
        page.get_by_text("use all of these").first.wait_for(timeout=20_000)  # the words are kept

        page.set_input_files("[data-testid=stChatInput] input[type=file]", str(big))
        page.wait_for_timeout(800)
        send(page, "and this big one")
        page.get_by_text("the limit is 1 MB").first.wait_for(timeout=20_000)
        page.get_by_text("and this big one").first.wait_for(timeout=20_000)

        page.set_input_files("[data-testid=stChatInput] input[type=file]", str(empty))
        page.wait_for_timeout(800)
        page.locator("[data-testid=stChatInput] textarea").press("Enter")
        page.get_by_text("is empty (0 bytes)").first.wait_for(timeout=20_000)
        page.screenshot(path=str(ARTIFACTS / "browser-kept-input.png"), full_page=True)

        # A half-typed prompt stays with its conversation when the person opens another one.
        url = page.url
        other = browser.new_page(viewport={"width": 1300, "height": 900})
        other.goto(server.url)
        other.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        send(other, "a second conversation")
        other.get_by_text("Result 2").wait_for(timeout=30_000)
        other.close()
        page.goto(url)
        page.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        page.fill("[data-testid=stChatInput] textarea", "half-typed for the first one")
        page.get_by_role("button", name="a second conversation", exact=True).click()
        page.get_by_text("Result 2").wait_for(timeout=30_000)
        assert page.locator("[data-testid=stChatInput] textarea").input_value() == ""
    finally:
        server.stop()
    assert len(fake.requests) == 2  # only the two messages that could go out went out
    svc = StudioService.from_settings(settings)
    first = next(s for s in svc.conversations() if s.title.startswith("a -- b"))
    turns = [t for t in svc.conversation(first.id).turns if t.role == "user"]
    kept = {t.parts[0].text if t.parts and t.parts[0].kind == "text" else "": t for t in turns}
    assert len([p for p in kept["use all of these"].parts if p.kind == "image"]) == 15  # every image kept
    assert kept["and this big one"].status == TurnStatus.FAILED


def test_two_people_behind_a_proxy_private_work_sharing_copy_and_trash(browser, fake, settings):
    env = {**fake_env(settings), "STUDIO_TRUSTED_USER_HEADER": "X-Forwarded-Email", "STUDIO_ADMINS": ""}
    server = StudioServer(env).start()
    ann_ctx = browser.new_context(
        extra_http_headers={"X-Forwarded-Email": "ann@example.com", "X-Forwarded-User": "Ann"}
    )
    bob_ctx = browser.new_context(
        extra_http_headers={"X-Forwarded-Email": "bob@example.com", "X-Forwarded-User": "Bob"}
    )
    nobody = browser.new_context()
    try:
        ann = ann_ctx.new_page()
        ann.goto(server.url)
        ann.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        assert ann.get_by_text("Signed in as ann").count() == 1
        send(ann, "Ann's secret launch poster")
        ann.get_by_text("Result 1").wait_for(timeout=30_000)
        send(ann, "make it gold")
        ann.get_by_text("Result 2").wait_for(timeout=30_000)
        ann.wait_for_function("() => location.search.includes('session=')")
        link = ann.url

        stranger = nobody.new_page()
        stranger.goto(link)
        stranger.get_by_text("nobody is signed in").wait_for(timeout=30_000)
        assert stranger.get_by_text("secret").count() == 0

        bob = bob_ctx.new_page()
        bob.goto(link)  # by link: not found, and nothing of it
        bob.get_by_text("does not exist").wait_for(timeout=30_000)
        assert bob.get_by_text("secret").count() == 0 and bob.get_by_text("Result").count() == 0
        bob.goto(f"{server.url}/conversations")
        bob.get_by_text("No conversations yet").wait_for(timeout=30_000)
        assert bob.get_by_text("secret").count() == 0

        ann.goto(f"{server.url}/conversations")
        ann.locator("[data-testid=stPopover] button").filter(has_text="Share").first.click()
        ann.get_by_role("button", name="Share with the team").click()
        ann.wait_for_timeout(1000)

        bob.goto(link)
        bob.get_by_text("Result 2").wait_for(timeout=30_000)
        bob.get_by_text("shared with you to look at").wait_for(timeout=10_000)
        assert bob.locator("[data-testid=stChatInput]").count() == 0  # read-only: no input
        bob.get_by_role("button", name="Make a copy").click()
        bob.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        send(bob, "add a bell")
        bob.get_by_text("Result 3").wait_for(timeout=30_000)
        bob.screenshot(path=str(ARTIFACTS / "browser-copy.png"), full_page=True)
        copied_request = fake.requests[-1]

        # Private again, with a read-only link: Bob's tab on the link picks up Ann's next turn.
        ann.goto(f"{server.url}/conversations")
        share_menu = ann.locator("[data-testid=stPopover] button").filter(has_text="Share").first

        def in_share_menu(name: str):  # type: ignore[no-untyped-def]
            button = ann.get_by_role("button", name=name)
            if not button.is_visible():
                share_menu.click()
            button.wait_for(timeout=10_000)
            return button

        in_share_menu("Make private").click()
        ann.get_by_role("button", name="Share with the team").wait_for(timeout=10_000)
        in_share_menu("Create a read-only link").click()
        ann.get_by_role("button", name="Revoke the link").wait_for(timeout=10_000)
        share_link = ann.locator("[data-testid=stCode] code").first.inner_text().strip()
        assert "/studio?share=" in share_link
        bob.goto(share_link)
        bob.get_by_text("Result 2").wait_for(timeout=30_000)
        ann.goto(link)
        ann.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        send(ann, "make it silver")
        bob.get_by_text("Result 4").wait_for(timeout=30_000)  # by itself, through the link
        assert bob.locator("[data-testid=stChatInput]").count() == 0

        ann.goto(f"{server.url}/conversations")
        ann.get_by_role("button", name="Delete").first.click()
        ann.get_by_text("Move this conversation to the trash").wait_for(timeout=10_000)
        ann.get_by_role("button", name="Delete", exact=True).first.click()
        ann.get_by_text("No conversations yet").wait_for(timeout=10_000)
        ann.get_by_role("tab", name="Trash").click()
        ann.get_by_role("button", name="Restore").first.click()
        ann.wait_for_timeout(1000)
        ann.get_by_role("tab", name="Mine").click()
        ann.get_by_text("Ann's secret launch poster").first.wait_for(timeout=10_000)
    finally:
        server.stop()
    last = copied_request["contents"]
    assert [p["text"] for m in last if m["role"] == "user" for p in m["parts"]] == [
        "Ann's secret launch poster",
        "make it gold",
        "add a bell",
    ]
    # Bob's copy replays Ann's model turns exactly: the strict fake checked every signature.
    assert [json.dumps(m) for m in last if m["role"] == "model"] == [json.dumps(m) for m in fake.issued[:2]]


def test_sign_in_through_an_oidc_provider_and_a_refused_domain(browser, fake, settings, tmp_path):
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
        env = {**fake_env(settings), "STUDIO_ALLOWED_DOMAINS": "example.com"}
        server = StudioServer(env, port=port, args=["--secrets.files", str(secrets_file)]).start()
        try:
            page = browser.new_context().new_page()
            page.goto(server.url)
            page.get_by_text("Sign in to use the studio").wait_for(timeout=30_000)
            assert page.locator("[data-testid=stChatInput]").count() == 0  # nothing of the studio
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("Signed in as Ann").wait_for(timeout=30_000)
            send(page, "a signed-in picture")
            page.get_by_text("Result 1").wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "browser-oidc.png"))

            provider.next_user = {"email": "eve@other.org", "name": "Eve"}
            eve = browser.new_context().new_page()
            eve.goto(server.url)
            eve.get_by_role("button", name="Sign in").click()
            eve.get_by_text("eve@other.org may not use this studio").wait_for(timeout=30_000)
            assert eve.locator("[data-testid=stChatInput]").count() == 0
            assert eve.get_by_text("a signed-in picture").count() == 0
        finally:
            server.stop()


def test_demo_examples_limits_and_the_usage_page_in_a_browser(browser, db_url):
    env = {"COMETAPI_KEY": "", "DATABASE_URL": db_url, "STUDIO_DEMO": "1", "STUDIO_LIMIT_TURNS_PER_MINUTE": "2"}
    server = StudioServer(env).start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server.url)
        page.get_by_text("Try an example").wait_for(timeout=60_000)
        assert "COMETAPI_KEY" not in page.inner_text("body")
        page.wait_for_timeout(800)
        page.screenshot(path=str(ARTIFACTS / "demo.png"))
        page.get_by_role("button", name="Try it").first.click()
        page.get_by_text("Copy of A bicycle, refined").first.wait_for(timeout=30_000)
        page.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
        for n, prompt in enumerate(["now at night", "with fireflies"], start=4):
            send(page, prompt)
            page.get_by_text(f"Here is turn {n}").wait_for(timeout=60_000)
        page.get_by_text("Spent here:").wait_for(timeout=10_000)
        assert "offline demo: never billed" in page.inner_text("body")
        send(page, "and a full moon")
        page.get_by_text("2 turns a minute").first.wait_for(timeout=30_000)
        # Refused, nothing sent, and the words are kept in the conversation.
        page.get_by_text("and a full moon").first.wait_for(timeout=10_000)
        mine = page.url
        page.get_by_role("link", name="Usage").click()
        page.get_by_text("Re-sending history").wait_for(timeout=30_000)
        page.wait_for_selector(".vega-embed canvas, .vega-embed svg", timeout=30_000)
        body = page.inner_text("body")
        assert "Most expensive conversations" in body and "Copy of A bicycle, refined" in body
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "usage.png"), full_page=True)
        # The same browser after a reload is the same visitor: its conversation opens.
        page.goto(mine)
        page.get_by_text("and a full moon").first.wait_for(timeout=30_000)
        # Another browser is another visitor: the link opens nothing of the first one's, and its
        # limits are its own (the first visitor's refusal does not stop it).
        stranger = browser.new_page(viewport={"width": 1400, "height": 1100})
        stranger.goto(mine)
        stranger.get_by_text(re.compile("If someone sent you this link")).wait_for(timeout=30_000)
        assert "and a full moon" not in stranger.inner_text("body")
        stranger.goto(server.url)
        stranger.get_by_text("Try an example").wait_for(timeout=30_000)
        assert "Copy of A bicycle" not in stranger.locator("[data-testid=stSidebar]").inner_text()
        send(stranger, "a kite over the dunes")
        stranger.get_by_text("Here is turn 1").wait_for(timeout=60_000)
    finally:
        server.stop()
    if os.environ.get("STUDIO_UPDATE_SCREENSHOT"):
        shutil.copy(ARTIFACTS / "usage.png", ROOT / "docs" / "usage.png")
        shutil.copy(ARTIFACTS / "demo.png", ROOT / "docs" / "demo.png")


def test_branch_from_an_earlier_result_switch_back_compare_mark_and_export(browser, fake, settings, tmp_path):
    server = StudioServer(fake_env(settings)).start()
    try:
        page = open_studio(browser, server.url, height=1600)
        for n, prompt in enumerate(["a bicycle", "make it blue", "add a bell"], start=1):
            send(page, prompt)
            page.get_by_text(f"Result {n}", exact=True).wait_for(timeout=30_000)
        page.get_by_role("button", name="Branch from here").first.click()
        page.get_by_text("Result 2", exact=True).wait_for(state="detached", timeout=20_000)
        send(page, "make it green")
        page.get_by_text("Result 4", exact=True).wait_for(timeout=30_000)
        contents = fake.requests[-1]["contents"]
        # Exactly one earlier exchange, its model turn as issued, every signature on its own part.
        assert [c["role"] for c in contents] == ["user", "model", "user"]
        assert json.dumps(contents[1], sort_keys=True) == json.dumps(fake.issued[0], sort_keys=True)
        assert contents[2]["parts"][0]["text"] == "make it green"
        # Back to the first branch, and on there.
        # Once the strip shows the new version (the page has finished redrawing), make v3 current
        # from All versions.
        page.get_by_role("img", name=re.compile(r"Versions, .*version 4: make it green")).wait_for(timeout=20_000)
        page.get_by_role("button", name="All versions…").click()
        card = page.get_by_role("dialog").locator(".st-key-version-card-3")
        card.get_by_text("add a bell").wait_for(timeout=20_000)
        assert page.get_by_role("dialog").locator(".st-key-version-card-4").get_by_text("current").count() == 1
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "all-versions.png"))
        card.get_by_role("button", name="Use this one").click()
        page.get_by_text("Result 3", exact=True).wait_for(timeout=20_000)
        send(page, "add a basket")
        page.get_by_text("Result 5", exact=True).wait_for(timeout=30_000)
        users = [c["parts"][0]["text"] for c in fake.requests[-1]["contents"] if c["role"] == "user"]
        assert users == ["a bicycle", "make it blue", "add a bell", "add a basket"]
        models = [json.dumps(c, sort_keys=True) for c in fake.requests[-1]["contents"] if c["role"] == "model"]
        assert models == [json.dumps(fake.issued[i], sort_keys=True) for i in (0, 1, 2)]
        # Compare two versions: a dialog with the two over each other, slid in the browser.
        page.get_by_role("button", name="Compare…").click()
        dialog = page.get_by_role("dialog")
        handle = dialog.get_by_role("slider", name="Slide between the two versions")
        handle.wait_for(timeout=20_000)
        top = dialog.locator(".compare img.over")
        page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=top.element_handle())
        assert "50%" in top.evaluate("img => img.style.clipPath")
        handle.fill("20")
        assert top.evaluate("img => img.style.clipPath") == "inset(0px 80% 0px 0px)"
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "versions.png"))
        dialog.get_by_role("button", name="Close").click()
        dialog.wait_for(state="detached", timeout=10_000)
        # Mark a region: a box dragged on the image and a brush stroke, each with what to change.
        page.get_by_role("button", name="Mark a region…").click()
        dialog = page.get_by_role("dialog")
        canvas = dialog.locator("canvas.upper-canvas")
        canvas.wait_for(timeout=20_000)
        page.wait_for_timeout(500)
        area = canvas.bounding_box()
        page.mouse.move(area["x"] + area["width"] * 0.1, area["y"] + area["height"] * 0.1)
        page.mouse.down()
        page.mouse.move(area["x"] + area["width"] * 0.3, area["y"] + area["height"] * 0.3, steps=5)
        page.mouse.move(area["x"] + area["width"] * 0.5, area["y"] + area["height"] * 0.4, steps=5)
        page.mouse.up()
        page.get_by_label("What to change in box 1").fill("a bell here")
        dialog.get_by_role("radiogroup", name="Draw").get_by_role("radio", name="Brush").click()
        page.wait_for_timeout(800)
        page.mouse.move(area["x"] + area["width"] * 0.6, area["y"] + area["height"] * 0.8)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(area["x"] + area["width"] * (0.6 + step * 0.03), area["y"] + area["height"] * 0.8)
        page.mouse.up()
        page.get_by_label("What to change in painted area 2").fill("remove this logo")
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "marks.png"))
        # The first click sends, straight after typing (the field still has the focus).
        page.get_by_role("button", name="Send this change").click(timeout=5_000)
        page.get_by_text("Result 6", exact=True).wait_for(timeout=30_000)
        last = fake.requests[-1]["contents"][-1]["parts"]
        assert "Box 1: a bell here" in last[0]["text"] and "Painted area 2: remove this logo" in last[0]["text"]
        assert "inlineData" in last[1]
        marked = user_turns(settings)[-1].marks
        assert [m["kind"] for m in marked] == ["box", "stroke"]
        assert abs(marked[0]["x0"] - 0.1) < 0.02 and abs(marked[0]["y1"] - 0.4) < 0.02
        assert len(marked[1]["points"]) >= 5 and abs(marked[1]["points"][-1][0] - 0.9) < 0.02
        # Export the branch.
        page.get_by_role("button", name="Export…").click()
        page.get_by_role("dialog").get_by_text("This branch (5 versions)").wait_for(timeout=20_000)
        with page.expect_download(timeout=30_000) as download:
            page.get_by_role("dialog").get_by_role("button", name="Download zip").click()
        target = tmp_path / "branch.zip"
        download.value.save_as(target)
        import zipfile

        names = sorted(zipfile.ZipFile(target).namelist())
        assert names == ["001.png", "002.png", "003.png", "005.png", "006.png", "prompts.json", "prompts.md"]
    finally:
        server.stop()
    if os.environ.get("STUDIO_UPDATE_SCREENSHOT"):
        shutil.copy(ARTIFACTS / "versions.png", ROOT / "docs" / "versions.png")
        shutil.copy(ARTIFACTS / "marks.png", ROOT / "docs" / "marks.png")


def test_three_takes_land_side_by_side_and_one_is_chosen(browser, fake, settings):
    server = StudioServer(fake_env(settings)).start()
    try:
        page = open_studio(browser, server.url, height=1300)
        send(page, "a bicycle")
        page.get_by_text("Result 1", exact=True).wait_for(timeout=30_000)
        delays = iter([1.5, 0.2, 0.8])
        fake.during_call = lambda body: time.sleep(next(delays, 0))
        takes = page.get_by_role("radiogroup", name="Takes").get_by_role("radio", name="3", exact=True)
        takes.click()
        page.wait_for_function("(b) => b.getAttribute('aria-checked') === 'true'", arg=takes.element_handle())
        send(page, "make it blue")
        page.get_by_text(re.compile(r"^3 takes of this prompt, \d on the way")).wait_for(timeout=30_000)
        page.get_by_text(re.compile(r"^3 takes of this prompt\. The framed one")).wait_for(timeout=30_000)
        uses = page.get_by_role("button", name="Use this one")
        deadline = time.monotonic() + 20
        while uses.count() < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert uses.count() == 2  # under every take but the current one
        # The sidebar's money follows the takes as they land, with no click.
        sidebar = page.locator("[data-testid=stSidebar]")
        sidebar.get_by_text(re.compile(r"Spent here: \$0\.27\d?$")).wait_for(timeout=15_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(ARTIFACTS / "takes.png"))
        svc = StudioService.from_settings(settings)
        conversation = svc.conversations()[0]
        before = svc.conversation(conversation.id).tip_id
        uses.last.click()
        deadline = time.monotonic() + 20
        while svc.conversation(conversation.id).tip_id == before and time.monotonic() < deadline:
            time.sleep(0.1)
        chosen = svc.conversation(conversation.id).tip_id
        assert chosen != before
        # Takes went back to 1 after sending: the next ordinary edit is one call, from the chosen take.
        one = page.get_by_role("radiogroup", name="Takes").get_by_role("radio", name="1", exact=True)
        assert one.get_attribute("aria-checked") == "true"
        send(page, "add a bell")
        deadline = time.monotonic() + 30
        while len(fake.requests) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        page.get_by_text("Result 5", exact=True).wait_for(timeout=30_000)
        assert len(fake.requests) == 5  # one call, not three more
        sent = fake.requests[4]["contents"]
        words = [c["parts"][0]["text"] for c in sent if c["role"] == "user"]
        assert words == ["a bicycle", "make it blue", "add a bell"]
        image = next(e.reply for e in svc.conversation(conversation.id).exchanges if e.reply and e.reply.id == chosen)
        data = svc.images.download(image.result_image.image_hash)[0]
        assert [p for p in sent[3]["parts"] if "inlineData" in p][-1]["inlineData"]["data"] == base64.b64encode(
            data
        ).decode()
    finally:
        server.stop()
    if os.environ.get("STUDIO_UPDATE_SCREENSHOT"):
        shutil.copy(ARTIFACTS / "takes.png", ROOT / "docs" / "takes.png")


def test_editing_a_prompt_while_a_result_lands_keeps_the_popover_and_the_words(browser, fake, settings):
    server = StudioServer(fake_env(settings)).start()
    try:
        page = open_studio(browser, server.url, height=1400)
        for n, prompt in enumerate(["a bicycle", "make it blue"], start=1):
            send(page, prompt)
            page.get_by_text(f"Result {n}", exact=True).wait_for(timeout=30_000)
        fake.during_call = lambda body: time.sleep(3)
        send(page, "add a bell")
        page.get_by_text(re.compile(r"^Generating…")).wait_for(timeout=20_000)
        # The live chat redraws every second and the third result lands meanwhile: the popover
        # being typed in stays open, with what was typed.
        page.get_by_role("button", name="Edit and resend from here").first.click()
        box = page.get_by_role("textbox", name="Your message").first
        box.fill("a red bicycle, edited")
        page.get_by_text("Result 3", exact=True).wait_for(timeout=30_000)
        page.wait_for_timeout(2500)
        assert box.is_visible() and box.input_value() == "a red bicycle, edited"
        # The chat scrolled to the new result; the popover stays with its button, as a person
        # scrolling back up would find it.
        page.get_by_role("button", name="Edit and resend from here").first.scroll_into_view_if_needed()
        page.get_by_role("button", name="Send", exact=True).first.click()
        page.get_by_text("Result 4", exact=True).wait_for(timeout=30_000)
        sent = fake.requests[-1]["contents"]
        assert [c["parts"][0]["text"] for c in sent if c["role"] == "user"] == ["a red bicycle, edited"]
    finally:
        server.stop()
