"""The failures a person may meet, each with a message they can act on.

`kind` is stored on the failed turn so the page can render the right advice after a restart.
"""

from __future__ import annotations

from typing import Any


class StudioError(Exception):
    kind = "error"
    # For the ledger (core/usage_ledger.py): the HTTP status of the attempt that ended in this
    # error, and whether the service may have charged for it.
    http_status: int | None = None
    may_be_billed: bool = False

    def __init__(self, message: str, *, reply: Any = None) -> None:
        super().__init__(message)
        self.message = message
        # For answers that came back without an image: the parsed reply, kept for display.
        self.reply = reply


class AuthError(StudioError):
    kind = "bad_key"


class BadRequestError(StudioError):
    kind = "bad_request"


class QuotaError(StudioError):
    kind = "quota"


class ServiceDownError(StudioError):
    kind = "service_down"


class ServiceTimeout(StudioError):
    kind = "timeout"


class ConnectionLost(StudioError):
    """The connection dropped after the whole request was sent (a proxy's or load balancer's idle
    timeout during a long render): the model may have made the image, and billed it."""

    kind = "connection_lost"
    may_be_billed = True


class UnreadableResponse(StudioError):
    kind = "unreadable"


class PromptBlocked(StudioError):
    kind = "blocked"


class NoImageError(StudioError):
    kind = "no_image"


class TextOnlyAnswer(StudioError):
    kind = "text_only"


class RequestTooLarge(StudioError):
    kind = "too_large"


class InvalidInput(StudioError):
    kind = "bad_input"


class InvalidSettings(StudioError):
    kind = "bad_settings"


class NotFound(StudioError):
    kind = "not_found"


class StaleConversation(StudioError):
    """A message sent against a version of the conversation that is no longer the newest."""

    kind = "stale"


class ConversationBusy(StudioError):
    """A message sent while the conversation's previous turn is still being made."""

    kind = "busy"


class ModelNotFound(BadRequestError):
    """The service answered 404 "model not found": the id was retired, renamed or mistyped."""

    kind = "model_not_found"


class ModelRetired(StudioError):
    """The conversation's model was retired: it is kept to look at, and goes on elsewhere."""

    kind = "model_retired"


def model_not_found_message(model: str, said: str = "") -> str:
    """Which model, and which setting to change, in plain words: the id comes from the
    conversation (chosen in the sidebar), STUDIO_DEFAULT_MODEL or STUDIO_MODELS_FILE."""
    return (
        f"The image service does not know the model “{model}” (HTTP 404, model not found): it may have been "
        "retired or renamed. Your words are kept. To go on, choose a current model (Model, in the sidebar: "
        "Use another model starts a new conversation from this image). If it is the studio's default, set "
        f"STUDIO_DEFAULT_MODEL to a current model; if “{model}” comes from STUDIO_MODELS_FILE, correct it "
        "there. If every model says this, check COMETAPI_BASE_URL." + said
    )


class Forbidden(StudioError):
    """The person may read this but not change it (or not do this at all)."""

    kind = "forbidden"
