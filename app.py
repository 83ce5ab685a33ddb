"""Nano Banana Studio: the router. Pages live in pages/; the engine in core/."""

import logging

import streamlit as st

from core.team.people import OPENING, Refusal, User
from ui.common import settings
from ui.identity import admit, came_back_signed_in, who_is_here
from ui.outage import guarded
from ui.review_panel import review_pages

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("alembic").setLevel(logging.WARNING)

st.set_page_config(page_title="Nano Banana Studio", page_icon="🍌", layout="wide")
if settings().demo:
    # An unexpected exception's message and traceback could name the operator's configuration:
    # a public demo's visitors see that something went wrong, the log keeps the rest.
    st.set_option("client.showErrorDetails", "none")

# The studio answers at `/` (the default page, whose URL path Streamlit always makes "") and at
# `/studio`, the path of saved and shared links (`/studio?session=…`, `/studio?share=…`): a hidden
# page for the same script. Without it Streamlit finds no page named "studio" and opens the link
# under its "Page not found" dialog. Page hashes come from `url_path` ("home" and "studio"), so a
# tab left open across a restart or a deploy finds its page again by hash.
PAGES = [
    st.Page("pages/studio.py", title="Studio", icon=":material/brush:", url_path="home", default=True),
    st.Page("pages/conversations.py", title="Conversations", icon=":material/forum:"),
    st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:"),
    st.Page("pages/usage.py", title="Usage", icon=":material/payments:"),
    st.Page("pages/studio.py", title="Studio", icon=":material/brush:", url_path="studio", visibility="hidden"),
]

# Who is here decides everything else. The navigation is set up either way (hidden for someone
# refused), so the link being opened resolves to its page, and nothing of the studio shows to
# someone not let in; the link is kept for after they sign in.
# A demo visitor's browser key is asked for only after st.navigation: the component answers at
# once, and a rerun it triggers before the browser has heard which page this is would open the
# default page (a reloaded /gallery became the studio, now and then, in the browser test).
found = who_is_here(ask=False)
pages = list(PAGES)
pages[3:3] = review_pages(found if isinstance(found, User) else None)  # the Inbox (its unread count), the kit
page = st.navigation(pages, position="sidebar" if isinstance(found, User) else "hidden")
if isinstance(found, Refusal) and found.message == OPENING:
    found = who_is_here()
admit(found)
came_back_signed_in()
# A page that cannot reach the database says so plainly and comes back by itself.
guarded(page.run)
