"""What a refusal from the image service says: the error it stands for, and how long to wait.

Google's shape (`{"error": {"code", "message", "status", "details"}}`, a 429's wait in
`details[].retryDelay`) and CometAPI's (`{"error": {"message", "type", "code"}}`, HTML from
gateways) are both read here, for the generateContent and the streaming route alike.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re

import requests

from core.errors import (
    AuthError,
    BadRequestError,
    ModelNotFound,
    QuotaError,
    ServiceDownError,
    ServiceTimeout,
    StudioError,
    model_not_found_message,
)

_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def retry_delay_from_body(body: bytes | None) -> float | None:
    """The `retryDelay` ("34s") of a Google error body's RetryInfo detail, in seconds."""
    if not body:
        return None
    try:
        details = json.loads(body).get("error", {}).get("details") or []
    except (ValueError, AttributeError):
        return None
    for detail in details:
        if isinstance(detail, dict) and isinstance(detail.get("retryDelay"), str):
            match = _DELAY.match(detail["retryDelay"])
            if match:
                return float(match.group(1))
    return None


def _error_fields(response: requests.Response) -> tuple[str, str]:
    """(message, status) from Google's or CometAPI's error shape; empty when the body is HTML."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return "", ""
    if isinstance(error, dict):
        return str(error.get("message") or ""), str(error.get("status") or error.get("type") or "")
    if isinstance(error, str):
        return error, ""
    return "", ""


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds, from either form the header takes (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def error_for_status(response: requests.Response, model: str = "") -> StudioError:
    code = response.status_code
    message, status = _error_fields(response)
    said = f' The service said: "{message}"' if message else ""
    if code == 404 and model:
        # Google: 404 NOT_FOUND "models/x is not found for API version v1beta..."; CometAPI says
        # it in its own shape. Either way the person needs the model and the setting, not a code.
        return ModelNotFound(model_not_found_message(model, said))
    if code in (401, 403):
        return AuthError(
            "The API key was refused. Check COMETAPI_KEY (in the environment or .streamlit/secrets.toml)." + said
        )
    if code == 429:
        wait = _retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None:
            wait = retry_delay_from_body(response.content)
        hint = f" Wait about {wait:.0f} s and try again." if wait is not None else " Wait a little and try again."
        return QuotaError("The image service's rate limit or quota was reached." + hint + said)
    if code in (504, 524):
        gave_up = ServiceTimeout(
            f"The gateway stopped waiting for the model (HTTP {code}). The model may still have made the image, "
            "and the call may be billed, so the studio did not send it again by itself. Your words are kept; "
            "Retry sends them once more." + said
        )
        gave_up.may_be_billed = True
        return gave_up
    if code == 408:
        return ServiceTimeout("The image service timed out on this request. Try again." + said)
    if code >= 500:
        return ServiceDownError(f"The image service is having trouble (HTTP {code}). Try again shortly." + said)
    if code == 413:
        return BadRequestError("The request was too large for the service. Start a new conversation from this image.")
    if message:
        # Google's own words, verbatim: they name the field or part that is wrong.
        return BadRequestError(message)
    return BadRequestError(f"The image service rejected the request (HTTP {code}, {status or 'no details'}).")
