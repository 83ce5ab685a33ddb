"""The Inbox: comments on my conversations, mentions of me, and status changes where I
commented; newest first. Open goes to that version (and marks the entry read)."""

from __future__ import annotations

import streamlit as st

from core.review.inbox import InboxEntry
from ui.common import STUDIO_PAGE
from ui.identity import workspace
from ui.review_panel import no_links
from ui.router import ensure_router
from ui.times import local_time

PAGE = 30
WHAT = {
    "comment": "commented on your conversation",
    "mention": "mentioned you",
    "status": "changed a status where you commented",
}


def _line(entry: InboxEntry) -> str:
    return f"{entry.actor_name} ({entry.actor}) {WHAT.get(entry.kind, entry.kind)} · “{entry.title}”"


def main() -> None:
    ensure_router()
    svc = workspace()
    st.title("Inbox")
    if not svc.review.enabled:
        st.info("The Inbox is for the team's signed-in people.")
        return
    unread = svc.review.unread()
    top = st.columns([3, 1, 1], vertical_alignment="bottom")
    top[0].caption(f"{unread} unread" if unread else "Nothing unread.")
    only_unread = top[1].toggle("Unread only", key="inbox-unread")
    if top[2].button("Mark all read", icon=":material/done_all:", disabled=not unread):
        svc.review.mark_read()
        st.rerun()
    pages = st.session_state.get("inbox-pages", 1)
    entries = svc.review.inbox(limit=pages * PAGE + 1, unread_only=only_unread)
    if not entries:
        st.info("Nothing here yet: comments on your conversations and mentions of you arrive here.")
    for entry in entries[: pages * PAGE]:
        with st.container(border=True, key=f"inbox-entry-{entry.id}"):
            text_col, open_col = st.columns([6, 1], vertical_alignment="center")
            with text_col:
                marker = "" if entry.read else ":blue-badge[new] "
                st.markdown(marker + no_links(_line(entry)))
                st.caption(local_time(entry.at))
                if entry.detail:
                    st.text(entry.detail[:500])
            if open_col.button("Open", key=f"inbox-open-{entry.id}", icon=":material/open_in_new:"):
                svc.review.mark_read([entry.id])
                where = {"session": entry.conversation_id, "turn": str(entry.reply_id)}
                st.switch_page(STUDIO_PAGE, query_params=where)
    if len(entries) > pages * PAGE and st.button("Show more", icon=":material/expand_more:"):
        st.session_state["inbox-pages"] = pages + 1
        st.rerun()


main()
