"""Above the chat: the version strip (the current branch highlighted, other takes and branches a
click away), and the tools: Compare and Mark a region (dialogs, see ui.version_tools), Export."""

from __future__ import annotations

import streamlit as st

from core import marks as marking
from core.values import Conversation
from core.versions import VersionTree
from core.workspace import Workspace
from ui.common import plain, share_token
from ui.version_tools import open_tool

STRIP = 10  # tiles in the strip; every version is in All versions


def version_tree(svc: Workspace, conversation: Conversation) -> VersionTree:
    # Read once per version of the conversation (and tip), not on every rerun.
    key = ("versions", conversation.id, conversation.version, conversation.tip_id)
    cache = st.session_state.setdefault("versions-cache", {})
    if key not in cache:
        cache.clear()
        cache[key] = svc.versions.tree(conversation.id, token=share_token(conversation.id))
    return cache[key]


def _strip(svc: Workspace, tree: VersionTree) -> None:
    """The newest versions of the current branch and the other takes beside the current one, as
    one picture (made once per tree); every version is in All versions."""
    path = tree.path()
    tip = tree.tip_id
    others = [v for v in tree.siblings(tip) if v.reply_id != tip] if tip else []
    if len(tree.versions) <= STRIP:
        shown = tree.versions
    else:
        shown = (path[-(STRIP - min(len(others), STRIP // 2)) :] + others)[:STRIP]
    on_path = {v.reply_id for v in path}
    sheet = _sheet(
        svc,
        tuple(v.image_hash for v in shown),
        tuple(f"v{v.number} {v.prompt[:12]}" for v in shown),
        next((n for n, v in enumerate(shown) if v.reply_id == tip), None),
        frozenset(n for n, v in enumerate(shown) if v.reply_id not in on_path),
    )
    current = tree.by_reply.get(tip) if tip else None
    described = ", ".join(f"version {v.number}: {v.prompt[:40]}" for v in shown)
    st.image(
        sheet,
        output_format="PNG",  # as made: passed through, never re-encoded on a rerun
        caption="Framed: the current version. Underlined in grey: another branch or take.",
        alt=f"Versions, {described}. Current: version {current.number if current else 'none'}."[:300],
    )


@st.cache_data(max_entries=256, show_spinner=False)
def _sheet(
    _svc: Workspace, hashes: tuple[str | None, ...], labels: tuple[str, ...], current: int | None, aside: frozenset[int]
) -> bytes:
    # Made once per strip and shared by every session (never kept in a session's state).
    previews = [_svc.images.preview(h) if h else None for h in hashes]
    return marking.contact_sheet([p[0] if p else None for p in previews], list(labels), current, set(aside))


def render_versions(svc: Workspace, conversation: Conversation) -> None:
    tree = version_tree(svc, conversation)
    owner = svc.can_change(conversation)
    if not tree.versions:
        return
    name = tree.branch_name(tree.tip_id) if tree.tip_id else ""
    title = f"Versions: {len(tree.versions)}" + (f" · branch “{name}”" if name and len(tree.versions) > 1 else "")
    with st.expander(plain(title), icon=":material/account_tree:", expanded=len(tree.versions) > 1):
        _strip(svc, tree)
        every, compare, mark, export = st.columns(4)
        every.button(
            "All versions…",
            icon=":material/grid_view:",
            key=f"open-versions-{conversation.id}",
            on_click=open_tool,
            args=("versions", conversation.id),
            width="stretch",
            help="Every version as a picture, newest first; make any of them current.",
        )
        compare.button(
            "Compare…",
            icon=":material/compare:",
            key=f"open-compare-{conversation.id}",
            disabled=len(tree.versions) < 2,
            on_click=open_tool,
            args=("compare", conversation.id),
            width="stretch",
        )
        if owner:
            mark.button(
                "Mark a region…",
                icon=":material/draw:",
                key=f"open-mark-{conversation.id}",
                on_click=open_tool,
                args=("mark", conversation.id),
                width="stretch",
            )
        export.button(
            "Export…",
            icon=":material/folder_zip:",
            key=f"open-export-{conversation.id}",
            on_click=open_tool,
            args=("export", conversation.id),
            width="stretch",
            help="This branch, the versions you starred, or the ones you choose, as a zip with a prompt log.",
        )
