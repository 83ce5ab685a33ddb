"""Takes of one prompt side by side as they land: choose one and it becomes the current version;
the others stay beside it as versions of their own."""

from __future__ import annotations

import streamlit as st

from core.money.prices import dollars
from core.values import Conversation, Exchange, TurnStatus
from core.workspace import Workspace
from ui.common import preview, safe_markdown
from ui.review_panel import render_under_version
from ui.turn_view import MODEL_AVATAR, act, render_actions, render_user

ACROSS = 4  # takes in a row: more than this (Another take, again and again) wrap to the next row


def render_takes(svc: Workspace, conversation: Conversation, group: list[Exchange]) -> None:
    render_user(svc, group[0].request, conversation)
    owner = svc.can_send(conversation)
    landed = sum(1 for e in group if e.replayable)
    with st.chat_message("assistant", avatar=MODEL_AVATAR):
        waiting = len(group) - landed
        st.caption(
            f"{len(group)} takes of this prompt"
            + (f", {waiting} on the way" if waiting else "")
            + ". The framed one is current: your next message edits it. Choose another with Use this one."
        )
        for row in range(0, len(group), ACROSS):
            columns = st.columns(ACROSS)
            for n, exchange in enumerate(group[row : row + ACROSS], start=row + 1):
                with columns[n - row - 1]:
                    _take(svc, conversation, exchange, n, owner)


def _take(svc: Workspace, conversation: Conversation, exchange: Exchange, n: int, owner: bool) -> None:
    request, reply = exchange.request, exchange.reply
    current = reply is not None and reply.id == conversation.tip_id
    with st.container(border=current):
        if request.status.in_flight or reply is None:
            where = "in line" if request.status == TurnStatus.QUEUED else "being made"
            st.info(f"Take {n}: {where}…", icon=":material/hourglass_top:")
            return
        image = reply.result_image
        if image is not None and image.image_hash:
            preview(svc, image.image_hash, alt=f"Take {n} for: {request.text[:200] or 'your image'}")
        cost = dollars(reply.cost_micro, unknown="cost unknown")
        st.caption(f"**Take {n}**" + (" · current" if current else "") + f" · {cost}")
        if reply.text:
            with st.expander("The model's words"):
                st.markdown(safe_markdown(reply.text))
        if owner and not current:
            st.button(
                "Use this one",
                icon=":material/check:",
                key=f"use-take-{reply.id}",
                on_click=act,
                args=(svc, "tip", reply.id, conversation.version),
                width="stretch",
            )
        if current and image is not None and image.image_hash:
            # The current take has no "Branch from here": the next message edits it already.
            render_actions(svc, conversation, reply, image.image_hash, last=True)
        if reply.status == TurnStatus.OK:
            render_under_version(svc, conversation, reply.id)  # its status, comments, Review
