"""Rendering one exchange of the conversation: the user's message and the model's answer."""

from __future__ import annotations

import html
from typing import Any

import streamlit as st

from core.errors import StudioError
from core.media.images import EXTENSIONS
from core.media.marks import file_stem
from core.money.prices import dollars
from core.provider import fields
from core.turns.rules import MAX_PROMPT_CHARS
from core.values import Conversation, Exchange, LiveProgress, Seen, Turn, TurnStatus
from core.workspace import Workspace
from ui.common import hold_seed, plain, preview, safe_markdown, share_token, version_tree
from ui.review_panel import render_under_version

ADVICE = {
    "bad_key": "Check `COMETAPI_KEY`.",
    "quota": "The service asked us to slow down.",
    "service_down": "The service had trouble; nothing was lost.",
    "timeout": "Large images can take minutes.",
    "connection_lost": "The request had been sent: it may be billed.",
    "blocked": "The prompt itself was refused.",
    "too_large": "The conversation is too large to send.",
    "bad_request": "If this keeps happening, use Continue on the latest image to go on in a fresh conversation.",
}
MODEL_AVATAR = ":material/palette:"
# No allow-scripts, allow-same-origin or allow-forms: the markup can neither run nor post.
SEARCH_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"
# A frame without scripts cannot report its height; Google's chip row fits in this.
SEARCH_FRAME_PX = 110


def render_user(svc: Workspace, turn: Turn, conversation: Conversation | None = None) -> None:
    with st.chat_message("user"):
        if turn.text:
            # Exactly as typed: no Markdown, no icons, no typographic replacements, no autolinks.
            st.text(turn.text, width="stretch")
        images = [p for p in turn.parts if p.kind == "image" and p.image_hash]
        if not turn.text and not images and turn.parts_loaded:
            st.caption("No words, and no attachment that could be read.")
        if images:
            columns = st.columns(min(len(images), 4))
            for i, part in enumerate(images):
                with columns[i % len(columns)]:
                    assert part.image_hash is not None
                    preview(svc, part.image_hash, width=180, alt=f"Your image {i + 1}, sent with: {turn.text[:200]}")
                    _download_upload(svc, turn, part.image_hash, i, conversation)
    # Beside the bubble, not in it: the bubble holds exactly what was typed.
    if conversation is not None and turn.status == TurnStatus.OK and svc.can_send(conversation):
        _edit_popover(svc, conversation, turn, "Edit and resend from here")


def _download_upload(
    svc: Workspace, turn: Turn, image_hash: str, index: int, conversation: Conversation | None = None
) -> None:
    info = svc.images.info(image_hash)
    if info is not None and info.note:
        # Kept with the upload, so it is still said here after a reload, not only in a toast.
        st.caption(plain(info.note))
    if info is None or not info.original_hash:
        return  # sent as attached: nothing else to offer
    original = svc.images.info(info.original_hash)
    extension = EXTENSIONS.get(original.mime_type if original else info.mime_type, "jpg")
    # Named after the version this message made (if it made one) and its first words.
    made = None
    if conversation is not None:
        made = next((v for v in version_tree(svc, conversation).versions if v.request_id == turn.id), None)
    stem = "-".join(filter(None, [f"v{made.number}" if made else "", file_stem(turn.text)])) or "upload"

    def full_size() -> bytes:
        return svc.download(turn.conversation_id, image_hash, share_token(turn.conversation_id))[0]

    st.download_button(
        "Original",
        data=full_size,
        file_name=f"{stem}-original-{index + 1}.{extension}",
        icon=":material/download:",
        type="tertiary",
        key=f"upload-{turn.id}-{index}",
        on_click="ignore",
        help="The picture as you attached it, full size (location and camera data removed)",
    )


def _settings_caption(turn: Turn, offline: bool = False) -> str:
    s = turn.settings
    bits = [s.aspect_ratio, s.image_size or "default size", "image only" if s.image_only else "image + text"]
    if s.grounding:
        bits.append("Search grounding")
    if s.thinking_level:
        bits.append(f"thinking {s.thinking_level}")
    usage = fields.obj(turn.usage, "usageMetadata")  # stored as sent: any shape
    total = fields.count(usage.get("totalTokenCount"), "totalTokenCount")
    if total:
        tokens = f"{total:,} tokens"
        thinking = fields.count(usage.get("thoughtsTokenCount"), "thoughtsTokenCount")
        if thinking:
            tokens += f" ({thinking:,} thinking)"
        bits.append(tokens)
    if turn.role == "model":
        cost = dollars(turn.cost_micro, unknown="cost unknown (no usage reported)")
        bits.append("$0.00, offline demo (never billed)" if offline else cost)
    if turn.finish_reason:
        bits.append(plain(turn.finish_reason))
    if turn.model_version:
        bits.append(plain(turn.model_version))
    return " · ".join(bits)


def _thinking(svc: Workspace, turn: Turn) -> None:
    if not turn.thoughts:
        return
    # Keyed: a redraw that shifts the chat (a result landing just after) keeps it as the person
    # left it; without a key it could close under the click that opened it.
    with st.expander("Thinking", icon=":material/psychology:", expanded=False, key=f"thinking-{turn.id}"):
        for part in turn.thoughts:
            if part.kind == "text" and part.text:
                st.markdown(safe_markdown(part.text))
            elif part.kind == "image" and part.image_hash:
                preview(
                    svc, part.image_hash, width=240, caption="Draft", alt="A draft the model sketched while thinking"
                )


def render_live_progress(svc: Workspace, live: LiveProgress | None) -> None:
    """Under a running turn's clock, while its answer streams: the model's latest thought summary
    (a small caption) and its latest draft image, replaced as newer ones arrive."""
    if live is None:
        return
    if live.thought:
        st.caption(":material/psychology: " + safe_markdown(live.thought[:600]))
    if live.draft_hash:
        preview(svc, live.draft_hash, width=160, caption="Draft", alt="A draft the model is sketching while it thinks")


def search_frame(rendered: str) -> str:
    """Google's search suggestions, shown as Google asks, in a frame that cannot touch the app:
    sandboxed with no same-origin, no scripts and no forms (links still open, in a new tab)."""
    return (
        f'<iframe sandbox="{SEARCH_SANDBOX}" referrerpolicy="no-referrer" title="Google Search suggestions" '
        f'srcdoc="{html.escape(rendered, quote=True)}" '
        f'style="width:100%;height:{SEARCH_FRAME_PX}px;border:0;overflow:auto"></iframe>'
    )


def _grounding(raw: Any) -> None:
    # Stored as the service sent it: read tolerantly, whatever its shape.
    grounding = fields.obj(raw, "groundingMetadata")
    queries = [q for q in fields.items(grounding.get("webSearchQueries"), "webSearchQueries") if isinstance(q, str)]
    if queries:
        st.caption("Searched for: " + ", ".join(plain(q) for q in queries))
    rendered = fields.obj(grounding.get("searchEntryPoint"), "searchEntryPoint").get("renderedContent")
    if isinstance(rendered, str) and rendered:
        # The frame's own markup is ours; what Google sent is only ever inside srcdoc, escaped.
        st.markdown(search_frame(rendered), unsafe_allow_html=True)


def act(svc: Workspace, kind: str, turn_id: int, seen: Seen | None) -> None:
    """on_click for Retry and Redo: queue the new turn for this process's runner. What the core
    refuses (a stale tab, a busy conversation) comes back as a note, never as a traceback."""
    try:
        if kind == "retry":
            svc.queue_retry(turn_id, seen=seen)
        elif kind == "resend":
            svc.queue_resend(turn_id, st.session_state.get(f"edit-{turn_id}", ""), seen=seen)
        elif kind == "remove":
            svc.remove(turn_id)
        elif kind == "tip":
            svc.versions.branch(turn_id)
            # The sidebar and the page's dialogs sit outside the live chat: redraw the whole page.
            st.session_state["rerun-page"] = True
        else:
            svc.queue_regenerate(turn_id, seen=seen)
    except StudioError as error:
        st.session_state["flash"] = error.message


def render_actions(
    svc: Workspace, conversation: Conversation, turn: Turn, image_hash: str, last: bool, late: bool = False
) -> None:
    info = svc.images.info(image_hash)
    extension = EXTENSIONS.get(info.mime_type if info else "", "png")
    version = version_tree(svc, conversation).by_reply.get(turn.id)
    # After the version and its prompt's first words: `v3-red-bicycle-on-a-beach.jpg`.
    name = version.file_name if version else f"late-{turn.position}-{file_stem(conversation.title)}".rstrip("-")
    with st.container(horizontal=True):
        st.download_button(
            "Download",
            help="Full resolution" + (f", {info.width}×{info.height}" if info and info.width else ""),
            # Deferred: the full-resolution bytes are read only when someone downloads.
            data=lambda: svc.download(conversation.id, image_hash, share_token(conversation.id))[0],
            file_name=f"{name}.{extension}",
            mime=info.mime_type if info else "application/octet-stream",
            icon=":material/download:",
            key=f"download-{turn.id}",
            on_click="ignore",
        )
        if share_token(conversation.id) is None and st.button(
            "Continue",
            icon=":material/call_split:",
            key=f"branch-{turn.id}",
            help="Start a new conversation from this image (created when you send its first message)",
        ):
            hold_seed(svc.continue_from(conversation.id, image_hash))
        if not late and svc.can_send(conversation) and turn.status == TurnStatus.OK:
            st.button(
                "Another take",
                icon=":material/refresh:",
                key=f"regen-{turn.id}",
                help="Ask again from the same version; this one stays as a version beside the new one",
                on_click=act,
                args=(svc, "regenerate", turn.id, conversation.seen),
            )
            if not last:
                st.button(
                    "Branch from here",
                    icon=":material/alt_route:",
                    key=f"tip-{turn.id}",
                    help="Make this the current version: your next message edits it, with only the turns up to "
                    "here. The later turns stay, as a branch of their own.",
                    on_click=act,
                    args=(svc, "tip", turn.id, conversation.seen),
                )


def render_failure(svc: Workspace, conversation: Conversation, turn: Turn, reply: Turn | None) -> None:
    retry = svc.can_retry(turn, conversation)
    with st.chat_message("assistant", avatar=MODEL_AVATAR):
        message = turn.error_message or "This turn failed."
        if turn.status in (TurnStatus.INTERRUPTED, TurnStatus.CANCELLED) or turn.error_kind in ("stale", "busy"):
            st.warning(plain(message), icon=":material/pause_circle:")
        else:
            advice = "" if svc.settings.demo else ADVICE.get(turn.error_kind or "", "")
            if turn.error_kind == "bad_input":
                advice = (
                    "Retry sends your words with the images that could be read."
                    if retry
                    else "Nothing here can be sent as it is: Edit and resend, or Remove it."
                )
            st.error(plain(message) + (f"  \n{advice}" if advice else ""), icon=":material/error:")
        if svc.can_send(conversation):
            _failure_actions(svc, conversation, turn, retry)
        if reply is not None:
            _late_or_partial(svc, conversation, reply)
            if reply.settings:
                st.caption(_settings_caption(reply, svc.offline))


def _failure_actions(svc: Workspace, conversation: Conversation, turn: Turn, retry: bool) -> None:
    """The owner's ways on from a turn that did not go through."""
    with st.container(horizontal=True):
        if retry:
            st.button(
                "Send again" if turn.error_kind in ("stale", "busy", "cancelled") else "Retry",
                icon=":material/replay:",
                key=f"retry-{turn.id}",
                on_click=act,
                args=(svc, "retry", turn.id, conversation.seen),
            )
        _edit_popover(svc, conversation, turn, "Edit and resend")
        st.button(
            "Remove",
            icon=":material/delete:",
            key=f"remove-{turn.id}",
            on_click=act,
            args=(svc, "remove", turn.id, conversation.seen),
            help="Removes this attempt from the conversation; nothing of it was sent to the model's memory",
        )


def _late_or_partial(svc: Workspace, conversation: Conversation, reply: Turn) -> None:
    """An answer kept beside a turn that did not end ok: shown (it may be billed), not replayed."""
    image = reply.result_image
    if image is None or not image.image_hash:
        return
    st.caption(
        "This answer arrived after the turn was cancelled or retried. It is kept here, but the model "
        "does not see it in the next turns."
    )
    frame, _ = st.columns([3, 2])
    with frame:
        preview(svc, image.image_hash, alt="An answer that arrived after its turn was cancelled or retried")
        render_actions(svc, conversation, reply, image.image_hash, last=False, late=True)


def render_exchange(svc: Workspace, conversation: Conversation, exchange: Exchange, last: bool) -> None:
    request, reply = exchange.request, exchange.reply
    render_user(svc, request, conversation)
    if request.status.in_flight:
        return  # its live status is drawn by the page's watcher, which refreshes by itself
    if request.status.retryable:
        render_failure(svc, conversation, request, reply)
        return
    if request.status == TurnStatus.REPLACED:
        if reply is not None and reply.status == TurnStatus.REPLACED:
            with st.chat_message("assistant", avatar=MODEL_AVATAR):
                with st.expander("Earlier answer, replaced by a regeneration", icon=":material/history:"):
                    if reply.result_image and reply.result_image.image_hash:
                        preview(svc, reply.result_image.image_hash, width=240, alt="An earlier answer, replaced")
        elif reply is not None and reply.status == TurnStatus.OK:
            with st.chat_message("assistant", avatar=MODEL_AVATAR):
                _late_or_partial(svc, conversation, reply)
        else:
            st.caption(f"Retried below. {plain(request.error_message or '')}")
        return
    if reply is None:
        return
    with st.chat_message("assistant", avatar=MODEL_AVATAR):
        _thinking(svc, reply)
        if reply.text:
            st.markdown(safe_markdown(reply.text))
        image = reply.result_image
        if image is not None and image.image_hash:
            # A column, not a pixel width: st.image then serves the stored preview untouched.
            frame, _ = st.columns([3, 2])
            with frame:
                preview(svc, image.image_hash, alt=f"Result for: {request.text[:200] or 'your image'}")
                render_actions(svc, conversation, reply, image.image_hash, last)
                render_under_version(svc, conversation, reply.id)
        _grounding(reply.grounding)
        st.caption(_settings_caption(reply, svc.offline))


def _edit_popover(svc: Workspace, conversation: Conversation, turn: Turn, label: str) -> None:
    """The prompt, editable, sent again from the version before it (a sibling branch when it was
    answered; the old attempt marked as retried when it was not)."""
    with st.popover(label, icon=":material/edit:"):
        st.text_area(
            "Your message",
            value=turn.text,
            key=f"edit-{turn.id}",
            height=160,
            help=f"At most {MAX_PROMPT_CHARS:,} characters.",
        )
        st.caption(f"{len(st.session_state.get(f'edit-{turn.id}', turn.text)):,} / {MAX_PROMPT_CHARS:,} characters")
        st.button(
            "Send",
            type="primary",
            key=f"resend-{turn.id}",
            on_click=act,
            args=(svc, "resend", turn.id, conversation.seen),
        )
