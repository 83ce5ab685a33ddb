"""Above the chat: the version strip (the current branch highlighted, other takes and branches a
click away), and the tools: Compare and Mark a region (dialogs, see ui.version_tools), Export."""

from __future__ import annotations

import streamlit as st

from core.media import marks as marking
from core.values import Conversation
from core.versions.tree import VersionTree
from core.workspace import Workspace
from ui.common import plain, share_token, stored_once, version_tree  # noqa: F401 - pages import it from here
from ui.review_panel import review_data, strip_label
from ui.version_tools import open_tool

STRIP = 10  # tiles in the strip; every version is in All versions
# The tools under the strip, each a dialog (ui.version_tools): key, label, icon, help.
TOOLS = (
    (
        "versions",
        "All versions…",
        ":material/grid_view:",
        "Every version as a picture; make any current.",
    ),
    ("compare", "Compare…", ":material/compare:", "Two versions side by side, and over each other."),
    ("mark", "Mark a region…", ":material/draw:", "Draw boxes or brush strokes on the current image."),
    ("export", "Export…", ":material/folder_zip:", "This branch, your starred versions, or ones you pick, as a zip."),
)


def _strip(svc: Workspace, conversation: Conversation, tree: VersionTree) -> None:
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
    _counts, statuses = review_data(svc, conversation)
    sheet = _sheet(
        svc,
        tuple(v.image_hash for v in shown),
        tuple(f"v{v.number} {strip_label(statuses.get(v.reply_id))}{v.prompt[:12]}" for v in shown),
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
    owner = svc.can_send(conversation)
    if not tree.versions:
        return
    name = tree.branch_name(tree.tip_id) if tree.tip_id else ""
    title = f"Versions: {len(tree.versions)}" + (f" · branch “{name}”" if name and len(tree.versions) > 1 else "")
    with st.expander(plain(title), icon=":material/account_tree:", expanded=len(tree.versions) > 1):
        _strip(svc, conversation, tree)
        for column, (tool, name, icon, hint) in zip(st.columns(len(TOOLS)), TOOLS, strict=True):
            if tool == "mark" and not owner:
                continue
            column.button(
                name,
                icon=icon,
                key=f"open-{tool}-{conversation.id}",
                disabled=tool == "compare" and len(tree.versions) < 2,
                on_click=open_tool,
                args=(tool, conversation.id),
                width="stretch",
                help=hint,
            )
