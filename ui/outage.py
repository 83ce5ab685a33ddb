"""When the database cannot be reached: the page says so in a plain sentence, keeps what the person
typed, and comes back by itself once the database does, instead of Streamlit's error page.

Answers that arrive meanwhile are the core's business (core/storage/outage.py keeps and lands
them); this is what the person sees."""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from core.storage.outage import UNREACHABLE_MESSAGE, message_of, unreachable
from ui.common import service, settings

log = logging.getLogger("studio.page")

DOWN = "database-down"
SAID = "database-down-said"
HANDLED = "database-down-handled"  # this run's outage was said by an inner guard
AGAIN = "database-down-again"  # one rerun after a failure while the database answered
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
    # The studio's own sentence when it has one (a file that refuses writes names the file),
    # found along the chain: a retry window that gave up wraps it. A public demo's visitors get
    # the general one: the operator's file paths are not theirs.
    st.session_state[SAID] = UNREACHABLE_MESSAGE if settings().demo else message_of(exc)
    return True


def back() -> None:
    st.session_state.pop(DOWN, None)


def not_sent() -> str:
    """For a message that went back into the box: what was wrong, when the studio knows more
    than that the database is away (a file that refuses writes: which file, what to check)."""
    said = str(st.session_state.get(SAID, UNREACHABLE_MESSAGE))
    if said == UNREACHABLE_MESSAGE:
        return "The studio could not reach its database, so your message was not sent: it is back in the box."
    return f"Your message was not sent: it is back in the box. {said}"


def notice() -> None:
    st.warning(str(st.session_state.get(SAID, UNREACHABLE_MESSAGE)), icon=":material/cloud_off:")


def reachable() -> bool:
    try:
        return service().reachable()
    except Exception as exc:  # the service itself may not start while it is away
        if not unreachable(exc):
            raise
        return False


@st.fragment(run_every=RETRY_S)
def _come_back() -> None:
    """Looks for the database every few seconds while it is away; the whole page runs again once
    it is back (only then: nothing else runs meanwhile)."""
    if reachable():
        back()
        st.rerun(scope="app")


def guarded(run: Callable[[], None], box: Callable[[], None] | None = None) -> None:
    """Run a page; if the database is unreachable, say so, draw the chat box (`box`, so a message
    sent now is kept) and wait for the database instead of showing a traceback. Guards nest (the
    router's around the studio's own): the inner one that handled an outage has the last word."""
    try:
        run()
    except Exception as exc:  # st.rerun and st.stop are BaseExceptions: they pass
        if not saw(exc):
            raise
        if reachable():
            # Back already, or never away (an error that only looks like it): one more run tells
            # which, and a second failure in a row is shown as the error it is, not waited on.
            if st.session_state.get(AGAIN):
                st.session_state.pop(AGAIN, None)
                back()
                raise
            st.session_state[AGAIN] = True
            st.rerun()
        st.session_state[HANDLED] = True
        notice()
        if box is not None:
            box()
        _come_back()
    else:
        if not st.session_state.pop(HANDLED, False):
            back()
            st.session_state.pop(AGAIN, None)
