"""Rendering one exchange of the conversation: the user's message and the model's answer."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.images import EXTENSIONS
from core.service import StudioService
from core.values import Conversation, Exchange, Turn, TurnStatus
from pages.common import plain, preview

ADVICE = {
    "bad_key": "Check `COMETAPI_KEY`.",
    "quota": "The service asked us to slow down.",
    "service_down": "The service had trouble; nothing was lost.",
    "timeout": "Large images can take minutes.",
    "blocked": "The prompt itself was refused.",
    "too_large": "The conversation is too large to send.",
    "bad_request": "If this keeps happening, use Continue on the latest image to go on in a fresh conversation.",
}
MODEL_AVATAR = ":material/palette:"


def render_user(svc: StudioService, turn: Turn) -> None:
    with st.chat_message("user"):
        if turn.text:
            st.markdown(plain(turn.text))
        images = [p for p in turn.parts if p.kind == "image" and p.image_hash]
        if images:
            columns = st.columns(min(len(images), 4))
            for i, part in enumerate(images):
                with columns[i % len(columns)]:
                    assert part.image_hash is not None
                    preview(svc, part.image_hash, width=180)


def _settings_caption(turn: Turn) -> str:
    s = turn.settings
    bits = [s.aspect_ratio, s.image_size or "default size", "image only" if s.image_only else "image + text"]
    if s.grounding:
        bits.append("Search grounding")
    if s.thinking_level:
        bits.append(f"thinking {s.thinking_level}")
    usage = turn.usage or {}
    if usage.get("totalTokenCount"):
        tokens = f"{usage['totalTokenCount']:,} tokens"
        if usage.get("thoughtsTokenCount"):
            tokens += f" ({usage['thoughtsTokenCount']:,} thinking)"
        bits.append(tokens)
    if turn.finish_reason:
        bits.append(turn.finish_reason)
    if turn.model_version:
        bits.append(turn.model_version)
    return " · ".join(bits)


def _thinking(svc: StudioService, turn: Turn) -> None:
    if not turn.thoughts:
        return
    with st.expander("Thinking", icon=":material/psychology:", expanded=False):
        for part in turn.thoughts:
            if part.kind == "text" and part.text:
                st.markdown(plain(part.text))
            elif part.kind == "image" and part.image_hash:
                preview(svc, part.image_hash, width=240, caption="Draft")


def _grounding(grounding: dict[str, Any] | None) -> None:
    if not grounding:
        return
    queries = grounding.get("webSearchQueries") or []
    if queries:
        st.caption("Searched for: " + ", ".join(plain(q) for q in queries))
    rendered = (grounding.get("searchEntryPoint") or {}).get("renderedContent")
    if rendered:
        # Google asks apps to show its search suggestions; st.html sanitises the markup.
        st.html(rendered)


def _actions(svc: StudioService, conversation: Conversation, turn: Turn, image_hash: str, last: bool) -> None:
    info = svc.images.info(image_hash)
    extension = EXTENSIONS.get(info.mime_type if info else "", "png")
    with st.container(horizontal=True):
        st.download_button(
            "Download",
            help="Full resolution" + (f", {info.width}×{info.height}" if info and info.width else ""),
            # Deferred: the full-resolution bytes are read only when someone downloads.
            data=lambda: svc.images.data(image_hash),
            file_name=f"studio-{conversation.id[:8]}-{turn.position}.{extension}",
            mime=info.mime_type if info else "application/octet-stream",
            icon=":material/download:",
            key=f"download-{turn.id}",
            on_click="ignore",
        )
        if st.button(
            "Continue",
            icon=":material/call_split:",
            key=f"branch-{turn.id}",
            help="Start a new conversation seeded with this image",
        ):
            branch = svc.continue_from(conversation.id, image_hash)
            st.query_params["session"] = branch.id
            st.rerun()
        if last and st.button(
            "Redo",
            icon=":material/refresh:",
            key=f"regen-{turn.id}",
            help="Regenerate this answer; the current one is kept but no longer sent",
        ):
            st.session_state["pending_action"] = ("regenerate", conversation.id)
            st.rerun()


def render_failure(turn: Turn, reply: Turn | None) -> None:
    with st.chat_message("assistant", avatar=MODEL_AVATAR):
        message = turn.error_message or "This turn failed."
        if turn.status == TurnStatus.INTERRUPTED:
            st.warning(plain(message), icon=":material/pause_circle:")
        else:
            advice = ADVICE.get(turn.error_kind or "", "")
            st.error(plain(message) + (f"  \n{advice}" if advice else ""), icon=":material/error:")
        if st.button("Retry", icon=":material/replay:", key=f"retry-{turn.id}"):
            st.session_state["pending_action"] = ("retry", turn.id)
            st.rerun()
        if reply is not None and reply.settings:
            st.caption(_settings_caption(reply))


def render_exchange(svc: StudioService, conversation: Conversation, exchange: Exchange, last: bool) -> None:
    request, reply = exchange.request, exchange.reply
    render_user(svc, request)
    if request.status == TurnStatus.PENDING:
        with st.chat_message("assistant", avatar=MODEL_AVATAR):
            st.info("Still working on this turn… the page refreshes when it is done.", icon=":material/hourglass_top:")
        return
    if request.status in (TurnStatus.FAILED, TurnStatus.INTERRUPTED):
        render_failure(request, reply)
        return
    if request.status == TurnStatus.REPLACED and reply is not None and reply.status != TurnStatus.REPLACED:
        st.caption(f"Retried below. {plain(request.error_message or '')}")
        return
    if reply is None:
        if request.status == TurnStatus.REPLACED:
            st.caption("Retried below.")
        return
    with st.chat_message("assistant", avatar=MODEL_AVATAR):
        if reply.status == TurnStatus.REPLACED:
            with st.expander("Earlier answer, replaced by a regeneration", icon=":material/history:"):
                if reply.result_image and reply.result_image.image_hash:
                    preview(svc, reply.result_image.image_hash, width=240)
            return
        _thinking(svc, reply)
        if reply.text:
            st.markdown(plain(reply.text))
        image = reply.result_image
        if image is not None and image.image_hash:
            # A column, not a pixel width: st.image then serves the stored preview untouched.
            frame, _ = st.columns([3, 2])
            with frame:
                preview(svc, image.image_hash)
                _actions(svc, conversation, reply, image.image_hash, last)
        _grounding(reply.grounding)
        st.caption(_settings_caption(reply))
