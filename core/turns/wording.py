"""What a visitor of a public demo reads when a turn fails: a plain sentence the studio chose,
never the service's own text (which can name the base URL, a Google project, the key, an
account), with a short reference they can quote. The log keeps the detail under that reference,
so the operator finds it from what the visitor says."""

from __future__ import annotations

import logging
import secrets

log = logging.getLogger("studio")

# By error kind (core/errors.py); anything else gets GENERAL.
SENTENCES = {
    "bad_key": "The studio cannot use the image service right now. Please try again later.",
    "bad_request": "The image service could not take this request. Try other words or another image.",
    "quota": "The image service is busy with too many requests. Please try again in a few minutes.",
    "service_down": "The image service could not be reached. Please try again in a while.",
    "timeout": "The image service took too long to answer. Please try again.",
    "unreadable": "The image service's answer could not be read. Please try again.",
    "blocked": "The image service declined this request. Try other words.",
    "no_image": "The image service answered without an image. Try again, or say more about what to draw.",
    "text_only": "The image service answered in words only. Try again, or ask for an image plainly.",
    "too_large": "This conversation has grown too large to send. Start from the latest image to go on.",
}
GENERAL = "Something went wrong while making this image. Please try again."


def reference() -> str:
    """Six letters and digits, easy to read out: no 0/O or 1/I."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(6))


def for_visitor(kind: str, detail: str, *, turn_id: int | None = None) -> str:
    """The visitor's sentence for a failure; the detail goes to the log under its reference."""
    ref = reference()
    log.warning("demo error %s (turn %s, %s): %s", ref, turn_id, kind, detail)
    return f"{SENTENCES.get(kind, GENERAL)} Your words are kept. (Reference {ref})"
