"""All versions, Compare, Mark a region and Export, each in a dialog of its own: opened from the
version strip in the live chat, drawn by the full page, so the chat's redraw every second never
touches what a person is choosing, drawing or comparing (a menu inside the live chat could close
under a person's pointer when the chat redrew)."""

from __future__ import annotations

import streamlit as st

from core.errors import StudioError
from core.values import Conversation
from core.versions.tree import Version, VersionTree
from core.workspace import Workspace
from ui.common import plain, preview, share_token
from ui.drawing import compare_slider, mark_canvas, picture_url
from ui.review_panel import badge, comments_of, open_review, review_data, show_comments

DIALOG = "version-dialog"  # (tool, conversation id) while a dialog is open


def open_tool(tool: str, conversation_id: str) -> None:
    st.session_state[DIALOG] = (tool, conversation_id)
    st.session_state["rerun-page"] = True  # the live fragment asks for the full page, which draws dialogs


def _close() -> None:
    st.session_state.pop(DIALOG, None)


def label(version: Version, tree: VersionTree) -> str:
    current = " (current)" if version.reply_id == tree.tip_id else ""
    return f"v{version.number} · {version.prompt[:50] or 'no words'}{current}"


PICKED = "cmp-picked"  # the versions chosen to compare (reply ids), at most four
MOST = 4


@st.dialog("Compare versions", width=1600, on_dismiss=_close)
def _compare(svc: Workspace, conversation: Conversation, tree: VersionTree) -> None:
    labels = {v.reply_id: label(v, tree) for v in tree.versions if v.image_hash}
    ids = list(labels)
    if len(ids) < 2:
        st.caption("Compare needs two versions with images.")
        return
    if not [i for i in st.session_state.get(PICKED, []) if i in labels]:
        st.session_state[PICKED] = ids[-2:]
    picked = st.multiselect(
        "Versions to compare (up to four)",
        ids,
        format_func=labels.get,
        max_selections=MOST,
        key=PICKED,
    )
    chosen = [tree.by_reply[i] for i in picked]
    if len(chosen) < 2:
        st.caption("Pick at least two versions.")
        return
    if len(chosen) == 2:
        a, b = chosen
        urls = [picture_url(svc, v.image_hash) if v.image_hash else None for v in (a, b)]
        if urls[0] is None or urls[1] is None:
            st.caption(
                ":material/broken_image: The studio cannot read one of these images, so it cannot show them together."
            )
        else:
            compare_slider(urls[0], urls[1], f"v{a.number}", f"v{b.number}", key="cmp-slider")
    _side_by_side(svc, conversation, tree, chosen)


def _side_by_side(svc: Workspace, conversation: Conversation, tree: VersionTree, chosen: list[Version]) -> None:
    """The chosen versions at the dialog's full width, each as large as its share allows."""
    owner = svc.can_change(conversation)
    _counts, statuses = review_data(svc, conversation)
    comments = comments_of(svc, conversation, [v.reply_id for v in chosen])
    for side, version in zip(st.columns(len(chosen)), chosen, strict=True):
        with side, st.container(key=f"cmp-side-{version.reply_id}"):
            if version.image_hash:
                preview(svc, version.image_hash, alt=f"Version {version.number}: {version.prompt[:120]}")
            current = " · current" if version.reply_id == tree.tip_id else ""
            st.caption(f"**v{version.number}**{current}: {plain(version.prompt or '(no words)')}")
            if version.reply_id in statuses:
                badge(statuses[version.reply_id])
            show_comments(comments.get(version.reply_id, []), limit=5)
            if (
                owner
                and version.reply_id != tree.tip_id
                and st.button("Use this one", key=f"cmp-use-{version.reply_id}", icon=":material/check:")
            ):
                _make_current(svc, version)


PAGE = 24  # versions shown at first in All versions; more on request
ACROSS = 3  # cards in a row of the board: 400 px and more each at the dialog's width


def _compare_picked(conversation_id: str, picked: list[int]) -> None:
    st.session_state[PICKED] = picked[:MOST]
    open_tool("compare", conversation_id)


@st.dialog("All versions", width=1600, on_dismiss=_close)
def _all_versions(svc: Workspace, conversation: Conversation, tree: VersionTree) -> None:
    owner = svc.can_change(conversation)
    _counts, statuses = review_data(svc, conversation)
    newest = sorted(tree.versions, key=lambda v: v.number, reverse=True)
    on_path = {v.reply_id for v in tree.path()}
    shown = st.session_state.get("all-versions-shown", PAGE)
    comments = comments_of(svc, conversation, [v.reply_id for v in newest[:shown]])
    st.caption(
        f"{len(newest)} versions, newest first. Framed: the current one, which your next message edits. "
        f"Tick up to {MOST} to compare them side by side."
        + (" Use this one makes another current; nothing is lost either way." if owner else "")
    )
    picked = [v.reply_id for v in newest if st.session_state.get(f"board-pick-{v.reply_id}")]
    if len(picked) >= 2 and st.button(
        f"Compare the {min(len(picked), MOST)} ticked", key="board-compare", icon=":material/compare:", type="primary"
    ):
        _compare_picked(conversation.id, picked)
        st.rerun()  # the page draws the Compare dialog in place of this one
    for row in range(0, min(shown, len(newest)), ACROSS):
        for column, version in zip(st.columns(ACROSS), newest[row : row + ACROSS], strict=False):
            current = version.reply_id == tree.tip_id
            with column, st.container(border=current, key=f"version-card-{version.number}"):
                if version.image_hash:
                    preview(svc, version.image_hash, width=480, alt=f"Version {version.number}: {version.prompt[:120]}")
                where = " · current" if current else ("" if version.reply_id in on_path else " · another branch")
                st.caption(f"**v{version.number}**{where}: {plain(version.prompt[:80] or '(no words)')}")
                if version.reply_id in statuses:
                    badge(statuses[version.reply_id])
                said = comments.get(version.reply_id, [])
                if said:
                    show_comments(said, limit=2)
                with st.container(horizontal=True):
                    st.checkbox(
                        "Compare",
                        key=f"board-pick-{version.reply_id}",
                        disabled=version.reply_id not in picked and len(picked) >= MOST,
                    )
                    if svc.review.enabled:
                        st.button(
                            f"Review ({len(said)})" if said else "Comment…",
                            key=f"board-review-{version.reply_id}",
                            icon=":material/forum:",
                            type="tertiary",
                            on_click=_to_review,
                            args=(conversation.id, version.reply_id),
                        )
                    if (
                        owner
                        and not current
                        and st.button("Use this one", key=f"use-version-{version.reply_id}", icon=":material/check:")
                    ):
                        _make_current(svc, version)
    if shown < len(newest) and st.button(f"Show {min(PAGE, len(newest) - shown)} more", key="all-versions-more"):
        st.session_state["all-versions-shown"] = shown + PAGE
        st.rerun(scope="fragment")


def _to_review(conversation_id: str, reply_id: int) -> None:
    """From the board to the version's Review dialog (one dialog at a time)."""
    _close()
    open_review(conversation_id, reply_id)


def _make_current(svc: Workspace, version: Version) -> None:
    try:
        svc.versions.branch(version.reply_id)
        st.session_state["flash"] = f"v{version.number} is now current: your next message edits it."
    except StudioError as error:
        st.session_state["flash"] = error.message
    st.session_state.pop("all-versions-shown", None)
    _close()
    st.rerun()


def _marks_key(conversation_id: str, image_hash: str) -> str:
    return f"marks-{conversation_id}-{image_hash[:16]}"


@st.dialog("Mark a region", width="large", on_dismiss=_close)
def _mark(svc: Workspace, conversation: Conversation) -> None:
    latest = conversation.latest_image
    if latest is None or not latest.image_hash:
        st.caption("Marks go on the current image; there is none yet.")
        return
    url = picture_url(svc, latest.image_hash)
    if url is None:
        st.caption(":material/broken_image: The studio cannot read the current image, so it cannot be marked.")
        return
    st.caption(
        "Drag to draw boxes, or choose Brush and paint over what to change, then say what to do in each. "
        "The toolbar above the image undoes, redoes, clears, and moves or resizes what you drew (the pencil). "
        "The model gets the image with your marks drawn on it beside your words."
    )
    key = _marks_key(conversation.id, latest.image_hash)
    info = svc.images.info(latest.image_hash)
    size = (info.width, info.height) if info and info.width and info.height else (1, 1)
    mode = st.segmented_control(
        "Draw",
        ["box", "brush"],
        format_func={"box": "Box", "brush": "Brush"}.get,
        default="box",
        key=f"{key}-mode",
        required=True,
    )
    marks = mark_canvas(url, size, mode or "box", key=f"{key}-canvas")
    notes = []
    for n, mark in enumerate(marks, start=1):
        what = "box" if mark.get("kind") == "box" else "painted area"
        note = st.text_input(f"What to change in {what} {n}", key=f"{key}-note-{n}", placeholder="replace the sky")
        notes.append(note)
    text = st.text_area("Anything else, for the whole image (optional)", key=f"{key}-text", height=68)
    said = text.strip() or (marks and all(note.strip() for note in notes))
    # Never disabled: a field commits its words only when it loses focus, so a disabled button
    # stayed disabled under the first click after typing (the click was lost). Checked on click.
    if st.button("Send this change", type="primary", icon=":material/send:", key=f"{key}-go"):
        if not said:
            st.warning("Say what to change: in each mark, or once for the whole image.", icon=":material/edit:")
            return
        drawn = [{**mark, "note": note} for mark, note in zip(marks, notes, strict=True)]
        try:
            _turn, error = svc.versions.mark(
                conversation.id,
                latest.image_hash,
                text,
                drawn,
                seen=st.session_state.get(f"shown-version-{conversation.id}"),
            )
        except StudioError as problem:
            st.warning(plain(problem.message))  # the drawing and the words stay as they are
            return
        st.session_state["flash"] = error.message if error else "Sent with the marked regions."
        for k in [k for k in st.session_state if str(k).startswith(key)]:
            del st.session_state[k]
        _close()
        st.rerun()


@st.dialog("Export versions", on_dismiss=_close)
def _export(svc: Workspace, conversation: Conversation, tree: VersionTree) -> None:
    token = share_token(conversation.id)
    path = tree.path()
    starred = svc.versions.starred(conversation.id, token=token)
    options = {
        "branch": f"This branch ({len(path)} versions)",
        "starred": f"The ones I starred ({len(starred)})",
        "chosen": "Versions I choose",
    }
    which = st.radio("What to export", list(options), format_func=options.get, key="export-which")
    chosen: list[int] | None = None
    if which == "starred":
        chosen = [v.reply_id for v in starred]
        if not chosen:
            st.caption("Star results in the Gallery (“the one we chose”) to export them together.")
    elif which == "chosen":
        labels = {v.reply_id: label(v, tree) for v in tree.versions}
        chosen = st.multiselect(
            "Versions",
            list(labels),
            default=[v.reply_id for v in starred] or [v.reply_id for v in path],
            format_func=labels.get,
            key="export-chosen",
        )
    st.caption(
        "A zip of the images with a prompt log (Markdown and JSON): prompt, settings, model, time, person, cost."
    )
    st.download_button(
        "Download zip",
        data=lambda picked=chosen: svc.versions.export(conversation.id, chosen=picked, token=token),
        file_name=f"studio-{conversation.id[:8]}-{which}.zip",
        mime="application/zip",
        icon=":material/folder_zip:",
        on_click="ignore",
        type="primary",
        disabled=chosen is not None and not chosen,
    )


def render_dialog(svc: Workspace, conversation: Conversation, tree: VersionTree | None) -> None:
    """On the full page: the dialog this tab opened, if any, for the conversation it shows."""
    tool, conversation_id = st.session_state.get(DIALOG, (None, None))
    if conversation_id != conversation.id or tree is None:
        return
    if tool == "versions":
        _all_versions(svc, conversation, tree)
    elif tool == "compare":
        _compare(svc, conversation, tree)
    elif tool == "export":
        _export(svc, conversation, tree)
    elif tool == "mark" and svc.can_change(conversation):
        _mark(svc, conversation)
