"""The live part of the studio page: the chat, turns in flight (queued with their place, running
with their elapsed time, a Cancel button), and a watch that redraws the chat when anything lands,
from this tab, another tab or another server process.

An open tab costs next to nothing while nothing happens: only a tiny watch runs on a timer (a
tick from the browser, one small query, no element drawn again). The chat, the statuses and the
sidebar's money are fragments of their own, redrawn together only when the watch sees a change
or the person acts. A redraw of a fragment never touches the chat input or an open dialog."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core.errors import NotFound
from core.money.durations import says
from core.values import Conversation, Turn, TurnStatus
from core.workspace import Workspace
from ui import draining, outage
from ui.common import announce, share_token, visible_key
from ui.turn_view import MODEL_AVATAR, render_live_progress
from ui.waiting_view import render_waiting

# How often an open tab looks for what changed: one small query when nothing did. With a turn
# in flight a landed result shows within about a second; with none, nothing here can land
# before someone sends, which the watch then sees within the slower pace.
WATCH_BUSY_S = 1.0
WATCH_IDLE_S = 1.0
CHAT, WATCH, COST = "live-chat", "live-watch", "live-cost"

_ticker = st.components.v2.component("studio.watch", js=(Path(__file__).parent / "assets" / "watch.js").read_text())
_clock = st.components.v2.component(
    "studio.elapsed",
    js=(Path(__file__).parent / "assets" / "elapsed.js").read_text(),
    css=".elapsed{font-size:0.875rem;opacity:0.75;font-variant-numeric:tabular-nums;padding:0 0 0.25rem 0}",
)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _cancel(svc: Workspace, turn_id: int) -> None:
    # What it means (nothing billed, or may still be billed) is said at the turn itself, at once.
    # The watch sees the turn's new status at its next tick and redraws the chat with it.
    svc.cancel(turn_id)


def _status(svc: Workspace, turn: Turn, place: int | None, now: dt.datetime, owner: bool, model: str) -> None:
    with st.chat_message("assistant", avatar=MODEL_AVATAR):
        if turn.status == TurnStatus.QUEUED:
            line = f"{_ordinal(place)} in line" if place else "in line"
            st.info(
                f"Queued, {line}: it starts as soon as one of the server's {svc.workers} workers is free.",
                icon=":material/schedule:",
            )
        else:
            elapsed = (now - turn.started_at).total_seconds() if turn.started_at else 0.0
            size = turn.settings.image_size
            found = svc.typical(model, size)
            usually = says(found, size)
            st.info(f"Generating… {usually}" if usually else "Generating…", icon=":material/hourglass_top:")
            _clock(
                key=f"elapsed-{turn.id}",
                data={"elapsed_s": max(0.0, elapsed), "high_s": found.p90_s if found else 0},
                height=24,
            )
            render_live_progress(svc, st.session_state.get(_progress_key(turn.conversation_id), {}).get(turn.id))
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


def _stale_key(conversation_id: str) -> str:
    return f"live-stale-{conversation_id}"


def _progress_key(conversation_id: str) -> str:
    return f"live-progress-{conversation_id}"


def _on_tick(svc: Workspace, conversation_id: str) -> None:
    """The watch: one small query. Only when it sees a change are the chat, the statuses and the
    sidebar's money redrawn (together); otherwise only the watch itself runs again."""
    shown: Conversation | None = st.session_state.get(f"live-{conversation_id}")
    if shown is None:
        return
    mine = {t.id: t for t in shown.in_flight}
    try:
        # Checked like every other read: a revoked link, an unshared or deleted conversation.
        newest, states = svc.watch(shown.id, set(mine), token=share_token(shown.id))
    except NotFound:
        # This tab may no longer read it: the whole page runs again and says so, and nothing
        # of the conversation stays on screen.
        st.session_state["rerun-page"] = True
        st.rerun([CHAT, WATCH, COST])
        return
    except Exception as exc:
        if not outage.saw(exc):
            raise
        # The chat stays as it was drawn; under it the watch says why nothing moves, and goes
        # on looking (the next tick that reaches the database redraws everything).
        st.rerun([WATCH])
        return
    if outage.down():
        outage.back()
        st.session_state[_stale_key(conversation_id)] = True
        st.rerun([CHAT, WATCH, COST])
        return
    if newest != (shown.version, shown.tip_id) or any(
        states.get(i) is None or states[i].status != t.status for i, t in mine.items()
    ):
        st.session_state[_stale_key(conversation_id)] = True
        st.rerun([CHAT, WATCH, COST])
    running = {i for i, t in mine.items() if t.status == TurnStatus.RUNNING}
    if running and svc.settings.stream:
        # On the same tick: a streamed turn's newest thought or draft redraws its status only.
        try:
            live = svc.live_progress(shown.id, running, token=share_token(shown.id))
        except Exception as exc:
            if not outage.saw(exc):
                raise
            st.rerun([WATCH])  # gone between the two reads: the watch says so
            return
        if live != st.session_state.get(_progress_key(conversation_id), {}):
            st.session_state[_progress_key(conversation_id)] = live
            st.rerun([WATCH])


@st.fragment(key=CHAT)
def _chat(
    svc: Workspace,
    conversation: Conversation,
    render_history: Callable[[Workspace, Conversation], None],
    visible: int,
) -> None:
    """The chat itself. Only this fragment reruns when something lands, never the whole page, so
    a message being typed or sent in the chat input is never caught up in a refresh."""
    if st.session_state.pop("rerun-page", False):
        st.rerun(scope="app")  # this tab's own click changed what the whole page shows
    # A full run stores a fresh copy (remember_shown); a redraw after the watch saw a change reads
    # one; any other fragment run (a click inside the chat) goes on from the last one drawn.
    shown = newest_shown(conversation)
    try:
        if st.session_state.pop(_stale_key(shown.id), False):
            try:
                shown = svc.conversation(
                    shown.id, visible=st.session_state.get(visible_key(shown.id), visible), token=share_token(shown.id)
                )
            except NotFound:
                st.rerun(scope="app")  # no longer readable since the tick: the page says so
            remember_shown(shown)
        # What this tab shows is what its next message is sent against.
        st.session_state[shown_version_key(shown.id)] = shown.seen
        render_history(svc, shown)
    except Exception as exc:
        if not outage.saw(exc):
            raise
        # A click in the chat while the database is away: said plainly; the watch redraws the
        # chat once it is back.
        outage.notice()
        st.session_state[_stale_key(shown.id)] = True
        return
    announce(_news(shown))


@st.fragment(key=WATCH)
def _watch(svc: Workspace, conversation: Conversation) -> None:
    """Turns in flight with their place or elapsed time, and the watch's ticker."""
    if st.session_state.pop("rerun-page", False):
        st.rerun(scope="app")  # this tab's own click changed what the whole page shows
    shown = newest_shown(conversation)
    busy = shown.in_flight
    _ticker(
        key=f"watch-{shown.id}",
        data={"every_ms": int(1000 * (WATCH_BUSY_S if busy else WATCH_IDLE_S))},
        height=0,
        on_tick_change=lambda: _on_tick(svc, shown.id),
    )
    if outage.down():
        outage.notice()  # nothing here reads the database until the watch reaches it again
        return
    draining.notice(svc)
    try:
        owner = svc.can_change(shown)
        if busy:
            places = svc.queue_places(list(busy))
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            for turn in busy:
                _status(svc, turn, places.get(turn.id), now, owner, shown.model)
        if owner:
            # Messages typed ahead wait under the turn being made (read when this redraws, not per tick).
            render_waiting(svc, shown, st.session_state.get(shown_version_key(shown.id), shown.seen))
    except Exception as exc:
        if not outage.saw(exc):
            raise
        outage.notice()  # the watch's next tick that reaches the database redraws all of it


def live_chat(
    svc: Workspace,
    conversation: Conversation,
    render_history: Callable[[Workspace, Conversation], None],
    visible: int,
) -> None:
    # The page stored this run's fresh copy (remember_shown) before its sidebar read it.
    _chat(svc, conversation, render_history, visible)
    _watch(svc, conversation)
