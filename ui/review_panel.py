"""Review in the studio: a version's status badge and its comments under it in the chat, and a
Review dialog (drawn by the full page, like the version tools, so the chat's redraw never
touches a comment being written) to comment, @mention, edit or delete, and set the status."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from core.errors import StudioError
from core.review import rules
from core.review.comments import Comment
from core.review.rules import Status
from core.team.people import User
from core.values import Conversation
from core.versions.tree import VersionTree
from core.workspace import Workspace
from ui import outage
from ui.common import plain, preview, service, share_token
from ui.times import local_time

WORD_JOINER = "\u2060"
DIALOG = "review-dialog"  # (conversation id, answer id) while the Review dialog is open
BADGE = {
    Status.DRAFT: ("gray", ":material/edit_note:"),
    Status.IN_REVIEW: ("blue", ":material/rate_review:"),
    Status.APPROVED: ("green", ":material/check_circle:"),
    Status.REJECTED: ("red", ":material/cancel:"),
}
STRIP_MARK = {Status.IN_REVIEW: "review", Status.APPROVED: "OK", Status.REJECTED: "no"}


def review_data(svc: Workspace, conversation: Conversation) -> tuple[dict[int, int], dict[int, Status]]:
    """This conversation's comment counts and statuses by version, read once per run (two
    small grouped reads: a page with hundreds of comments reads only the words it shows)."""
    key = f"review-data-{conversation.id}"
    run = st.session_state.get("review-run")
    cached = st.session_state.get(key)
    if cached is not None and cached[0] == run:
        return cached[1], cached[2]
    token = share_token(conversation.id)
    counts = svc.review.comment_counts(conversation.id, token=token)
    statuses = svc.review.statuses(conversation.id, token=token)
    st.session_state[key] = (run, counts, statuses)
    return counts, statuses


def comments_of(svc: Workspace, conversation: Conversation, reply_ids: list[int]) -> dict[int, list[Comment]]:
    """The words of these versions' comments (only those with any)."""
    counts, _statuses = review_data(svc, conversation)
    wanted = [i for i in reply_ids if counts.get(i)]
    if not wanted:
        return {}
    return svc.review.comments(conversation.id, token=share_token(conversation.id), reply_ids=wanted)


def new_run() -> None:
    """A new page or chat run reads comments and statuses again."""
    st.session_state["review-run"] = st.session_state.get("review-run", 0) + 1


def badge(status: Status) -> None:
    if status == Status.DRAFT:
        return
    colour, icon = BADGE[status]
    st.badge(status.label, color=colour, icon=icon)  # type: ignore[arg-type]


def strip_label(status: Status | None) -> str:
    return f"[{STRIP_MARK[status]}] " if status in STRIP_MARK else ""


def show_comments(comments: list[Comment], *, limit: int | None = None) -> None:
    """Comments as typed: author and time in a caption, the words as plain text."""
    shown = comments[-limit:] if limit else comments
    if limit and len(comments) > limit:
        st.caption(f"{len(comments) - limit} earlier comments in Review…")
    for comment in shown:
        edited = " · edited" if comment.edited_at else ""
        st.caption(no_links(f"{comment.author_name} ({comment.author}) · {local_time(comment.created_at)}{edited}"))
        st.text(comment.body, width="stretch")


def no_links(text: str) -> str:
    """plain(), and no email address turned into a mailto link either."""
    return plain(text).replace("@", "@" + WORD_JOINER)


def open_review(conversation_id: str, reply_id: int) -> None:
    st.session_state[DIALOG] = (conversation_id, reply_id)
    st.session_state["rerun-page"] = True  # the live chat asks for the full page, which draws dialogs


def render_under_version(svc: Workspace, conversation: Conversation, reply_id: int) -> None:
    """Under a version in the chat: its badge, its newest comments, and the Review button."""
    if not svc.review.enabled:
        return
    _counts, statuses = review_data(svc, conversation)
    mine = comments_of(svc, conversation, [reply_id]).get(reply_id, [])
    status = statuses.get(reply_id, Status.DRAFT)
    with st.container(horizontal=True, vertical_alignment="center"):
        badge(status)
        st.button(
            f"Review · {len(mine)} comment{'s' if len(mine) != 1 else ''}" if mine else "Comment…",
            icon=":material/forum:",
            key=f"review-{reply_id}",
            type="tertiary",
            on_click=open_review,
            args=(conversation.id, reply_id),
            help="Comment on this version and @mention someone"
            + ("; set its status" if svc.review.can_set_status(conversation) else ""),
        )
    show_comments(mine, limit=2)


def _flash(error: StudioError) -> None:
    st.session_state["review-flash"] = error.message


def _post(svc: Workspace, conversation_id: str, reply_id: int, key: str, token: str | None) -> None:
    try:
        svc.review.comment(conversation_id, reply_id, st.session_state.get(key, ""), token=token)
        st.session_state[key] = ""
        st.session_state["review-flash"] = "Comment posted."
    except StudioError as error:
        _flash(error)  # the words stay in the box
    new_run()


def _edit(svc: Workspace, comment_id: int, key: str, token: str | None) -> None:
    try:
        svc.review.edit_comment(comment_id, st.session_state.get(key, ""), token=token)
    except StudioError as error:
        _flash(error)
    new_run()


def _delete(svc: Workspace, comment_id: int, token: str | None) -> None:
    try:
        svc.review.delete_comment(comment_id, token=token)
    except StudioError as error:
        _flash(error)
    new_run()


def _set_status(svc: Workspace, conversation_id: str, reply_id: int, key: str) -> None:
    try:
        svc.review.set_status(conversation_id, reply_id, st.session_state[key])
    except StudioError as error:
        _flash(error)
    new_run()


def _mention(key: str, picker: str) -> None:
    """Put the chosen person's handle into the comment being written."""
    chosen = st.session_state.get(picker)
    if chosen:
        text = st.session_state.get(key, "")
        st.session_state[key] = f"{text}{' ' if text and not text.endswith(' ') else ''}@{chosen} "
        st.session_state[picker] = None


def _close() -> None:
    st.session_state.pop(DIALOG, None)


@st.dialog("Review", width="large", on_dismiss=_close)
def _review(svc: Workspace, conversation: Conversation, tree: VersionTree, reply_id: int) -> None:
    version = tree.by_reply.get(reply_id)
    if version is None:
        st.caption("That version is not part of this conversation any more.")
        return
    token = share_token(conversation.id)
    _counts, statuses = review_data(svc, conversation)
    comments = comments_of(svc, conversation, [reply_id])
    status = statuses.get(reply_id, Status.DRAFT)
    if flash := st.session_state.pop("review-flash", None):
        st.info(plain(flash))
    left, right = st.columns([2, 3])
    with left:
        if version.image_hash:
            preview(svc, version.image_hash, width=260, alt=f"Version {version.number}: {version.prompt[:120]}")
        st.caption(f"**v{version.number}**: {plain(version.prompt[:200] or '(no words)')}")
        badge(status)
        if svc.review.can_set_status(conversation):
            key = f"status-{reply_id}"
            st.session_state.setdefault(key, status.value)
            st.radio(
                "Status",
                [s.value for s in Status],
                format_func=lambda s: Status(s).label,
                key=key,
                on_change=_set_status,
                args=(svc, conversation.id, reply_id, key),
                help="Only you (the owner) and admins set it. Several versions may be approved.",
            )
    with right:
        mine = comments.get(reply_id, [])
        if not mine:
            st.caption("No comments yet.")
        for comment in mine:
            with st.container(border=True):
                show_comments([comment])
                if comment.author == svc.user.key:
                    with st.popover("Edit", icon=":material/edit:"):
                        edit_key = f"edit-comment-{comment.id}"
                        st.text_area("Your comment", value=comment.body, key=edit_key)
                        st.button(
                            "Save", key=f"save-{comment.id}", on_click=_edit, args=(svc, comment.id, edit_key, token)
                        )
                    st.button(
                        "Delete",
                        icon=":material/delete:",
                        key=f"delete-comment-{comment.id}",
                        type="tertiary",
                        on_click=_delete,
                        args=(svc, comment.id, token),
                    )
        key, picker = f"comment-{reply_id}", f"mention-{reply_id}"
        st.text_area(
            "Comment",
            key=key,
            placeholder="What do you think? @name mentions someone",
            help="Shown exactly as typed. @name or @email mentions a person: it reaches their Inbox.",
        )
        people = {m.email: m.name for m in svc.review.mention_choices(conversation.id, token=token)}
        st.selectbox(
            "Mention someone",
            list(people),
            index=None,
            format_func=lambda e: f"{people[e]} ({e})",
            key=picker,
            on_change=_mention,
            args=(key, picker),
            placeholder="Choose a person to @mention",
        )
        st.button(
            "Post comment",
            type="primary",
            icon=":material/send:",
            key=f"post-{reply_id}",
            on_click=_post,
            args=(svc, conversation.id, reply_id, key, token),
        )


def render_review_dialog(svc: Workspace, conversation: Conversation, tree: VersionTree | None) -> None:
    opened = st.session_state.get(DIALOG)
    if not opened or opened[0] != conversation.id or tree is None or not svc.review.enabled:
        return
    _review(svc, conversation, tree, opened[1])


def review_pages(user: User | None) -> list[StreamlitPage]:
    """The Inbox, titled with the unread count, and the Brand kit: in the sidebar for the team's
    signed-in people; hidden (each says it is for the team) for a demo's visitors and others."""
    member = user is not None and rules.is_team_member(user)
    unread = 0
    if member:
        assert user is not None
        try:
            desk = service().as_user(user).review  # building the service reaches the database too
            if "review-known" not in st.session_state:  # once a session: the @mention picker knows them
                desk.remember_me()
                st.session_state["review-known"] = True
            unread = desk.unread()
        except Exception as exc:
            if not outage.saw(exc):
                raise  # with the database away the page itself says so; the count can wait

    shown = "visible" if member else "hidden"
    return [
        st.Page(
            "pages/inbox.py",
            title=f"Inbox ({unread})" if unread else "Inbox",
            icon=":material/inbox:",
            url_path="inbox",
            visibility=shown,
        ),
        st.Page(
            "pages/kit.py", title="Brand kit", icon=":material/collections_bookmark:", url_path="kit", visibility=shown
        ),
    ]
