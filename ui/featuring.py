"""An admin's Feature as example / Unfeature, on the Conversations and Gallery pages of a demo."""

from __future__ import annotations

import streamlit as st

from core.errors import StudioError
from core.workspace import Workspace


def _toggle(svc: Workspace, conversation_id: str, on: bool, flash_key: str) -> None:
    try:
        svc.demo.feature(conversation_id, on)
        st.toast(
            "Featured: visitors see it on the start page." if on else "No longer featured.", icon=":material/star:"
        )
    except StudioError as error:
        st.session_state[flash_key] = error.message


def can_feature(svc: Workspace) -> bool:
    return svc.settings.demo and svc.user.is_admin and not svc.user.is_visitor


def feature_button(svc: Workspace, conversation_id: str, featured: set[str], *, key: str, flash_key: str) -> None:
    """Only for a demo's admins: nothing is drawn for anyone else."""
    if not can_feature(svc):
        return
    on = conversation_id in featured
    st.button(
        "Unfeature" if on else "Feature as example",
        key=key,
        icon=":material/hide_source:" if on else ":material/featured_play_list:",
        on_click=_toggle,
        args=(svc, conversation_id, not on, flash_key),
        width="stretch",
        help="Shown on the demo's start page, for visitors to take up as their own copy.",
    )
