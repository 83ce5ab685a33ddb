"""The sidebar: conversation settings limited to what the model can do, the size meter, and
recent conversations."""

from __future__ import annotations

import dataclasses

import streamlit as st

from core.provider.catalog import ModelSpec
from core.turns.replay import ReplayPlan
from core.values import Conversation, GenerationSettings, Seed
from core.workspace import Workspace
from ui.common import CONVERSATIONS_PAGE, DRAFT_SETTINGS_KEY, hold_seed, plain, preview, stored_once

DEFAULT_KEY = DRAFT_SETTINGS_KEY


def _generation_key(conversation_id: str) -> str:
    return f"settings-generation-{conversation_id}"


def renew_settings_widgets(conversation_id: str) -> None:
    """Settings changed outside the sidebar (typed in a message). The browser keeps each widget's
    value and sends it back, so clearing server state is not enough: new widget keys make the
    old widgets (and their old values) go away, and the new ones start from what is stored."""
    key = _generation_key(conversation_id)
    st.session_state[key] = st.session_state.get(key, 0) + 1


def draft_choice() -> tuple[str | None, GenerationSettings]:
    """Model and settings chosen before the first message of a new conversation."""
    return st.session_state.get(DEFAULT_KEY, (None, GenerationSettings()))


def _model_picker(svc: Workspace, conversation: Conversation | None, current: ModelSpec) -> ModelSpec:
    offered = svc.offered_models()
    if current not in offered:
        offered = [current, *offered]
    ids = [m.id for m in offered]
    labels = {m.id: m.label + (" (retired)" if m.is_retired() else "") for m in offered}
    locked = conversation is not None and bool(conversation.turns)
    chosen = st.selectbox(
        "Model",
        ids,
        index=ids.index(current.id),
        format_func=labels.__getitem__,
        disabled=locked,
        key=f"model-{conversation.id if conversation else 'new'}",
        help="Fixed once a conversation has turns: the model's signatures only make sense to the same model.",
    )
    if locked and conversation is not None:
        with st.popover("Use another model", icon=":material/swap_horiz:", width="stretch"):
            st.caption("Starts a new conversation seeded with the current image.")
            others = [m for m in svc.offered_models() if m.id != current.id]
            target = st.selectbox("New model", [m.id for m in others], format_func=labels.get, key="switch-target")
            if target and st.button("Start new conversation", type="primary"):
                seed = svc.switch_model(conversation.id, target)
                if isinstance(seed, Seed):
                    hold_seed(seed)
        return current
    spec = svc.catalog.get(chosen)
    if conversation is not None and chosen != conversation.model:
        svc.switch_model(conversation.id, chosen)
        st.rerun()
    return spec


def _save(svc: Workspace, conversation_id: str | None, field: str, key: str) -> None:
    """on_change: only the person's own change is written, one field, over what is stored now
    (so a tab never writes back another tab's choice it merely displayed)."""
    value = st.session_state.get(key)
    if field == "thinking_level" and value == "default":
        value = None
    if field == "image_size" and value is None:
        return  # a segmented control clicked off: keep the size
    if conversation_id is None:
        model_id, current = draft_choice()
        st.session_state[DEFAULT_KEY] = (model_id, dataclasses.replace(current, **{field: value}))
        return
    svc.change_settings(conversation_id, **{field: value})


def render_settings(svc: Workspace, conversation: Conversation | None) -> tuple[ModelSpec, GenerationSettings]:
    if conversation is not None:
        spec, stored = svc.catalog.get(conversation.model), conversation.settings
    else:
        model_id, stored = draft_choice()
        spec = svc.catalog.get(model_id) if model_id else svc.catalog.default
    spec = _model_picker(svc, conversation, spec)
    stored = svc.fit_settings(spec, stored)
    if conversation is None:
        st.session_state[DEFAULT_KEY] = (spec.id, stored)
    owner = conversation.id if conversation else "new"
    target = conversation.id if conversation else None
    scope = f"{owner}-{spec.id}-{st.session_state.get(_generation_key(owner), 0)}"

    def saver(field: str, key: str) -> dict[str, object]:
        return {"key": key, "on_change": _save, "args": (svc, target, field, key)}

    st.selectbox(
        "Aspect ratio",
        spec.aspect_ratios,
        index=spec.aspect_ratios.index(stored.aspect_ratio),
        **saver("aspect_ratio", f"ratio-{scope}"),  # type: ignore[arg-type]
    )
    if spec.image_sizes:
        st.segmented_control(
            "Size",
            svc.image_sizes(spec),
            default=stored.image_size,
            **saver("image_size", f"size-{scope}"),  # type: ignore[arg-type]
        )
    else:
        st.caption("This model has no size setting.")
    st.toggle(
        "Image only (no text)",
        value=stored.image_only,
        help="Asks for an image every time; the model may still answer in words.",
        **saver("image_only", f"only-{scope}"),  # type: ignore[arg-type]
    )
    if spec.search_grounding:
        st.toggle(
            "Google Search grounding",
            value=stored.grounding,
            **saver("grounding", f"ground-{scope}"),  # type: ignore[arg-type]
        )
    if spec.thinking_levels:
        options = ["default", *spec.thinking_levels]
        st.selectbox(
            "Thinking",
            options,
            index=options.index(stored.thinking_level or "default"),
            **saver("thinking_level", f"think-{scope}"),  # type: ignore[arg-type]
        )
    return spec, stored


def planned(svc: Workspace, conversation: Conversation) -> ReplayPlan:
    """What the next request would carry, planned once per version, tip, turn states and settings
    (the weights are stored once per turn; the plan is not redone on every click)."""
    states = tuple((t.id, t.status) for t in conversation.turns)
    key = (conversation.id, conversation.version, conversation.tip_id, states, conversation.settings)
    return stored_once("plan-cache", key, lambda: svc.meter(conversation))


def render_meter(plan: ReplayPlan, conversation: Conversation) -> None:
    limit_mb = plan.limit_bytes / 1_048_576
    used = plan.estimated_bytes
    # Under a megabyte in kilobytes: "0.0 MB" hides a short conversation's growth.
    amount = f"{used / 1_048_576:.1f} MB" if used >= 1_048_576 else f"{used / 1024:.0f} KB"
    st.progress(min(1.0, used / max(1, plan.limit_bytes)), text=f"Next request ≈ {amount} of {limit_mb:g} MB")
    if plan.dropped:
        numbers = turn_numbers(conversation)
        first, last = numbers[plan.dropped[0].request.id], numbers[plan.dropped[-1].request.id]
        st.caption(
            f"To stay under the limit the model no longer sees turns {first}–{last} "
            f"({len(plan.dropped)} oldest). **Continue** from the latest image to start afresh with it."
        )
        if plan.carried:
            st.caption(f"Your own {len(plan.carried)} image(s) from those turns are still sent with the next message.")


def turn_numbers(conversation: Conversation) -> dict[int, int]:
    """The 1-based number a person sees for each exchange, by its request's id."""
    return {e.request.id: n for n, e in enumerate(conversation.exchanges, start=1)}


def render_recent(svc: Workspace, current_id: str | None) -> None:
    st.page_link(CONVERSATIONS_PAGE, label="All conversations", icon=":material/forum:")
    for summary in svc.conversations("mine", limit=8):
        left, right = st.columns([1, 3], vertical_alignment="center")
        with left:
            if summary.thumbnail_hash:
                preview(svc, summary.thumbnail_hash, width=48, alt=f"Latest image of {summary.title}")
        with right:
            label = plain(summary.title)
            if st.button(label, key=f"recent-{summary.id}", type="tertiary", disabled=summary.id == current_id):
                st.query_params["session"] = summary.id
                st.rerun()


def retired_notice(svc: Workspace, conversation: Conversation) -> bool:
    """A conversation on a retired model opens read-only, with Continue on its successor: a new
    conversation from its latest image, as choosing another model does. True when shown."""
    retired = svc.retired(conversation) if conversation.turns else None
    if retired is None:
        return False
    model = retired.model
    when = f" on {model.retired:%d %B %Y}" if model.retired else ""
    st.info(
        plain(
            f"{model.label} was retired{when} and no longer answers, so this conversation is kept to look at "
            "and download. " + (model.note or "")
        ),
        icon=":material/history:",
    )
    successor = retired.successor
    if successor is None:
        st.caption("Use another model (in the sidebar) to go on from the latest image in a new conversation.")
    elif st.button(f"Continue on {successor.label}", type="primary", icon=":material/arrow_forward:"):
        seed = svc.switch_model(conversation.id, successor.id)
        if isinstance(seed, Seed):
            hold_seed(seed)
    return True
