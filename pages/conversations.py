"""Finding work: my conversations, the ones shared with the team, and the trash."""

from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st

from core.errors import StudioError
from core.values import ConversationSummary
from core.workspace import Workspace
from ui.common import STUDIO_PAGE, offline_banner, plain, preview
from ui.featuring import can_feature, feature_button
from ui.identity import workspace
from ui.router import ensure_router
from ui.times import local_time

PAGE = 50
EMPTY = {"mine": "No conversations yet.", "team": "Nothing shared with the team yet.", "trash": "The trash is empty."}


def _act(svc: Workspace, verb: str, conversation_id: str) -> None:
    try:
        if verb == "share":
            svc.share(conversation_id, True)
        elif verb == "unshare":
            svc.share(conversation_id, False)
        elif verb == "link":
            svc.create_link(conversation_id)
        elif verb == "unlink":
            svc.revoke_link(conversation_id)
        elif verb == "delete":
            svc.delete(conversation_id)
            st.toast("Moved to the trash for 30 days.", icon=":material/delete:")
        elif verb == "restore":
            svc.restore(conversation_id)
        elif verb == "forever":
            svc.delete_forever(conversation_id)
        elif verb == "copy":
            copied = svc.copy(conversation_id)
            st.toast("Copied: the copy is in Mine.", icon=":material/content_copy:")
            st.session_state["copied"] = copied
    except StudioError as error:
        st.session_state["conversations-flash"] = error.message


def row(svc: Workspace, summary: ConversationSummary, tab: str, featured: set[str] | None = None) -> None:
    with st.container(border=True):
        thumb, body, actions = st.columns([1, 4, 2], vertical_alignment="center")
        with thumb:
            if summary.thumbnail_hash:
                preview(svc, summary.thumbnail_hash, width=96, alt=f"Latest image of {summary.title}")
            else:
                st.caption("No image yet")
        with body:
            st.page_link(
                STUDIO_PAGE,
                label=plain(summary.title),
                query_params={"session": summary.id},
                icon=":material/open_in_new:",
            )
            model = svc.catalog.models.get(summary.model)
            turns = f"{summary.turn_count} turn{'' if summary.turn_count == 1 else 's'}"
            bits = [turns, model.label if model else summary.model, f"last active {local_time(summary.updated_at)}"]
            if tab == "team":
                bits.insert(0, f"by {summary.owner or 'someone'}")
            elif summary.visibility == "team":
                bits.append("shared with the team")
            st.caption(plain(" · ".join(bits)))
        with actions:
            if tab == "trash":
                st.button("Restore", key=f"restore-{summary.id}", on_click=_act, args=(svc, "restore", summary.id))
                st.button(
                    "Delete forever", key=f"forever-{summary.id}", on_click=_act, args=(svc, "forever", summary.id)
                )
            elif tab == "team":
                st.button("Make a copy", key=f"copy-{summary.id}", on_click=_act, args=(svc, "copy", summary.id))
            else:
                mine(svc, summary)
            if tab != "trash":
                feature_button(
                    svc,
                    summary.id,
                    featured or set(),
                    key=f"feature-{tab}-{summary.id}",
                    flash_key="conversations-flash",
                )


def mine(svc: Workspace, summary: ConversationSummary) -> None:
    if svc.publishing:
        share(svc, summary)
    rename_and_delete(svc, summary)


def share(svc: Workspace, summary: ConversationSummary) -> None:
    with st.popover("Share", icon=":material/share:", width="stretch"):
        if summary.visibility == "team":
            st.caption("Everyone signed in to this studio can open it (read-only) and copy it.")
            st.button("Make private", key=f"unshare-{summary.id}", on_click=_act, args=(svc, "unshare", summary.id))
        else:
            st.caption("Private: only you (and admins) can open it.")
            st.button("Share with the team", key=f"share-{summary.id}", on_click=_act, args=(svc, "share", summary.id))
        # The link comes with the listing (one query for the page), never a read per row.
        if summary.share_token:
            link = f"{(st.context.url or '').split('?')[0].rsplit('/', 1)[0]}/studio?share={summary.share_token}"
            st.code(link, language=None)  # st.code has a copy button
            st.button("Revoke the link", key=f"unlink-{summary.id}", on_click=_act, args=(svc, "unlink", summary.id))
        else:
            st.button(
                "Create a read-only link", key=f"link-{summary.id}", on_click=_act, args=(svc, "link", summary.id)
            )


def rename_and_delete(svc: Workspace, summary: ConversationSummary) -> None:
    with st.popover("Rename", icon=":material/edit:", width="stretch"):
        title = st.text_input("Title", value=summary.title, key=f"title-{summary.id}", max_chars=200)
        if st.button("Save", key=f"save-{summary.id}"):
            try:
                svc.rename(summary.id, title)
                st.rerun()
            except StudioError as error:
                st.error(plain(error.message))
    confirm_key = f"confirm-delete-{summary.id}"
    if st.session_state.get(confirm_key):
        st.warning("Move this conversation to the trash? You can restore it for 30 days.")
        yes, no = st.columns(2)
        if yes.button("Delete", key=f"yes-{summary.id}", type="primary"):
            _act(svc, "delete", summary.id)
            st.session_state.pop(confirm_key, None)
            st.rerun()
        if no.button("Keep", key=f"no-{summary.id}"):
            st.session_state.pop(confirm_key, None)
            st.rerun()
    elif st.button("Delete", key=f"delete-{summary.id}", icon=":material/delete:", width="stretch"):
        st.session_state[confirm_key] = True
        st.rerun()


def listing(svc: Workspace, tab: str, **filters: Any) -> None:
    pages_key = f"pages-{tab}"
    shown = st.session_state.get(pages_key, 1) * PAGE
    found = svc.conversations(tab, limit=shown + 1, **filters)
    if not found:
        st.info(
            {
                "mine": "No conversations yet.",
                "team": "Nothing shared with the team yet.",
                "trash": "The trash is empty.",
            }[tab]
        )
        if tab == "mine":
            st.page_link(STUDIO_PAGE, label="Start one in the studio", icon=":material/brush:")
    featured = svc.demo.featured() if can_feature(svc) else set()
    for summary in found[:shown]:
        row(svc, summary, tab, featured)
    if len(found) > shown and st.button("Show more", key=f"more-{tab}", icon=":material/expand_more:"):
        st.session_state[pages_key] = st.session_state.get(pages_key, 1) + 1
        st.rerun()


def main() -> None:
    ensure_router()
    svc = workspace()
    offline_banner(svc)
    st.title("Conversations")
    if flash := st.session_state.pop("conversations-flash", None):
        st.error(plain(flash))
    search_col, model_col, person_col, since_col = st.columns([3, 2, 2, 2])
    search = search_col.text_input("Search titles and prompts", key="conversation-search", placeholder="bicycle")
    models = {m.id: m.label for m in svc.catalog.models.values()}
    picked = model_col.selectbox("Model", ["any", *models], format_func=lambda m: models.get(m, "Any model"))
    person = None
    if svc.publishing:
        person = person_col.text_input("Person (team tab)", key="conversation-person", placeholder="ann@example.com")
    since = since_col.date_input("Active since", value=None, key="conversation-since")
    filters: dict[str, Any] = {
        "search": search or None,
        "model": None if picked == "any" else picked,
        "since": dt.datetime.combine(since, dt.time()) if since else None,
    }
    if not svc.publishing:
        # A demo's visitor: their own work only, no team to share with.
        mine_tab, trash_tab = st.tabs(["Mine", "Trash"])
        with mine_tab:
            listing(svc, "mine", **filters)
        with trash_tab:
            listing(svc, "trash", **filters)
        return
    mine_tab, team_tab, trash_tab = st.tabs(["Mine", "Shared with the team", "Trash"])
    with mine_tab:
        listing(svc, "mine", **filters)
    with team_tab:
        listing(svc, "team", person=person or None, **filters)
    with trash_tab:
        listing(svc, "trash", **filters)
    if svc.user.is_admin and st.session_state.get("studio-mode") != "local":
        with st.expander("Audit log (admins)", icon=":material/policy:"):
            st.dataframe(
                [
                    {"when": local_time(e.at), "who": e.actor, "what": e.action, "conversation": e.conversation_id}
                    for e in svc.audit_log()
                ],
                hide_index=True,
            )


main()
