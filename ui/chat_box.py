"""The chat input, and the words it keeps: whatever a person sent that the studio could not yet
take in (the database was unreachable) goes back into the box, with its images, until it is sent.

The studio page and the outage notice draw the same box (same key, same arguments, so the same
widget in the browser): a message sent while the database is down reaches the studio, is held
here, and is in the box again when the page redraws."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.media.images import EXTENSIONS

UPLOAD_TRANSPORT_MB = 200  # server.maxUploadSize in .streamlit/config.toml
HELD = "held-messages"
PLACEHOLDER = "Describe an image, or an edit to the last one…"


def prompt_key(conversation_id: str | None) -> str:
    """The chat input's key: one per conversation, so a half-typed prompt never follows the person
    into another one. A conversation made by its first message keeps the input it was typed in:
    a new key there would replace the input under a person already typing the next message (the
    words were lost)."""
    drafts = st.session_state.get("new-drafts", 0)
    if conversation_id is None:
        return f"prompt-new-{drafts}"
    return str(st.session_state.get(f"prompt-of-{conversation_id}", f"prompt-{conversation_id}"))


def open_prompt_key() -> str:
    """The box of the conversation in the address, known without the database."""
    return prompt_key(st.query_params.get("session"))


def hold(key: str, text: str, files: list[Any], hashes: list[str] | None = None) -> None:
    """Keep a message from the moment it is sent until the studio has it (`release`): its words,
    its files, and images already in the studio that go with it (a seed, once its conversation
    is made)."""
    st.session_state.setdefault(HELD, {})[key] = (text, list(files), list(hashes or []))


def release(key: str) -> None:
    st.session_state.get(HELD, {}).pop(key, None)
    st.session_state.pop(f"{key}-restored", None)


def held(key: str) -> tuple[str, list[Any], list[str]]:
    found = st.session_state.get(HELD, {}).get(key)
    return (found[0], list(found[1]), list(found[2])) if found else ("", [], [])


def held_files(key: str) -> list[Any]:
    """Images of a held message: they go with the next message sent from this box."""
    return held(key)[1]


def held_hashes(key: str) -> list[str]:
    return held(key)[2]


def _drop_files(key: str) -> None:
    text, _files, hashes = held(key)
    hold(key, text, [], hashes)


def emptied(key: str) -> bool:
    """A message is held for this box but the box no longer shows its words (it was just sent)."""
    return key in st.session_state.get(HELD, {}) and not st.session_state.get(f"{key}-restored")


def chat_box(key: str) -> Any:
    """Draw the box. A held message's words are put back in it (set before it is drawn: a
    trigger widget shows them without sending them); its images are listed under it."""
    found = st.session_state.get(HELD, {}).get(key)
    # Put back once, and again whenever the box is new (after another page or conversation):
    # not on every run, which would undo what the person typed since.
    if found and (not st.session_state.get(f"{key}-restored") or key not in st.session_state):
        if found[0]:
            st.session_state[key] = found[0]
        st.session_state[f"{key}-restored"] = True
    value = st.chat_input(
        PLACEHOLDER,
        accept_file="multiple",
        file_type=sorted({*EXTENSIONS.values(), "jpeg"} - {"bin"}),
        submit_mode="disable",
        # Larger than the studio's own cap, so an oversized file reaches the studio and is refused
        # there with a message, instead of being dropped by the browser while the words go out.
        max_upload_size=UPLOAD_TRANSPORT_MB,
        # One input per conversation: a half-typed prompt or its files never follow the person
        # into another conversation.
        key=key,
    )
    if value is not None:
        st.session_state.pop(f"{key}-restored", None)
    if found and found[1]:
        names = ", ".join(getattr(f, "name", "image") for f in found[1])
        st.caption(f":material/attach_file: Kept from your message: {names}. They go with the next message you send.")
        st.button("Remove the kept images", key=f"{key}-drop", type="tertiary", on_click=_drop_files, args=(key,))
    return value
