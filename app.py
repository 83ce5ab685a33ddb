"""Nano Banana Studio: the router. Pages live in pages/; the engine in core/."""

import logging

import streamlit as st

from ui.identity import current_user, workspace

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("alembic").setLevel(logging.WARNING)

st.set_page_config(page_title="Nano Banana Studio", page_icon="🍌", layout="wide")

# Who is here decides everything else: with sign-in configured and nobody signed in, nothing of
# the studio shows.
current_user()

studio = st.Page("pages/studio.py", title="Studio", icon=":material/brush:", default=True)
conversations = st.Page("pages/conversations.py", title="Conversations", icon=":material/forum:")
gallery = st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:")
usage = st.Page("pages/usage.py", title="Usage", icon=":material/payments:")
pages = [studio, conversations, gallery, usage]
svc = workspace()
if svc.review.enabled:  # a demo's visitors have no inbox and no kit
    if "review-known" not in st.session_state:  # once per session: the @mention picker knows them
        svc.review.remember_me()
        st.session_state["review-known"] = True
    unread = svc.review.unread()
    pages[3:3] = [
        st.Page("pages/inbox.py", title=f"Inbox ({unread})" if unread else "Inbox", icon=":material/inbox:"),
        st.Page("pages/kit.py", title="Brand kit", icon=":material/collections_bookmark:"),
    ]
st.navigation(pages).run()
