"""Beside the chat input: the brand kit's picker. Chosen items go with the next message as
images (checked and sized when they were added, counted against the model's image limit, shown
in the message like an upload); the choice belongs to this tab and conversation."""

from __future__ import annotations

import streamlit as st

from core.errors import StudioError
from core.workspace import Workspace
from ui.common import plain, preview

CLEAR = "kit-picker-clear"


def picker_key(conversation_id: str | None) -> str:
    return f"kit-pick-{conversation_id or 'new'}"


def kit_picker(svc: Workspace, conversation_id: str | None, prompt_key: str | None = None) -> list[int]:
    """The kit items chosen for the next message (ids); the prompt presets, inserted into the
    chat input (`prompt_key`) with their placeholders filled in."""
    if not svc.review.enabled:
        return []
    key = picker_key(conversation_id)
    if st.session_state.pop(CLEAR, None) == key:
        st.session_state.pop(key, None)  # sent with the last message
    items = {item.id: item for item in svc.review.kit()}
    chosen = [i for i in st.session_state.get(key, []) if i in items]
    label = f"Brand kit ({len(chosen)})" if chosen else "Brand kit"
    with st.popover(label, icon=":material/collections_bookmark:", help="Attach the team's reference images"):
        if not items:
            st.caption("The brand kit is empty: add logos and product shots on the Brand kit page.")
        st.multiselect(
            "Attach from the brand kit",
            list(items),
            format_func=lambda i: items[i].name + (f" ({', '.join(items[i].tags)})" if items[i].tags else ""),
            key=key,
            placeholder="Choose items",
        )
        for item_id in st.session_state.get(key, []):
            if item_id in items:
                preview(svc, items[item_id].image_hash, width=96, alt=f"Brand kit: {items[item_id].name}")
        if prompt_key is not None:
            _presets(svc, prompt_key)
    if chosen:
        st.caption(plain("With your next message: " + ", ".join(items[i].name for i in chosen)))
    return chosen


def sent(conversation_id: str | None) -> None:
    """The chosen items went with a message: the picker starts empty next time."""
    st.session_state[CLEAR] = picker_key(conversation_id)


def _insert(svc: Workspace, preset_id: int, names: list[str], prompt_key: str) -> None:
    """Put the filled preset into the chat input (a trigger widget: its text can be set)."""
    values = {name: st.session_state.get(f"preset-{preset_id}-{name}", "") for name in names}
    try:
        st.session_state[prompt_key] = svc.review.fill_preset(preset_id, values)
    except StudioError as error:
        st.session_state["flash"] = error.message


def _presets(svc: Workspace, prompt_key: str) -> None:
    presets = {p.id: p for p in svc.review.presets()}
    st.divider()
    if not presets:
        st.caption("No prompt presets yet: add the team's looks on the Brand kit page.")
        return
    chosen = st.selectbox(
        "Prompt preset",
        list(presets),
        index=None,
        format_func=lambda i: presets[i].name,
        key="preset-choice",
        placeholder="Insert a preset into your message",
    )
    if chosen is None or chosen not in presets:
        return
    preset = presets[chosen]
    st.text(preset.body)
    names = preset.placeholders
    for name in names:
        st.text_input(name, key=f"preset-{preset.id}-{name}")
    st.button(
        "Insert into the message",
        icon=":material/input:",
        key=f"preset-insert-{preset.id}",
        on_click=_insert,
        args=(svc, preset.id, names, prompt_key),
    )
