"""The gallery: every result image you may see, newest first; star the ones you chose."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core.errors import StudioError
from core.review.rules import Status
from core.workspace import Workspace
from ui.common import STUDIO_PAGE, offline_banner, plain, preview
from ui.featuring import can_feature, feature_button
from ui.identity import workspace
from ui.review_panel import badge
from ui.router import ensure_router
from ui.times import local_time

PAGE = 24
COLUMNS = 4


def _star(svc: Workspace, reply_id: int) -> None:
    try:
        svc.favourite(reply_id)
    except StudioError as error:
        st.session_state["gallery-flash"] = error.message


def main() -> None:
    ensure_router()
    svc = workspace()
    offline_banner(svc)
    st.title("Gallery")
    if flash := st.session_state.pop("gallery-flash", None):
        st.error(plain(flash))
    search_col, model_col, person_col, since_col, fav_col, approved_col = st.columns(
        [3, 2, 2, 2, 1.4, 1.4], vertical_alignment="bottom"
    )
    search = search_col.text_input("Search prompts and titles", key="gallery-search", placeholder="bicycle")
    models = {m.id: m.label for m in svc.catalog.models.values()}
    picked = model_col.selectbox("Model", ["any", *models], format_func=lambda m: models.get(m, "Any model"))
    # A demo's visitor sees their own work only: no one else to filter by.
    person = "" if not svc.publishing else person_col.text_input("Person (email)", key="gallery-person")
    since = since_col.date_input("Since", value=None, key="gallery-since")
    favourites = fav_col.toggle("Favourites", key="gallery-favourites")
    approved = approved_col.toggle("Approved", key="gallery-approved", help="Only versions approved in review")
    pages = st.session_state.get("gallery-pages", 1)
    items = svc.gallery(
        limit=pages * PAGE + 1,
        search=search or None,
        model=None if picked == "any" else picked,
        person=person.strip() or None,
        favourites_only=favourites,
        approved_only=approved,
        since=dt.datetime.combine(since, dt.time()) if since else None,
    )
    if not items:
        st.info("No images yet." if not (search or favourites or approved) else "Nothing matches.")
    featured = svc.demo.featured() if can_feature(svc) else set()
    grid = st.columns(COLUMNS)
    for n, item in enumerate(items[: pages * PAGE]):
        with grid[n % COLUMNS], st.container(border=True):
            preview(svc, item.image_hash, width=240, alt=f"Result for: {item.prompt[:200] or item.title}")
            if item.status != "draft":
                badge(Status(item.status))
            st.caption(plain(item.prompt[:140] or item.title))
            model = svc.catalog.models.get(item.model)
            label = model.label if model else item.model
            st.caption(plain(f"{item.owner or 'someone'} · {label} · {local_time(item.created_at)}"))
            open_col, star_col = st.columns([3, 1])
            open_col.page_link(
                STUDIO_PAGE,
                label="Open",
                icon=":material/open_in_new:",
                query_params={"session": item.conversation_id, "turn": str(item.reply_id)},
            )
            star_col.button(
                "★" if item.favourite else "☆",
                key=f"star-{item.reply_id}",
                on_click=_star,
                args=(svc, item.reply_id),
                type="tertiary",
                help="Unstar" if item.favourite else "Star it: the one we chose",
            )
            feature_button(
                svc, item.conversation_id, featured, key=f"feature-{item.reply_id}", flash_key="gallery-flash"
            )
    if len(items) > pages * PAGE and st.button("Show more", icon=":material/expand_more:"):
        st.session_state["gallery-pages"] = pages + 1
        st.rerun()


main()
