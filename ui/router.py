"""Keeps the studio's own navigation on a freshly started server.

A folder called `pages/` beside the main script starts a new Streamlit process in its legacy
multipage mode (`PagesManager.uses_pages_directory`) until `st.navigation` has run once. In that
mode a link to `/studio?session=…` (a saved link, or a tab left open across a restart) runs
`pages/studio.py` directly, without the router, and the sidebar lists module names. Each page
calls `ensure_router()` first: in legacy mode it runs the router in app.py right here, which
turns the mode off and runs the same page with the same query and widget values (a message sent
from a tab left open is not lost), then ends this run.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

ROUTER = Path(__file__).resolve().parent.parent / "app.py"


def _legacy_run() -> bool:
    """Whether this run's pages are the legacy ones (the main script listed as a page). Asked of
    this session's own pages, not of the process-wide flag: a tab reconnecting after a restart
    turns the flag off while another tab's first run is already in legacy mode."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return bool(PagesManager.uses_pages_directory)
    return any(page.get("script_path") == str(ROUTER) for page in ctx.pages_manager.get_pages().values())


def ensure_router() -> None:
    if not _legacy_run():
        return
    PagesManager.uses_pages_directory = False
    runpy.run_path(str(ROUTER), run_name="__main__")
    st.stop()
