"""Above the chat: the version strip (the current branch highlighted, other takes and branches a
click away), comparison of two versions, marked regions on the current image, and export."""

from __future__ import annotations

import streamlit as st

from core import marks as marking
from core.errors import StudioError
from core.values import Conversation
from core.versions import Version, VersionTree
from core.workspace import Workspace
from ui.common import plain, preview, share_token

STRIP = 10  # tiles in the strip; every version is in the menu below it


def _tree(svc: Workspace, conversation: Conversation) -> VersionTree:
    # Read once per version of the conversation (and tip), not on every rerun.
    key = ("versions", conversation.id, conversation.version, conversation.tip_id)
    cache = st.session_state.setdefault("versions-cache", {})
    if key not in cache:
        cache.clear()
        cache[key] = svc.versions.tree(conversation.id, token=share_token(conversation.id))
    return cache[key]


def _use(svc: Workspace, reply_id: int) -> None:
    try:
        svc.versions.branch(reply_id)
    except StudioError as error:
        st.session_state["flash"] = error.message


def _label(version: Version, tree: VersionTree) -> str:
    current = " (current)" if version.reply_id == tree.tip_id else ""
    return f"v{version.number} · {version.prompt[:50] or 'no words'}{current}"


def _strip(svc: Workspace, tree: VersionTree, owner: bool) -> None:
    """The newest versions of the current branch and the other takes beside the current one, as
    one picture (made once per tree); every version is in the menu below it."""
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
        caption="Framed: the current version. Underlined in grey: another branch or take.",
        alt=f"Versions, {described}. Current: version {current.number if current else 'none'}."[:300],
    )
    if owner:
        labels = {v.reply_id: _label(v, tree) for v in tree.versions}
        st.selectbox(
            "Switch to a version",
            list(labels),
            index=None,
            format_func=labels.get,
            key=f"switch-{tree.tip_id}",
            placeholder="Choose a version to make it current…",
            on_change=_switch,
            args=(svc, f"switch-{tree.tip_id}"),
        )


@st.cache_data(max_entries=64, show_spinner=False)
def _wipe(
    _svc: Workspace, person: str, conversation_id: str, left: int, right: int, at: int, token: str | None
) -> bytes:
    # The live chat redraws every second: the picture is made once per choice, not per redraw.
    # Keyed by person too, so nobody is served a picture the access check would refuse them.
    return _svc.versions.compare(conversation_id, left, right, at / 100, token=token)


@st.cache_data(max_entries=256, show_spinner=False)
def _sheet(
    _svc: Workspace, hashes: tuple[str | None, ...], labels: tuple[str, ...], current: int | None, aside: frozenset[int]
) -> bytes:
    # Made once per strip and shared by every session (never kept in a session's state).
    previews = [_svc.images.preview(h) if h else None for h in hashes]
    return marking.contact_sheet([p[0] if p else None for p in previews], list(labels), current, set(aside))


def _switch(svc: Workspace, key: str) -> None:
    chosen = st.session_state.get(key)
    if chosen is not None:
        _use(svc, chosen)


def _compare(svc: Workspace, conversation: Conversation, tree: VersionTree, owner: bool) -> None:
    labels = {v.reply_id: _label(v, tree) for v in tree.versions}
    ids = list(labels)
    left_col, right_col = st.columns(2)
    left = left_col.selectbox("Left", ids, index=max(0, len(ids) - 2), format_func=labels.get, key="cmp-left")
    right = right_col.selectbox("Right", ids, index=len(ids) - 1, format_func=labels.get, key="cmp-right")
    found = tree.by_reply
    a, b = found[left], found[right]
    side_a, side_b = st.columns(2)
    for side, version in ((side_a, a), (side_b, b)):
        with side:
            if version.image_hash:
                preview(svc, version.image_hash, alt=f"Version {version.number}: {version.prompt[:120]}")
            st.caption(plain(version.prompt or "(no words)"))
            if owner and version.reply_id != tree.tip_id:
                st.button(
                    "Use this one",
                    key=f"cmp-use-{version.reply_id}",
                    on_click=_use,
                    args=(svc, version.reply_id),
                )
    at = st.slider("Slide between them", 0, 100, 50, key="cmp-at", format="%d%%")
    st.image(
        _wipe(svc, svc.user.key, conversation.id, left, right, at, share_token(conversation.id)),
        caption=f"v{a.number} on the left of the line, v{b.number} on the right",
    )


def _marks(svc: Workspace, conversation: Conversation) -> None:
    latest = conversation.latest_image
    if latest is None or not latest.image_hash:
        st.caption("Marks go on the current image; there is none yet.")
        return
    found = svc.images.preview(latest.image_hash)
    if found is None:
        return
    across = st.slider("Across (left to right, %)", 0, 100, (25, 75), key="mark-x")
    down = st.slider("Down (top to bottom, %)", 0, 100, (25, 75), key="mark-y")
    note = st.text_input("What to change in the box", key="mark-note", placeholder="replace the sky")
    box = {"x0": across[0] / 100, "x1": across[1] / 100, "y0": down[0] / 100, "y1": down[1] / 100, "note": note}
    try:
        shown = marking.draw_marks(found[0], marking.clean_marks([box]))
    except StudioError as error:
        st.warning(plain(error.message))
        return
    st.image(shown, width=420, caption="The box as the model will see it, on a copy of the current image")
    if st.button("Send this change", type="primary", icon=":material/send:", disabled=not note.strip(), key="mark-go"):
        _turn, error = svc.versions.mark(
            conversation.id, latest.image_hash, "", [box], seen=st.session_state.get(f"shown-version-{conversation.id}")
        )
        st.session_state["flash"] = error.message if error else "Sent with the marked region."
        st.rerun()


def render_versions(svc: Workspace, conversation: Conversation) -> None:
    tree = _tree(svc, conversation)
    owner = svc.can_change(conversation)
    if not tree.versions:
        return
    name = tree.branch_name(tree.tip_id) if tree.tip_id else ""
    title = f"Versions: {len(tree.versions)}" + (f" · branch “{name}”" if name and len(tree.versions) > 1 else "")
    with st.expander(plain(title), icon=":material/account_tree:", expanded=len(tree.versions) > 1):
        _strip(svc, tree, owner)
        tools = st.segmented_control(
            "Tools", ["Compare", "Mark a region", "Export"], key=f"version-tools-{conversation.id}", default=None
        )
        if tools == "Compare" and len(tree.versions) > 1:
            _compare(svc, conversation, tree, owner)
        elif tools == "Mark a region" and owner:
            _marks(svc, conversation)
        elif tools == "Export":
            st.download_button(
                "Download this branch (zip, with a prompt log)",
                data=lambda: svc.versions.export(conversation.id, token=share_token(conversation.id)),
                file_name=f"studio-{conversation.id[:8]}-branch.zip",
                mime="application/zip",
                icon=":material/folder_zip:",
                on_click="ignore",
            )
