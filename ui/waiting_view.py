"""Messages typed ahead, under the turn being made: each waits in order and goes by itself when
the turn before it lands. Until then it can be edited or removed; if the turn before it did not
land, it says why and offers to send it against the current version, or to remove it."""

from __future__ import annotations

import streamlit as st

from core.errors import StudioError
from core.values import Conversation, Seen, WaitingMessage
from core.workspace import Workspace
from ui.common import plain, preview

EDITING = "waiting-editing"


def _flash(text: str) -> None:
    st.session_state["waiting-note"] = text


def _save(svc: Workspace, message: WaitingMessage) -> None:
    try:
        svc.edit_waiting(message.id, st.session_state.get(f"waiting-text-{message.id}", message.text))
    except StudioError as error:
        _flash(error.message)
    st.session_state.pop(EDITING, None)


def _remove(svc: Workspace, message: WaitingMessage) -> None:
    try:
        svc.remove_waiting(message.id)
    except StudioError as error:
        _flash(error.message)
    if st.session_state.get(EDITING) == message.id:
        st.session_state.pop(EDITING, None)


def _send_now(svc: Workspace, message: WaitingMessage, seen: Seen | int | None) -> None:
    try:
        svc.send_waiting(message.id, seen=seen)
    except StudioError as error:
        _flash(error.message)
    st.session_state["rerun-page"] = True  # the chat shows the new turn at once


def render_waiting(svc: Workspace, conversation: Conversation, seen: Seen | int | None) -> None:
    messages = svc.waiting(conversation.id)
    if note := st.session_state.pop("waiting-note", None):
        st.warning(plain(note), icon=":material/info:")
    for n, message in enumerate(messages, start=1):
        with st.chat_message("user"), st.container(key=f"waiting-{message.id}"):
            takes = f", {message.takes} takes" if message.takes > 1 else ""
            if message.held:
                st.warning(f"Not sent yet{takes}. {message.held}", icon=":material/pause_circle:")
            else:
                line = "next" if n == 1 else f"{n}th" if n > 3 else {2: "2nd", 3: "3rd"}[n]
                st.caption(
                    f"Queued ({line}{takes}): it goes by itself when the turn before it lands, editing its result."
                )
            if st.session_state.get(EDITING) == message.id:
                st.text_area(
                    "Edit the queued message",
                    value=message.text,
                    key=f"waiting-text-{message.id}",
                    label_visibility="collapsed",
                )
                left, right, _ = st.columns([1, 1, 4])
                left.button("Save", key=f"waiting-save-{message.id}", on_click=_save, args=(svc, message))
                right.button(
                    "Keep as it was",
                    key=f"waiting-keep-{message.id}",
                    on_click=lambda: st.session_state.pop(EDITING, None),
                    type="tertiary",
                )
            else:
                st.markdown(plain(message.text) or "*(images only)*")
            for image_hash in message.image_hashes:
                preview(svc, image_hash, width=160, alt="An image sent with the queued message")
            cols = st.columns([3, 1, 3])
            if message.held:
                cols[0].button(
                    "Send against the current version",
                    key=f"waiting-send-{message.id}",
                    icon=":material/send:",
                    on_click=_send_now,
                    args=(svc, message, seen),
                )
            elif st.session_state.get(EDITING) != message.id:
                cols[0].button(
                    "Edit",
                    key=f"waiting-edit-{message.id}",
                    icon=":material/edit:",
                    type="tertiary",
                    on_click=lambda m=message.id: st.session_state.__setitem__(EDITING, m),
                )
            cols[1].button(
                "Remove",
                key=f"waiting-remove-{message.id}",
                icon=":material/close:",
                type="tertiary",
                on_click=_remove,
                args=(svc, message),
            )
