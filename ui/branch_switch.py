"""The ‹ 1 / 2 › switcher on a message whose prompt was edited and resent, or taken again: it
moves between the sibling branches (to the newest answer down the one chosen), so the chat
always reads as one branch, never as siblings one after the other."""

from __future__ import annotations

import streamlit as st

from core.errors import StudioError
from core.values import Conversation, Exchange, leaf_of, siblings
from core.workspace import Workspace
from ui.common import share_token


def _go(svc: Workspace, reply_id: int) -> None:
    try:
        svc.versions.branch(reply_id)
    except StudioError as error:
        st.session_state["flash"] = error.message
    # The sidebar and the page's dialogs sit outside the live chat: redraw the whole page.
    st.session_state["rerun-page"] = True


def render_switch(svc: Workspace, conversation: Conversation, everything: list[Exchange], exchange: Exchange) -> None:
    if not exchange.replayable:
        return
    family = siblings(everything, exchange)
    if len(family) < 2:
        return
    at = next(i for i, e in enumerate(family) if e.request.id == exchange.request.id)
    owner = svc.can_change(conversation) and share_token(conversation.id) is None
    with st.container(horizontal=True, horizontal_alignment="right", key=f"switch-{exchange.request.id}"):
        for step, mark, label in ((-1, "‹", "Previous"), (1, "›", "Next")):
            target = at + step
            if step == 1:
                st.caption(f"{at + 1} / {len(family)}")
            reply = family[target].reply if 0 <= target < len(family) else None
            st.button(
                mark,
                key=f"switch-{exchange.request.id}-{step}",
                help=f"{label} version of this prompt (edited or taken again)",
                type="tertiary",
                disabled=reply is None or not owner,
                on_click=_go,
                args=(svc, leaf_of(everything, reply.id) if reply is not None else 0),
            )
