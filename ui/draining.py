"""A deploy's SIGTERM in a `streamlit run` process: drain the turns first, then let Streamlit stop.

Streamlit stops its server at once on SIGTERM; the calls in flight would then be cut short by
the orchestrator's SIGKILL although the service finishes and bills them. The studio's handler
goes first: the process takes no more turns (new ones wait in the shared queue for another
process), finishes the calls it has out within STUDIO_DRAIN_S with their answers stored, and
only then hands over to Streamlit's own handler. Its open tabs say so meanwhile. A second
SIGTERM stops at once."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType
from typing import Any

import streamlit as st

from core.service import StudioService
from core.workspace import Workspace

log = logging.getLogger("studio.drain")
_installed: set[int] = set()


def install(service: StudioService) -> None:
    """Put the drain in front of Streamlit's SIGTERM handler (signals are set on the main thread,
    which runs Streamlit's event loop)."""
    if id(service) in _installed:
        return
    try:
        from streamlit.runtime import Runtime

        loop = Runtime.instance()._get_async_objs().eventloop
    except Exception:  # noqa: BLE001 - not under `streamlit run` (AppTest, a script): nothing to hand over to
        return
    _installed.add(id(service))
    loop.call_soon_threadsafe(_install, service, loop)


def _install(service: StudioService, loop: asyncio.AbstractEventLoop) -> None:
    previous = signal.getsignal(signal.SIGTERM)

    def stop(number: int, frame: FrameType | None) -> None:
        if callable(previous):
            previous(number, frame)

    def on_term(number: int, frame: FrameType | None) -> None:
        if service.draining:
            log.warning("a second SIGTERM: stopping now; calls still out are left to the lease rules")
            stop(number, frame)
            return
        log.info("SIGTERM: draining (up to %.0f s) before the server stops", service.settings.drain_s)

        def drain_then_stop() -> None:
            try:
                service.drain()
            finally:
                loop.call_soon_threadsafe(stop, number, None)

        threading.Thread(target=drain_then_stop, name="studio-drain", daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)


def notice(svc: Workspace | Any) -> None:
    """What an open tab says while its server drains."""
    if getattr(svc, "draining", False):
        st.warning(
            "This server is restarting for an update. Turns already sent go on and are kept; new messages "
            "are made by another server. If the page disconnects, it reconnects by itself.",
            icon=":material/restart_alt:",
        )
