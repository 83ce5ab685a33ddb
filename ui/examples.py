"""The demo's start page: example conversations with their prompts, each one click from being
your own to go on with."""

from __future__ import annotations

import streamlit as st

from core.demo import Example
from core.errors import StudioError
from core.values import Seed
from core.workspace import Workspace
from ui.common import hold_seed, plain, preview


def _try(svc: Workspace, example: Example) -> None:
    try:
        made = svc.demo.try_example(example)
    except StudioError as refused:
        st.session_state["flash"] = refused.message
        st.rerun()
    if isinstance(made, Seed):
        hold_seed(made)
    st.query_params.clear()
    st.query_params["session"] = made
    st.rerun()


def render_examples(svc: Workspace) -> None:
    examples = svc.demo.examples()
    if not examples:
        ideas = svc.demo.prompt_ideas()
        if ideas:
            st.subheader("Ideas to start from")
            st.caption("Type one of these below, or your own, and refine it turn by turn.")
            st.markdown("\n".join(f"- {plain(idea)}" for idea in ideas))
        return
    st.subheader("Try an example")
    st.caption("Each one is a real conversation, turn by turn. Try it to go on from where it ends.")
    columns = st.columns(len(examples))
    for column, example in zip(columns, examples, strict=True):
        with column, st.container(border=True):
            if example.image_hash:
                preview(svc, example.image_hash, width=280, alt=f"The result of the example {example.title}")
            st.markdown(f"**{plain(example.title)}**")
            for number, prompt in enumerate(example.prompts, start=1):
                st.caption(f"{number}. {plain(prompt)}")
            if st.button("Try it", key=f"example-{example.conversation_id}", icon=":material/play_arrow:"):
                _try(svc, example)
