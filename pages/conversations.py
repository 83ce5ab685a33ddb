"""All conversations, newest activity first: open, rename, delete."""

from __future__ import annotations

import streamlit as st

from core.errors import StudioError
from ui.common import STUDIO_PAGE, offline_banner, plain, preview, service
from ui.router import ensure_router

ensure_router()
svc = service()
offline_banner(svc)
st.title("Conversations")
summaries = svc.conversations()
if not summaries:
    st.info("No conversations yet.")
    st.page_link(STUDIO_PAGE, label="Start one in the studio", icon=":material/brush:")

for summary in summaries:
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
            label = model.label if model else summary.model
            st.caption(f"{turns} · {label} · last active {summary.updated_at:%Y-%m-%d %H:%M} UTC")
        with actions:
            with st.popover("Rename", icon=":material/edit:", width="stretch"):
                title = st.text_input("Title", value=summary.title, key=f"title-{summary.id}", max_chars=200)
                if st.button("Save", key=f"save-{summary.id}"):
                    try:
                        svc.rename(summary.id, title)
                        st.rerun()
                    except StudioError as error:
                        st.error(error.message)
            confirm_key = f"confirm-delete-{summary.id}"
            if st.session_state.get(confirm_key):
                st.warning("Delete this conversation and its images?")
                yes, no = st.columns(2)
                if yes.button("Delete", key=f"yes-{summary.id}", type="primary"):
                    svc.delete(summary.id)
                    st.session_state.pop(confirm_key, None)
                    st.toast(f"Deleted “{summary.title}”.")
                    st.rerun()
                if no.button("Keep", key=f"no-{summary.id}"):
                    st.session_state.pop(confirm_key, None)
                    st.rerun()
            elif st.button("Delete", key=f"delete-{summary.id}", icon=":material/delete:", width="stretch"):
                st.session_state[confirm_key] = True
                st.rerun()
