"""Reading what the service sent, tolerantly, for display and accounting.

The answer is stored for replay exactly as it came (core/provider/wire.py); these functions only
read it. Whatever the key order, the spelling (`inlineData` or `inline_data`, `mimeType` or
`mime_type`, as proxies re-encode JSON), or extra keys, an image is an image and a text is a text.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from typing import Any, Literal

INLINE_KEYS = ("inlineData", "inline_data")
MIME_KEYS = ("mimeType", "mime_type")

log = logging.getLogger(__name__)


# A field of the wrong shape (a string or a list where an object was expected, a count that is
# not a number) is read as absent, with one log line naming the field, never its value: an odd
# answer must not break the conversation it is stored in.
def obj(raw: Any, name: str) -> dict[str, Any]:
    """An object field: {} when absent or of another shape."""
    if raw is None or isinstance(raw, dict):
        return raw or {}
    log.warning("the service's %s is a %s, not an object: ignored", name, type(raw).__name__)
    return {}


def items(raw: Any, name: str) -> list[Any]:
    """A list field: [] when absent or of another shape."""
    if raw is None or isinstance(raw, list):
        return raw or []
    log.warning("the service's %s is a %s, not a list: ignored", name, type(raw).__name__)
    return []


# No answer holds a billion tokens; a larger "count" is junk, and would not fit the ledger's
# BIGINT columns either (a random 10**30 stopped a turn with an OverflowError).
MOST_TOKENS = 10**9


def count(raw: Any, name: str) -> int:
    """A token count: a non-negative int from an int, a float or a numeric string; else 0."""
    if raw is None:
        return 0
    if isinstance(raw, bool):
        log.warning("the service's %s is a bool, not a count: ignored", name)
        return 0
    try:
        value = int(float(raw)) if isinstance(raw, (int, float, str)) else None
    except (ValueError, OverflowError):
        value = None
    if value is None or value < 0 or value > MOST_TOKENS:
        log.warning("the service's %s is not a count: ignored", name)
        return 0
    return value


def word(raw: Any, name: str) -> str | None:
    """A string field (a finish reason, a model version): None when absent or of another shape."""
    if raw is None or isinstance(raw, str):
        return raw
    log.warning("the service's %s is a %s, not a string: ignored", name, type(raw).__name__)
    return None


@dataclass(frozen=True, kw_only=True)
class SeenPart:
    """What a received part shows: its words or its image, and whether it is a thought."""

    kind: Literal["text", "image", "other"]
    text: str | None = None
    data: bytes | None = None
    mime_type: str | None = None
    thought: bool | None = None
    # The key its image came under, and whether that base64 is exactly what re-encoding the
    # bytes gives (so storage can keep the bytes once, in the image table).
    inline_key: str | None = None
    canonical: bool = False


def decode_base64(data: Any) -> bytes | None:
    """Image bytes from base64 as any encoder writes it: line breaks, URL-safe alphabet, no
    padding, a `data:` prefix. None when it is not base64 at all."""
    if not isinstance(data, str) or not data:
        return None
    text = "".join(data.split())
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded or None


def read_part(raw: Any) -> SeenPart:
    """A received part as the studio shows it."""
    if not isinstance(raw, dict):
        return SeenPart(kind="other")
    flag = raw.get("thought")
    thought = flag if isinstance(flag, bool) else None
    for key in INLINE_KEYS:
        inline = raw.get(key)
        if not isinstance(inline, dict):
            continue
        data = decode_base64(inline.get("data"))
        if data is None:
            continue
        mime = next((inline[m] for m in MIME_KEYS if isinstance(inline.get(m), str)), None)
        canonical = base64.b64encode(data).decode("ascii") == inline.get("data")
        return SeenPart(kind="image", data=data, mime_type=mime, thought=thought, inline_key=key, canonical=canonical)
    text = raw.get("text")
    if isinstance(text, str):
        return SeenPart(kind="text", text=text, thought=thought)
    return SeenPart(kind="other", thought=thought)
