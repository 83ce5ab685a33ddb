"""What open tabs cost while nothing happens, and how soon a result made elsewhere shows in them.

A real `streamlit run app.py` on the offline model and a 20-turn conversation, tabs in headless
Chromium (as the browser tests drive it). The server's CPU is read from /proc over a window with
nothing in flight; a landed result is a turn finished by another process (this one) on the same
database, timed from its commit to its image being on an idle tab's page.

`python -m bench.idle_tabs` runs this part alone.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import requests

from core.config import load_settings
from core.provider.offline import OFFLINE_BASE_URL, OfflineDemoAdapter
from core.service import StudioService

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
CLOCK = os.sysconf("SC_CLK_TCK")


class SlowOffline(OfflineDemoAdapter):
    """The offline model, answering after `delay` seconds: a turn that stays in flight."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(self.delay)
        return super().send(request, *args, **kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK  # utime + stime


def _cpu_share(pid: int, seconds: float) -> float:
    """The process's CPU over a window, as a share of one core."""
    before, started = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (_cpu_seconds(pid) - before) / (time.monotonic() - started)


def _start_server(database_url: str, log: Path) -> tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "COMETAPI_KEY"}
    env["DATABASE_URL"] = database_url
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not start; see {log}")


def _open_tab(browser, url: str, images: int):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.goto(url)
    try:
        page.wait_for_selector("[data-testid=stChatInput] textarea", timeout=60_000)
    except Exception:
        page.screenshot(path="/tmp/idle-fail.png")
        raise
    page.wait_for_function(
        f"document.querySelectorAll('[data-testid=stChatMessage] img').length >= {images}", timeout=60_000
    )
    return page


def _landing(service: StudioService, conversation_id: str, page, prompt: str) -> float:  # type: ignore[no-untyped-def]
    """From a turn's result committed by this process to its image on the tab's page."""
    service.send(conversation_id, prompt)
    landed = time.monotonic()
    page.wait_for_selector(f'[data-testid=stChatMessage] img[alt*="{prompt}"]', timeout=30_000)
    return time.monotonic() - landed


def run(tabs: tuple[int, ...] = (0, 10, 30), window_s: float = 20.0, landings: int = 10) -> None:
    from playwright.sync_api import sync_playwright

    print("\n== open tabs with nothing happening: CPU of one studio process (real streamlit run, Chromium)")
    if not Path(CHROMIUM).exists():
        print("  skipped: Debian's chromium is not installed")
        return
    workdir = Path(tempfile.mkdtemp(prefix="studio-idle-"))
    database_url = f"sqlite:///{workdir / 'idle.db'}"
    service = StudioService.from_settings(load_settings({"DATABASE_URL": database_url}), workers=2)
    conversation = service.new_conversation(title="Twenty turns")
    for n in range(20):
        service.send(conversation.id, f"a red bicycle on a beach, edit {n}")
    process, url = _start_server(database_url, workdir / "streamlit.log")
    link = f"{url}/?session={conversation.id}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pages: list = []  # type: ignore[type-arg]
            for count in tabs:
                while len(pages) < count:
                    pages.append(_open_tab(browser, link, 3))
                time.sleep(5)  # the tabs' first runs and image loads are over
                share = _cpu_share(process.pid, window_s)
                print(f"  {count:>3} idle tabs on a 20-turn conversation: {100 * share:5.1f}% of one core")
            # Thirty tabs of Chromium on this machine's two cores are busy drawing; time landings
            # with ten open, as a person's few tabs and their colleagues' would be.
            for page in pages[10:]:
                page.close()
            pages = pages[:10] or [_open_tab(browser, link, 3)]
            idle = pages[0]
            times = [_landing(service, conversation.id, idle, f"landing probe {k}") for k in range(landings)]
            print(
                f"  a turn landed by another process, on an idle tab's page ({len(pages)} tabs open): "
                f"median {statistics.median(times):.2f} s, max {max(times):.2f} s (target under 1.5 s)"
            )
            # A turn in flight that the tab has seen go out: a slower model elsewhere, answering
            # after 5 s; timed from its answer committed to its image on the page.
            slow = StudioService.from_settings(load_settings({"DATABASE_URL": database_url}), workers=1)
            session = slow.client.session
            assert isinstance(session, requests.Session)
            session.mount(OFFLINE_BASE_URL, SlowOffline(delay=5))
            times = [_landing(slow, conversation.id, idle, f"busy probe {k}") for k in range(landings)]
            print(
                f"  the same for a turn the tab saw in flight for 5 s: "
                f"median {statistics.median(times):.2f} s, max {max(times):.2f} s (target under 1.5 s)"
            )
            slow.close()
            browser.close()
    finally:
        process.kill()
        process.wait(timeout=10)
        service.close()


if __name__ == "__main__":
    run()
