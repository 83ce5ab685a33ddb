"""When the database cannot be reached: the page says so in a plain sentence, keeps what the person
typed, and comes back by itself once the database does, instead of Streamlit's error page.

Answers that arrive meanwhile are the core's business (core/storage/outage.py keeps and lands
them); this is what the person sees."""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from core.storage.outage import UNREACHABLE_MESSAGE, unreachable
from ui.common import service

log = logging.getLogger("studio.page")

DOWN = "database-down"
RETRY_S = 2.0


def down() -> bool:
    """This tab last found the database unreachable (its live parts then leave it alone)."""
    return bool(st.session_state.get(DOWN))


def saw(exc: BaseException) -> bool:
    """Whether `exc` means the database is unreachable; if so, remember it for this tab."""
    if not unreachable(exc):
        return False
    if not st.session_state.get(DOWN):
        log.warning("a page could not reach the database: %s", exc)
    st.session_state[DOWN] = True
    return True


def back() -> None:
    st.session_state.pop(DOWN, None)


def notice() -> None:
    st.warning(UNREACHABLE_MESSAGE, icon=":material/cloud_off:")


def reachable() -> bool:
    try:
        service().store.db.ping()
    except Exception as exc:
        if not unreachable(exc):
            raise
        return False
    return True


@st.fragment(run_every=RETRY_S)
def _come_back() -> None:
    """Looks for the database every few seconds while it is away; the whole page runs again once
    it is back (only then: nothing else runs meanwhile)."""
    if reachable():
        back()
        st.rerun(scope="app")


def guarded(run: Callable[[], None], box: Callable[[], None] | None = None) -> None:
    """Run a page; if the database is unreachable, say so, draw the chat box (`box`, so a message
    sent now is kept) and wait for the database instead of showing a traceback."""
    try:
        run()
        back()
    except Exception as exc:  # st.rerun and st.stop are BaseExceptions: they pass
        if not saw(exc):
            raise
        notice()
        if box is not None:
            box()
        _come_back()
