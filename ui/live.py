"""The live part of the studio page: turns in flight (queued with their place, running with
their elapsed time, a Cancel button), and a watch that refreshes the page when anything lands,
from this tab, another tab or another server process."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core.service import StudioService
from core.values import Conversation, Turn, TurnStatus
from ui.turn_view import MODEL_AVATAR

WATCH_BUSY_S = 1.0
# A tab that only waits for other tabs' turns asks less often.
WATCH_IDLE_S = 3.0


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _cancel(svc: StudioService, turn_id: int) -> None:
    was = svc.turns.cancel(turn_id)
    if was == TurnStatus.RUNNING:
        st.session_state["flash"] = (
            "Cancelled. The call had already reached the service and cannot be recalled, so it may still be "
            "billed; if its answer arrives it is kept beside the turn but never sent to the model."
        )
    elif was == TurnStatus.QUEUED:
        st.session_state["flash"] = "Cancelled before it was sent: nothing was billed."


def _status(svc: StudioService, turn: Turn, place: int | None, now: dt.datetime) -> None:
    with st.chat_message("assistant", avatar=MODEL_AVATAR):
        if turn.status == TurnStatus.QUEUED:
            line = f"{_ordinal(place)} in line" if place else "in line"
            st.info(
                f"Queued, {line}: it starts as soon as one of the server's {svc.runner.workers} workers is free.",
                icon=":material/schedule:",
            )
        else:
            elapsed = (now - turn.started_at).total_seconds() if turn.started_at else 0.0
            st.info(f"Generating… {max(0.0, elapsed):.0f} s", icon=":material/hourglass_top:")
        st.button(
            "Cancel",
            icon=":material/stop_circle:",
            key=f"cancel-{turn.id}",
            on_click=_cancel,
            args=(svc, turn.id),
            help="Stops waiting for this turn. A call already sent may still be billed.",
        )


def _watch(svc: StudioService, conversation: Conversation) -> None:
    mine = {t.id: t for t in conversation.in_flight}
    newest, states = svc.watch(conversation.id, set(mine))
    if newest != conversation.version or any(
        states.get(i) is None or states[i].status != t.status for i, t in mine.items()
    ):
        st.rerun(scope="app")
    places = svc.queue_places(list(states.values()))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for turn in states.values():
        _status(svc, turn, places.get(turn.id), now)


_watch_busy = st.fragment(run_every=WATCH_BUSY_S)(_watch)
_watch_idle = st.fragment(run_every=WATCH_IDLE_S)(_watch)


def watch_conversation(svc: StudioService, conversation: Conversation) -> None:
    (_watch_busy if conversation.in_flight else _watch_idle)(svc, conversation)
