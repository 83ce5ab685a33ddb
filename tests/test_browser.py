"""A person's path in a real browser: `streamlit run app.py` driven in Debian's Chromium."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.service import StudioService
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
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
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


def fake_env(settings) -> dict[str, str]:
    """The studio pointed at the local fake of the route, with the fake's key."""
    return {"COMETAPI_KEY": API_KEY, "COMETAPI_BASE_URL": settings.base_url, "DATABASE_URL": settings.database_url}


def open_studio(browser, url: str, height: int = 1000):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.goto(url)
    page.wait_for_selector("[data-testid=stChatInput] textarea", timeout=30_000)
    return page


def send(page, text: str, attachment: Path | None = None) -> None:
    if attachment is not None:
        page.set_input_files("[data-testid=stChatInput] input[type=file]", str(attachment))
        page.wait_for_timeout(500)
    page.fill("[data-testid=stChatInput] textarea", text)
    page.keyboard.press("Enter")


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
        with page.expect_download() as download:
            page.get_by_role("button", name="Download").last.click()
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
        assert page.get_by_text("a lighthouse in a storm").count() >= 1  # the words are still there
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
        page.get_by_text("Image only (no text)").click()  # a rerun while the model works
        page.get_by_text("Still working on this turn").wait_for(timeout=15_000)
        page.get_by_text("Result 1").wait_for(timeout=30_000)  # the page refreshes by itself
    finally:
        server.stop()
    assert len(fake.requests) == 1  # the call was not repeated


def test_two_tabs_on_one_conversation_keep_both_turns_in_order(browser, fake, settings):
    env = fake_env(settings)
    server = StudioServer(env).start()
    try:
        first = open_studio(browser, server.url)
        send(first, "a harbour at dawn")
        first.get_by_text("Result 1").wait_for(timeout=30_000)
        first.wait_for_function("() => location.search.includes('session=')")
        second = browser.new_context().new_page()  # another person, same link
        second.set_viewport_size({"width": 1300, "height": 900})
        second.goto(first.url)
        second.get_by_text("Result 1").wait_for(timeout=30_000)
        fake.during_call = lambda body: time.sleep(2)
        send(first, "add fishing boats")
        send(second, "make it foggy")
        for page in (first, second):
            page.get_by_text("Result 3").wait_for(timeout=40_000)
        second.reload()
        second.get_by_text("Result 3").wait_for(timeout=30_000)
        shown = second.locator("[data-testid=stChatMessage]").all_inner_texts()
    finally:
        server.stop()
    svc = StudioService.from_settings(settings)
    conversation = svc.conversation(svc.conversations()[0].id)
    prompts = [e.request.parts[0].text for e in conversation.exchanges]
    assert prompts[0] == "a harbour at dawn" and sorted(prompts[1:]) == ["add fishing boats", "make it foggy"]
    assert all(e.replayable for e in conversation.exchanges)
    positions = [t.position for t in conversation.turns]
    assert len(positions) == len(set(positions))
    assert (
        sum("add fishing boats" in text for text in shown) == 1 and sum("make it foggy" in text for text in shown) == 1
    )


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
