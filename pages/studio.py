"""The studio: the open conversation as a chat, refined turn by turn."""

from __future__ import annotations

import dataclasses

import streamlit as st

from core.errors import InvalidInput, StudioError
from core.money.prices import dollars
from core.turns.rules import MAX_PROMPT_CHARS
from core.values import Conversation, Seed, Seen, WaitingMessage, takes_in
from core.workspace import Workspace
from ui.branch_switch import render_switch
from ui.chat_box import chat_box, emptied, held, held_files, held_hashes, hold, open_prompt_key, prompt_key, release
from ui.common import SEED_KEY, load_open_conversation, offline_banner, plain, preview, share_token, visible_key
from ui.cost_panel import live_cost
from ui.examples import render_examples
from ui.identity import who_panel, workspace
from ui.kit_picker import kit_picker, sent
from ui.live import live_chat, remember_shown, shown_version_key
from ui.outage import guarded, not_sent
from ui.review_panel import new_run, render_review_dialog
from ui.router import ensure_router
from ui.settings_panel import (
    draft_choice,
    planned,
    render_recent,
    render_settings,
    renew_settings_widgets,
    retired_notice,
)
from ui.takes_grid import render_takes
from ui.turn_view import render_exchange
from ui.version_tools import render_dialog
from ui.versions_panel import render_versions, version_tree

# The newest exchanges are what a person refines; older ones are a click away, and not loading
# them keeps a 50-turn conversation as quick to rerun as a fresh one.
SHOWN_AT_FIRST = 3
TAKES_RESET = "takes-reset"


def ensure_conversation(svc: Workspace, conversation: Conversation | None) -> tuple[Conversation, list[str]]:
    """The conversation to send to, created now if this is its first message (from a seed held
    by this tab, if any), and the seed's image to go with it."""
    if conversation is not None:
        return conversation, []
    model_id, settings = draft_choice()
    seed: Seed | None = st.session_state.get(SEED_KEY)
    if seed is not None:
        created = svc.from_seed(dataclasses.replace(seed, model=model_id or seed.model, settings=settings))
        seeded = [seed.image_hash] if seed.image_hash else []
    else:
        created, seeded = svc.new_conversation(model_id, settings), []
    st.query_params["session"] = created.id
    st.session_state[f"prompt-of-{created.id}"] = prompt_key(None)
    st.session_state["new-drafts"] = st.session_state.get("new-drafts", 0) + 1  # the next new one starts empty
    return created, seeded


def submit(
    svc: Workspace,
    conversation: Conversation | None,
    text: str,
    files: list,  # type: ignore[type-arg]
    takes: int = 1,
    seen: Seen | None = None,
    kit: list[int] | None = None,
    box: str | None = None,
) -> None:
    """Queue the message for this process's runner, against the version this tab showed (`seen`,
    taken before this run redrew the chat). Whatever cannot be sent stays in the conversation as
    a failed turn with its words and good images. `kit`: brand kit items chosen for it. `box`:
    the chat input it came from, which keeps it until the studio has it (the database may be
    unreachable)."""
    if conversation is not None and seen is None:
        seen = conversation.seen
    picked_for = conversation.id if conversation else None  # the kit picker's, before one is made
    conversation, hashes = ensure_conversation(svc, conversation)
    if box is not None:
        # The seed's image is this message's now: held with it, should the rest fail to arrive.
        hold(box, text, files, [*held_hashes(box), *hashes])
        hashes = held_hashes(box)
    st.session_state.pop(SEED_KEY, None)
    problems: list[str] = []
    for file in files:
        try:
            upload = svc.upload(file.getvalue(), file.name)
        except InvalidInput as error:
            problems.append(error.message)
            continue
        hashes.append(upload.image.hash)
        if upload.note:
            st.toast(upload.note, icon=":material/info:")
    if kit:
        try:
            hashes.extend(svc.review.attach(kit))
        except StudioError as error:
            problems.append(error.message)
    if len(text) > MAX_PROMPT_CHARS:
        problems.append(
            f"The prompt is {len(text):,} characters; the studio sends at most {MAX_PROMPT_CHARS:,}. "
            "Shorten it with Edit and resend."
        )
    request, error = svc.type_ahead(conversation.id, text, hashes, problems=problems, seen=seen, takes=takes)
    if box is not None:
        release(box)  # in the conversation now: as a turn, a queued message, or a failed turn with its words
    if kit:
        sent(picked_for)  # only now: until the studio has the message, the picker keeps its choice
    # Takes go back to 1 once sent: the next ordinary edit is one call (set before the widget is drawn).
    st.session_state[TAKES_RESET] = st.session_state.get(TAKES_RESET, 0) + 1
    if error is not None:
        # Nothing was sent, and nothing is lost: the words and good images stay as a failed turn.
        st.session_state["flash"] = error.message
        st.rerun()
    if isinstance(request, WaitingMessage):
        st.rerun()  # it waits under the turn being made, and goes when that lands
    if request.settings != conversation.settings:
        renew_settings_widgets(conversation.id)
        st.session_state["flash"] = (
            f"Output set to {request.settings.image_size or 'default size'}, {request.settings.aspect_ratio} "
            "from your message, for this and the next turns."
        )
    st.rerun()


def render_seed(svc: Workspace) -> None:
    """A seed waits in the input of a new conversation: shown, removable, sent with the first message."""
    seed: Seed | None = st.session_state.get(SEED_KEY)
    if seed is None:
        return
    st.caption(f"Continuing from “{plain(seed.title)}”: this image goes with your first message.")
    if seed.image_hash:
        preview(svc, seed.image_hash, width=160, alt=f"Image from {seed.title}, attached to your first message")
    if st.button("Remove", key="unseed", type="tertiary", icon=":material/close:"):
        st.session_state.pop(SEED_KEY, None)
        st.rerun()


def render_history(svc: Workspace, conversation: Conversation) -> None:
    unseen: set[int] = st.session_state.get(f"unseen-{conversation.id}", set())
    exchanges = conversation.shown  # the current branch
    key = visible_key(conversation.id)
    shown = st.session_state.get(key, SHOWN_AT_FIRST)
    hidden = max(0, len(exchanges) - shown)
    if hidden and st.button(
        f"Show earlier turns ({hidden} hidden)",
        icon=":material/expand_less:",
        type="tertiary",
    ):
        st.session_state[key] = shown + SHOWN_AT_FIRST
        st.rerun()
    everything = conversation.exchanges
    for group in takes_in(exchanges[hidden:]):
        if len(group) > 1:
            render_takes(svc, conversation, group)
            continue
        render_switch(svc, conversation, everything, group[0])
        reply = group[0].reply
        # The current version has no "Branch from here": it is where the next message goes already.
        render_exchange(svc, conversation, group[0], last=reply is not None and reply.id == conversation.tip_id)
        if group[0].request.id in unseen:
            st.caption("The model no longer sees this turn: the conversation outgrew the request size limit.")


def render_branch(svc: Workspace, conversation: Conversation) -> None:
    """Inside the live chat, so the version strip follows results and takes as they land."""
    new_run()  # comments and statuses are read again for this redraw
    render_versions(svc, conversation)
    render_history(svc, conversation)


def read_only(svc: Workspace, conversation: Conversation) -> None:
    """Someone else's conversation (shared with the team, or by link): look, download, copy."""
    whose = conversation.owner or "someone"
    st.info(
        f"This conversation is {plain(whose)}'s, shared with you to look at. Make a copy to go on from it: "
        "the copy is yours, with the whole history, and the model picks up where it left off.",
        icon=":material/visibility:",
    )
    if st.button("Make a copy", type="primary", icon=":material/content_copy:"):
        copied = svc.copy(conversation.id, token=share_token(conversation.id))
        st.query_params.clear()
        st.query_params["session"] = copied
        st.rerun()


def outage_box(boxes: list[str]) -> None:
    """Under the notice that the database is unreachable: the chat box, so what is typed now is
    kept (and put back in the box) rather than lost with the page."""
    if boxes:
        if emptied(boxes[0]):
            # The box lost its words to this run's send: the next run puts them back, and says
            # why even if the database is back by then.
            st.session_state["flash"] = not_sent()
            st.rerun()
        return
    key = open_prompt_key()
    value = chat_box(key)
    if value is not None and (value.text.strip() or value.files):
        hold(key, value.text, [*held_files(key), *value.files], held_hashes(key))
        st.session_state["flash"] = not_sent()
        st.rerun()


def main() -> None:
    ensure_router()
    boxes: list[str] = []  # the chat box, once this run has drawn it
    guarded(lambda: studio(boxes), box=lambda: outage_box(boxes))


def studio(boxes: list[str]) -> None:
    svc = workspace()
    if flash := st.session_state.pop("flash", None):
        st.toast(plain(flash), icon=":material/info:")
    conversation = load_open_conversation(svc, visible=SHOWN_AT_FIRST)
    if conversation is not None:
        remember_shown(conversation)
    owner = conversation is None or svc.can_change(conversation)
    with st.sidebar:
        if st.button("New conversation", icon=":material/add:", type="primary", width="stretch"):
            st.session_state.pop(SEED_KEY, None)
            st.query_params.clear()
            st.rerun()
        plan = None
        # A conversation on a retired model is read-only: no next request to weigh or price.
        sends = owner and (conversation is None or svc.can_send(conversation))
        if owner:
            spec, _settings = render_settings(svc, conversation)
            plan = planned(svc, conversation) if sends and conversation is not None and conversation.turns else None
        else:
            spec = svc.catalog.get(conversation.model) if conversation else svc.catalog.default
        live_cost(svc, conversation, meter=sends)
        st.divider()
        render_recent(svc, conversation.id if conversation else None)
        who_panel(svc)

    offline_banner(svc)
    shown_before: Seen | None = None
    if conversation is None:
        st.title("Nano Banana Studio")
        st.markdown(
            "Describe an image to start, attach photos to edit, then refine it turn by turn: "
            "*make it blue*, *add a bell*, *4K, 16:9*."
        )
        render_seed(svc)
        if svc.settings.demo and SEED_KEY not in st.session_state:
            render_examples(svc)
    else:
        # What the tab showed when the person pressed Enter: this run's chat redraw below would
        # otherwise have the message sent against whatever is newest now (after Use this one or
        # Branch from here in another tab: an image its author never saw).
        drawn = st.session_state.get(shown_version_key(conversation.id))
        shown_before = drawn if isinstance(drawn, Seen) else None
        st.title(plain(conversation.title))
        st.session_state[f"unseen-{conversation.id}"] = {e.request.id for e in plan.dropped} if plan else set()
        live_chat(svc, conversation, render_branch, SHOWN_AT_FIRST)
        tree = version_tree(svc, conversation)
        render_dialog(svc, conversation, tree)
        render_review_dialog(svc, conversation, tree)

    if not owner and conversation is not None:
        read_only(svc, conversation)
        return
    if conversation is not None and retired_notice(svc, conversation):
        return
    if conversation is None and (refused := svc.demo.new_conversation_refusal()):
        # Said before anything is typed, so no words are lost to a refusal.
        st.warning(plain(refused), icon=":material/block:")
        return
    input_key = prompt_key(conversation.id if conversation else None)
    value = chat_box(input_key)
    boxes.append(input_key)
    if value is not None:  # kept from here on, whatever below cannot reach the database
        hold(input_key, value.text, [*held_files(input_key), *value.files], held_hashes(input_key))
    # A fresh widget after each send: Takes go back to 1 (setting a drawn widget's value back is
    # not reliably passed to the browser). Only as many takes as the limits let through now (a
    # demo's one running turn: none to choose).
    sends = st.session_state.get(TAKES_RESET, 0)
    offered = svc.takes_offered(conversation)
    takes_key = f"takes-{conversation.id if conversation else 'new'}-{sends}-{offered}"
    takes_col, kit_col = st.columns([3, 2], vertical_alignment="bottom")
    with takes_col:
        takes = (
            st.segmented_control(
                "Takes",
                list(range(1, offered + 1)),
                default=1,
                key=takes_key,
                help="Make several takes at once, from the same version: they arrive side by side; "
                "use the one you like.",
            )
            if offered > 1
            else 1
        )
    with kit_col:
        kit = kit_picker(svc, conversation.id if conversation else None, prompt_key=input_key)
    if conversation is not None and int(takes or 1) > 1:
        estimate = svc.estimate(conversation)
        st.caption(f"{int(takes or 1)} takes: about {int(takes or 1)} × {dollars(estimate.micro)} for this message.")
    if value is not None:
        text, files, _hashes = held(input_key)
        if text.strip() or files or _hashes or kit:
            submit(svc, conversation, text, files, int(takes or 1), seen=shown_before, kit=kit, box=input_key)
        release(input_key)
        st.warning("Type a prompt or attach an image.", icon=":material/edit:")
    if spec.max_input_images:
        st.caption(
            f"{spec.label}: up to {spec.max_input_images} images per message, about "
            f"{svc.settings.max_request_mb:g} MB in all once encoded. Photos are sent at up to "
            f"{svc.settings.upload_long_side} px (the full size is kept for Download); files up to "
            f"{svc.settings.max_upload_mb:g} MB each."
        )


main()
