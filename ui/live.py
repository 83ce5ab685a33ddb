"""The live part of the studio page: turns in flight (queued with their place, running with
their elapsed time, a Cancel button), and a watch that refreshes the page when anything lands,
from this tab, another tab or another server process."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import streamlit as st

from core.values import Conversation, Turn, TurnStatus
from core.workspace import Workspace
from ui.common import announce, share_token, visible_key
from ui.turn_view import MODEL_AVATAR

# How often an open tab looks for what changed: one small query when nothing did.
WATCH_BUSY_S = 1.0


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _cancel(svc: Workspace, turn_id: int) -> None:
    was = svc.cancel(turn_id)
    if was == TurnStatus.RUNNING:
        st.session_state["flash"] = (
            "Cancelled. The call had already reached the service and cannot be recalled, so it may still be "
            "billed; if its answer arrives it is kept beside the turn but never sent to the model."
        )
    elif was == TurnStatus.QUEUED:
        st.session_state["flash"] = "Cancelled before it was sent: nothing was billed."


def _status(svc: Workspace, turn: Turn, place: int | None, now: dt.datetime, owner: bool) -> None:
    with st.chat_message("assistant", avatar=MODEL_AVATAR):
        if turn.status == TurnStatus.QUEUED:
            line = f"{_ordinal(place)} in line" if place else "in line"
            st.info(
                f"Queued, {line}: it starts as soon as one of the server's {svc.workers} workers is free.",
                icon=":material/schedule:",
            )
        else:
            elapsed = (now - turn.started_at).total_seconds() if turn.started_at else 0.0
            st.info(f"Generating… {max(0.0, elapsed):.0f} s", icon=":material/hourglass_top:")
        if not owner:
            return
        st.button(
            "Cancel",
            icon=":material/stop_circle:",
            key=f"cancel-{turn.id}",
            on_click=_cancel,
            args=(svc, turn.id),
            help="Stops waiting for this turn. A call already sent may still be billed.",
        )


def _news(conversation: Conversation) -> str:
    """One line for screen readers about the newest turn; it changes only when the turn does."""
    exchanges = conversation.shown
    if not exchanges:
        return ""
    request, reply = exchanges[-1].request, exchanges[-1].reply
    if request.status == TurnStatus.QUEUED:
        return "Your message is queued."
    if request.status == TurnStatus.RUNNING:
        return "The model is working on your message."
    if request.status == TurnStatus.OK and reply is not None:
        return f"A new image is ready, for: {request.text[:200] or 'your image'}"
    return "Your last message did not go through; the chat says why, and your words are kept."


def newest_shown(conversation: Conversation) -> Conversation:
    """The newest copy of the conversation this tab has drawn: the live chat keeps it current."""
    return st.session_state.get(f"live-{conversation.id}") or conversation


def remember_shown(conversation: Conversation) -> None:
    # A full run brings a fresh copy: the live chat (and the sidebar's money) go on from it.
    st.session_state[f"live-{conversation.id}"] = conversation


def shown_version_key(conversation_id: str) -> str:
    return f"shown-version-{conversation_id}"


def _live(
    svc: Workspace,
    conversation: Conversation,
    render_history: Callable[[Workspace, Conversation], None],
    visible: int,
) -> None:
    """The chat itself, redrawn on its own every second or so: new turns from other tabs and
    processes, statuses, results. Only this fragment reruns, never the whole page, so a message
    being typed or sent in the chat input is never caught up in a refresh."""
    if st.session_state.pop("rerun-page", False):
        st.rerun(scope="app")  # this tab's own click changed what the whole page shows
    # A full run stores a fresh copy (remember_shown); a fragment run goes on from the last one drawn.
    shown = newest_shown(conversation)
    token = share_token(shown.id)
    mine = {t.id: t for t in shown.in_flight}
    newest, states = svc.watch(shown.id, set(mine), token=token)
    if newest != (shown.version, shown.tip_id) or any(
        states.get(i) is None or states[i].status != t.status for i, t in mine.items()
    ):
        shown = svc.conversation(shown.id, visible=st.session_state.get(visible_key(shown.id), visible), token=token)
        states = {t.id: t for t in shown.in_flight}
    remember_shown(shown)
    # What this tab shows is what its next message is sent against.
    st.session_state[shown_version_key(shown.id)] = shown.version
    render_history(svc, shown)
    announce(_news(shown))
    places = svc.queue_places(list(states.values()))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    owner = svc.can_change(shown)
    for turn in states.values():
        _status(svc, turn, places.get(turn.id), now, owner)


_live_fragment = st.fragment(run_every=WATCH_BUSY_S)(_live)


def live_chat(
    svc: Workspace,
    conversation: Conversation,
    render_history: Callable[[Workspace, Conversation], None],
    visible: int,
) -> None:
    # The page stored this run's fresh copy (remember_shown) before its sidebar read it.
    _live_fragment(svc, conversation, render_history, visible)
