"""What the pages share: the one service per process, the open conversation, safe text."""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from core.config import Settings, load_settings
from core.errors import NotFound, StudioError
from core.media.images import make_preview
from core.service import StudioService
from core.values import Conversation, Seed
from core.versions.tree import VersionTree
from core.workspace import Workspace
from ui import draining

STUDIO_PAGE = "pages/studio.py"
# A Seed (core.values) this tab holds for a new conversation: Continue, or a switch of model.
SEED_KEY = "seed"
# (model id, settings) chosen in the sidebar before a new conversation's first message.
DRAFT_SETTINGS_KEY = "new-conversation-settings"
CONVERSATIONS_PAGE = "pages/conversations.py"
_WORD_JOINER = "\u2060"
# Streamlit's Markdown turns these into typographic characters in any text node.
_TYPOGRAPHY = re.compile(r"<->|->|<-|--|>=|<=|~=")
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<&$:])")


T = TypeVar("T")


def stored_once(name: str, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """A value kept in this tab's session until its key changes (a new version, tip, turn state
    or setting): a rerun, which every click is, does not compute it again. Only the newest is
    kept."""
    cache: dict[tuple[Any, ...], Any] = st.session_state.setdefault(name, {})
    if key not in cache:
        cache.clear()
        cache[key] = compute()
    value: T = cache[key]
    return value


def version_tree(svc: Workspace, conversation: Conversation) -> VersionTree:
    """The conversation's versions, read once per version and tip (the strip, the tools and the
    download names share it)."""
    return stored_once(
        "versions-cache",
        (conversation.id, conversation.version, conversation.tip_id),
        lambda: svc.versions.tree(conversation.id, token=share_token(conversation.id)),
    )


def _secrets() -> dict[str, Any]:
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except Exception:  # noqa: BLE001 - no secrets.toml is a normal set-up
        return {}


def settings() -> Settings:
    return load_settings(os.environ, _secrets())


@st.cache_resource(show_spinner="Opening the studio…")
def _build_service(cache_key: str, _settings: Settings) -> StudioService:
    built = StudioService.from_settings(_settings)
    draining.install(built)
    return built


def service() -> StudioService:
    """One engine and one HTTP session per process (per distinct configuration)."""
    current = settings()
    fingerprint = hashlib.sha256(current.api_key.reveal().encode()).hexdigest()[:16]
    key = "|".join(
        [
            current.database_url,
            current.base_url,
            fingerprint,
            str(current.max_request_mb),
            str(current.read_timeout_s),
            str(current.models_file),
            str(current.lease_s),
        ]
    )
    return _build_service(key, current)


def open_conversation_id() -> str | None:
    value = st.query_params.get("session")
    return value or None


def hold_seed(seed: Seed) -> None:
    """Open a new conversation in this tab with this seed waiting in its input."""
    st.session_state[SEED_KEY] = seed
    st.session_state[DRAFT_SETTINGS_KEY] = (seed.model, seed.settings)
    st.session_state.pop("model-new", None)  # the seed's model, not whatever the picker last held
    st.query_params.clear()
    st.rerun()


def visible_key(conversation_id: str) -> str:
    return f"shown-{conversation_id}"


def share_token(conversation_id: str) -> str | None:
    """The share link this tab opened the conversation by, if that is how it got in."""
    return st.session_state.get(f"share-{conversation_id}")


def _open_at_turn(svc: Workspace, conversation_id: str, visible: int) -> None:
    """`?turn=<answer id>` (from the gallery): show enough of the history to include it."""
    wanted = st.query_params.get("turn")
    if not wanted or not wanted.isdigit():
        return
    outline = svc.conversation(conversation_id, visible=0, token=share_token(conversation_id))
    answer = int(wanted)
    on_branch = any(e.reply is not None and e.reply.id == answer for e in outline.path)
    if not on_branch and svc.can_change(outline):
        # An answer on another branch: open that branch (the owner's next message then edits it).
        with contextlib.suppress(StudioError):  # not a result any more: open the branch as it is
            svc.versions.branch(answer)
            outline = svc.conversation(conversation_id, visible=0)
    for back, exchange in enumerate(reversed(outline.shown), start=1):
        if exchange.reply is not None and exchange.reply.id == answer:
            st.session_state[visible_key(conversation_id)] = max(visible, back)
    del st.query_params["turn"]


def load_open_conversation(svc: Workspace, visible: int | None = None) -> Conversation | None:
    """The conversation in `?session=` (or the one a `?share=` link names), with parts loaded for
    its newest `visible` exchanges. One the person may not read is "not found", as a missing one."""
    token = st.query_params.get("share")
    conversation_id = open_conversation_id()
    try:
        if token:
            conversation_id = svc.by_link(token)
            st.session_state[f"share-{conversation_id}"] = token
        if conversation_id is None:
            return None
        if visible is not None:
            _open_at_turn(svc, conversation_id, visible)
        shown = None if visible is None else st.session_state.get(visible_key(conversation_id), visible)
        return svc.conversation(conversation_id, visible=shown, token=share_token(conversation_id))
    except NotFound as missing:
        st.error(
            f"{plain(missing.message)} If someone sent you this link, ask them to share the conversation again.",
            icon=":material/search_off:",
        )
        if st.button("Start a new conversation", type="primary"):
            st.query_params.clear()
            st.rerun()
        st.stop()
    return None


def _defused(text: str) -> str:
    """An invisible word joiner where Streamlit would otherwise turn `--` into a dash, `->` into
    an arrow, or `:material/home:` (any `:name:`) into an icon or a directive."""
    return _TYPOGRAPHY.sub(lambda m: _WORD_JOINER.join(m.group(0)), text).replace(":", ":" + _WORD_JOINER)


def plain(text: str) -> str:
    """Text shown as typed wherever Streamlit reads Markdown (titles, labels, captions): defused,
    no bare URL turned into a link, and every Markdown character escaped."""
    text = _defused(text).replace("www.", "www" + _WORD_JOINER + ".")
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def safe_markdown(text: str) -> str:
    """Model text and thought summaries: their Markdown (bold, lists) renders, but nothing from
    the wire becomes an icon, a colour directive, maths, raw HTML, an image or a link."""
    return _defused(unlinked(text))


# An inline link or image, `[words](address "title")` or `![words](<address>)`.
_LINKED = re.compile(r"(!?)\[([^\]\n]*)\]\(\s*(<[^>\n]*>|[^\s)]*)(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\)))?\s*\)")
# Where every other link, image, reference definition, autolink or raw HTML must begin; `$` (no
# maths); and the backslash, so that an escape in the text cannot undo ours.
_LINK_SYNTAX = re.compile(r"([\\\[\]<$])")


def unlinked(text: str) -> str:
    """Model text with no way to load or hide an address: an image shows as its words and its
    address (never fetched, so a colleague opening the conversation pings no tracker); a link
    shows its words and its real address, as text. Everything else that could start a link,
    image or HTML is escaped, and `www.` is not linked automatically."""

    def shown(value: str) -> str:
        return _MARKDOWN_SPECIALS.sub(r"\\\1", value)

    out: list[str] = []
    last = 0
    for match in _LINKED.finditer(text):
        out.append(_LINK_SYNTAX.sub(r"\\\1", text[last : match.start()]))
        words, address = match[2].strip(), match[3].strip("<>")
        if match[1]:
            out.append(f"(image not shown: {shown(words) + ', ' if words else ''}{shown(address)})")
        else:
            out.append(f"{shown(words)} ({shown(address)})" if words else f"({shown(address)})")
        last = match.end()
    out.append(_LINK_SYNTAX.sub(r"\\\1", text[last:]))
    return "".join(out).replace("www.", "www" + _WORD_JOINER + ".")


def offline_banner(svc: Workspace) -> None:
    if svc.offline and svc.settings.demo:
        st.info(
            "**Offline demo model.** Images here are drawn by the studio's built-in stand-in, not by Gemini.",
            icon=":material/cloud_off:",
        )
    elif svc.offline:
        st.info(
            "**Offline demo model.** No `COMETAPI_KEY` is set, so images are drawn by the studio's built-in "
            "stand-in, not by Gemini. Set the key in the environment or `.streamlit/secrets.toml` to use CometAPI.",
            icon=":material/cloud_off:",
        )


@st.cache_data(max_entries=1024, show_spinner=False)
def _thumbnail(_svc: Workspace, image_hash: str, width: int) -> tuple[bytes, str] | None:
    found = _svc.images.preview(image_hash)
    return make_preview(found[0], max_width=width) if found else None


def preview(svc: Workspace, image_hash: str, width: int | None = None, *, alt: str, **kwargs: Any) -> None:
    """Show an image from a stored display copy, already at the width shown and in the format
    declared, so st.image passes the bytes through instead of re-encoding them on every rerun.
    `alt` is what a screen reader says: the words the image answers or belongs to."""
    found = svc.images.preview(image_hash) if width is None else _thumbnail(svc, image_hash, width)
    if found is None:
        st.caption(":material/broken_image: Preview unavailable: the studio cannot read this image, but it is kept.")
        return
    data, mime = found
    st.image(
        data, output_format="PNG" if mime == "image/png" else "JPEG", width=width or "stretch", alt=alt[:300], **kwargs
    )


def announce(message: str) -> None:
    """A polite live region: screen readers say when a result or an error arrives."""
    st.html(
        '<div role="status" aria-live="polite" style="position:absolute;width:1px;height:1px;overflow:hidden;'
        f'clip:rect(0 0 0 0)">{html.escape(message)}</div>'
    )
