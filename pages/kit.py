"""The brand kit: the team's reference images (product shots, logos, characters, styles). Add
one with a name and tags; attach items to a message from the picker beside the chat input."""

from __future__ import annotations

import streamlit as st

from core.errors import StudioError
from core.media.images import EXTENSIONS
from core.review.kit import KitItem
from core.workspace import Workspace
from ui.common import STUDIO_PAGE, plain, preview
from ui.identity import workspace
from ui.review_panel import no_links
from ui.router import ensure_router
from ui.times import local_time

COLUMNS = 4


def _add(svc: Workspace) -> None:
    with st.form("kit-add", clear_on_submit=True, border=True):
        st.markdown("**Add to the kit**")
        file = st.file_uploader("Image", type=sorted({*EXTENSIONS.values(), "jpeg"} - {"bin"}), key="kit-file")
        name = st.text_input("Name", placeholder="Logo", key="kit-name")
        tags = st.text_input("Tags (comma-separated)", placeholder="logo, brand", key="kit-tags")
        if st.form_submit_button("Add", type="primary", icon=":material/add:"):
            if file is None:
                st.warning("Choose an image to add.")
                return
            try:
                item, note = svc.review.add_to_kit(file.getvalue(), file.name, name, tags)
            except StudioError as error:
                st.error(plain(error.message))
                return
            st.session_state["kit-flash"] = f"“{item.name}” is in the kit." + (f" {note}" if note else "")
            st.rerun()


def _retire(svc: Workspace, item_id: int) -> None:
    try:
        svc.review.retire(item_id)
        st.session_state["kit-flash"] = "Retired: it is no longer offered; conversations that used it keep their copy."
    except StudioError as error:
        st.session_state["kit-flash"] = error.message


def _card(svc: Workspace, item: KitItem) -> None:
    preview(svc, item.image_hash, width=220, alt=f"Brand kit: {item.name}")
    st.markdown(f"**{plain(item.name)}**")
    if item.tags:
        st.caption(plain(" · ".join(item.tags)))
    st.caption(no_links(f"{item.owner} · {local_time(item.created_at)}"))
    uses = svc.review.kit_uses(item.id)
    with st.expander(f"Used in {len(uses)} conversation{'s' if len(uses) != 1 else ''}"):
        if not uses:
            st.caption("Not used yet (in conversations you can open).")
        for use in uses[:20]:
            st.page_link(
                STUDIO_PAGE,
                label=plain(f"{use.title} ({use.turns}×)"),
                query_params={"session": use.conversation_id},
                icon=":material/forum:",
            )
    if item.retired_at is None and (svc.user.is_admin or item.owner == svc.user.key):
        st.button(
            "Retire",
            key=f"kit-retire-{item.id}",
            icon=":material/archive:",
            type="tertiary",
            on_click=_retire,
            args=(svc, item.id),
            help="No longer offered; conversations that used it keep their copy.",
        )


def _retire_preset(svc: Workspace, preset_id: int) -> None:
    try:
        svc.review.retire_preset(preset_id)
    except StudioError as error:
        st.session_state["kit-flash"] = error.message


def _presets(svc: Workspace) -> None:
    """Named snippets for the chat input, with {placeholders} filled in when inserted."""
    with st.form("preset-add", clear_on_submit=True):
        name = st.text_input("Preset name", placeholder="Our packshot look")
        body = st.text_area("Words", placeholder="soft top light, white sweep, {product}, 4:5")
        if st.form_submit_button("Add preset", icon=":material/add:"):
            try:
                svc.review.add_preset(name, body)
                st.session_state["kit-flash"] = "Preset added: insert it from Brand kit beside the chat input."
                st.rerun()
            except StudioError as error:
                st.error(plain(error.message))
    for preset in svc.review.presets():
        with st.container(border=True):
            st.markdown(f"**{plain(preset.name)}** · " + no_links(preset.owner))
            st.text(preset.body)
            if svc.user.is_admin or preset.owner == svc.user.key:
                st.button(
                    "Retire",
                    key=f"preset-retire-{preset.id}",
                    type="tertiary",
                    icon=":material/archive:",
                    on_click=_retire_preset,
                    args=(svc, preset.id),
                )


def main() -> None:
    ensure_router()
    svc = workspace()
    st.title("Brand kit")
    if not svc.review.enabled:
        st.info("The brand kit is for the team's signed-in people.")
        return
    if flash := st.session_state.pop("kit-flash", None):
        st.toast(plain(flash), icon=":material/info:")
    st.caption(
        "Reference images the whole team uses: product shots, logos, characters, styles. Attach them to a "
        "message from **Brand kit** beside the chat input; they are checked and sized like an upload."
    )
    _add(svc)
    search = st.text_input("Search names and tags", key="kit-search", placeholder="logo")
    current, retired, presets = st.tabs(["In use", "Retired", "Prompt presets"])
    with presets:
        _presets(svc)
    found = search or None
    for tab, items in ((current, svc.review.kit(found)), (retired, svc.review.kit(found, retired=True))):
        with tab:
            if not items:
                st.caption("Nothing here.")
            grid = st.columns(COLUMNS)
            for n, item in enumerate(items):
                with grid[n % COLUMNS], st.container(border=True):
                    _card(svc, item)


main()
