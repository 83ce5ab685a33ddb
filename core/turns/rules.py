"""The rules a message must meet before anything is queued, and what a turn records of an
answer: small pure functions the turn service and any other entry share."""

from __future__ import annotations

import unicodedata

from core.errors import InvalidInput
from core.provider.catalog import ModelSpec
from core.provider.wire import ModelReply
from core.values import Conversation

MAX_PROMPT_CHARS = 32_000
NEW_TITLE = "New conversation"


def whole_text(text: str) -> str:
    """Surrogate pairs given as two halves (as a UTF-16 caller may send them) made the one
    character they mean; a lone half stays, for `check_message` to refuse."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")


def _lone_halves(text: str) -> list[int]:
    return [i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff"]


def kept_text(text: str) -> str:
    """The words of a refused message as they can be stored: a lone half of a surrogate pair
    (no character at all, which no database or request can encode) becomes U+FFFD; the rest stays."""
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in whole_text(text))


def check_message(spec: ModelSpec, text: str, hashes: list[str]) -> None:
    """What a message must be before anything is queued or sent."""
    if not text and not hashes:
        raise InvalidInput("Type a prompt or attach an image.")
    lone = _lone_halves(text)
    if lone:
        raise InvalidInput(
            f"The prompt has {len(lone)} character{'s' if len(lone) > 1 else ''} that "
            f"{'are' if len(lone) > 1 else 'is'} not text (half of a surrogate pair, first at character "
            f"{lone[0] + 1}), so it cannot be sent. Your words are kept with \ufffd in "
            f"{'their' if len(lone) > 1 else 'its'} place: fix that and send again."
        )
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInput(
            f"The prompt is {len(text):,} characters; the studio sends at most {MAX_PROMPT_CHARS:,}. Shorten it."
        )
    if len(hashes) > spec.max_input_images:
        raise InvalidInput(f"{spec.label} accepts at most {spec.max_input_images} images in one message.")


def meta_of(reply: ModelReply) -> dict[str, object]:
    return {
        "finish_reason": reply.finish_reason,
        "usage": reply.usage,
        "model_version": reply.model_version,
        "response_id": reply.response_id,
        "grounding": reply.grounding,
    }


def new_title(conversation: Conversation, text: str) -> str | None:
    """A new conversation takes its title from its first words."""
    return title_from(text) if conversation.title == NEW_TITLE and text else None


def clean_title(text: str) -> str:
    """One line of words: control characters (a pasted NUL) have no place in a title, though the
    prompt it came from keeps them."""
    return "".join(c for c in " ".join(text.split()) if unicodedata.category(c) != "Cc")


def title_from(text: str) -> str:
    words = clean_title(text)
    return words if len(words) <= 60 else words[:57].rsplit(" ", 1)[0] + "…"
