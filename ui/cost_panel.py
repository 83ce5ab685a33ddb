"""The sidebar's money: what this conversation has cost, what the next turn should cost (the
replayed history is most of it), and when starting afresh from the latest image is cheaper."""

from __future__ import annotations

import streamlit as st

from core.money.prices import Estimate, dollars
from core.values import Conversation
from core.workspace import Workspace
from ui import outage
from ui.common import hold_seed, share_token, stored_once
from ui.live import COST, newest_shown
from ui.settings_panel import planned, render_meter


def _costs(svc: Workspace, conversation: Conversation) -> tuple[tuple[int, int], Estimate | None]:
    busy = tuple((t.id, t.status) for t in conversation.in_flight)
    return stored_once(
        "cost-cache",
        (conversation.id, conversation.version, conversation.tip_id, busy, conversation.settings),
        lambda: (
            svc.spent(conversation.id, token=share_token(conversation.id)),
            svc.estimate(conversation) if svc.can_send(conversation) else None,
        ),
    )


def render_cost(svc: Workspace, conversation: Conversation | None) -> None:
    if conversation is None:
        return
    (known, unknown), estimate = _costs(svc, conversation)
    spent = f"Spent here: **{dollars(known)}**"
    if unknown:
        spent += f", and up to {dollars(unknown)} that may be billed at a cost not yet known"
    if svc.offline:
        spent += " (offline demo: never billed, counts against no limit)"
    st.caption(spent)
    if estimate is None:
        return
    if not estimate.known:
        st.caption("Next turn: no price for this model in the table (`STUDIO_MODELS_FILE`).")
        return
    st.caption(
        f"Next turn ≈ **{dollars(estimate.micro)}**: re-sending the history {dollars(estimate.history_micro)}, "
        f"the new image {dollars(estimate.output_micro)}."
    )
    latest = conversation.latest_image
    if estimate.history_dominates and latest is not None and latest.image_hash:
        st.caption(
            "Re-sending the history now costs more than the new work. Continuing from the latest image starts "
            "afresh with it and costs less; the model then no longer sees the earlier turns."
        )
        if st.button("Continue from the latest image", icon=":material/fork_right:", key="continue-cheaper"):
            hold_seed(svc.continue_from(conversation.id, latest.image_hash))


@st.fragment(key=COST)
def live_cost(svc: Workspace, conversation: Conversation | None, meter: bool = False) -> None:
    """The sidebar's size meter and money follow what lands: the live chat's watch redraws them
    with the chat; they read the chat's newest copy of the conversation (no query of its own) and
    the database only when that copy changed. (The meter was drawn by the full page only, so it
    kept the plan of the moment a message was sent, one exchange short, until the next full run:
    4.2 MB after turn 9, 6.2 MB after a restart.)"""
    shown = newest_shown(conversation) if conversation is not None else None
    try:
        if meter and shown is not None and shown.turns:
            plan = planned(svc, shown)
            render_meter(plan, shown)
            st.session_state[f"unseen-{shown.id}"] = {e.request.id for e in plan.dropped}
        render_cost(svc, shown)
    except Exception as exc:
        if not outage.saw(exc):
            raise
        # Said under the chat; the money is drawn again with everything else once it is back.
