"""Nano Banana Studio: the router. Pages live in pages/; the engine in core/."""

import logging

import streamlit as st

from core.team.people import Refusal, User
from ui.identity import refuse, who

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("alembic").setLevel(logging.WARNING)

st.set_page_config(page_title="Nano Banana Studio", page_icon="🍌", layout="wide")

# Who is here decides everything else: with sign-in configured and nobody signed in, nothing of
# the studio shows.
found = who()

studio = st.Page("pages/studio.py", title="Studio", icon=":material/brush:", default=True)
conversations = st.Page("pages/conversations.py", title="Conversations", icon=":material/forum:")
gallery = st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:")
usage = st.Page("pages/usage.py", title="Usage", icon=":material/payments:")
# The navigation is known even on a run that shows only a refusal (or waits for a demo
# visitor's browser key): a page opened by address stays that page when the run that follows
# lets the person in, instead of falling back to the default page.
page = st.navigation(
    [studio, conversations, gallery, usage], position="sidebar" if isinstance(found, User) else "hidden"
)
if isinstance(found, Refusal):
    refuse(found)
page.run()
