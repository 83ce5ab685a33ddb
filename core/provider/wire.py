"""The Gemini generateContent wire format: request bodies in, typed replies out.

Model parts are kept as received. Only inline image bytes leave the part (to the image table);
they go back in as the very same base64 string, which `part_from_wire` checks before it agrees
to split them out. What a part shows is read apart from how it is kept (core/provider/fields.py).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidSettings, NoImageError, PromptBlocked, TextOnlyAnswer, UnreadableResponse
from core.provider import fields
from core.provider.catalog import ModelSpec
from core.provider.fields import SeenPart, read_part
from core.values import GenerationSettings, Part

BYPASS_SIGNATURE = "skip_thought_signature_validator"

NO_IMAGE_MESSAGES = {
    "NO_IMAGE": "The model finished without drawing an image. Try rephrasing or being more specific.",
    "IMAGE_SAFETY": "The image was withheld by the image safety filter. Try a different description.",
    "SAFETY": "The answer was stopped by a safety filter. Try a different description.",
    "PROHIBITED_CONTENT": "The request was refused as prohibited content.",
    "RECITATION": "The answer was stopped because it resembled existing material too closely.",
    "IMAGE_RECITATION": "The image was withheld because it resembled existing material too closely.",
    "IMAGE_PROHIBITED_CONTENT": "The image was refused as prohibited content.",
    "IMAGE_OTHER": "The model could not produce an image this time. Try again or rephrase.",
    "BLOCKLIST": "The request contains blocked terms.",
    "SPII": "The answer was stopped because it may contain sensitive personal information.",
    "MAX_TOKENS": "The answer ran out of tokens before an image was made.",
    "MALFORMED_FUNCTION_CALL": "The model produced a malformed answer. Try again.",
    "OTHER": "The model stopped for an unspecified reason. Try again.",
}


def generation_config(spec: ModelSpec, settings: GenerationSettings) -> dict[str, Any]:
    """The `generationConfig` for this model, refusing settings the model does not have."""
    if settings.aspect_ratio not in spec.aspect_ratios:
        raise InvalidSettings(
            f"{spec.label} does not offer aspect ratio {settings.aspect_ratio}; "
            f"choose one of {', '.join(spec.aspect_ratios)}."
        )
    image_config: dict[str, Any] = {"aspectRatio": settings.aspect_ratio}
    if settings.image_size and spec.image_sizes:
        if settings.image_size not in spec.image_sizes:
            raise InvalidSettings(
                f"{spec.label} does not offer size {settings.image_size}; choose one of {', '.join(spec.image_sizes)}."
            )
        image_config["imageSize"] = settings.image_size
    config: dict[str, Any] = {
        "responseModalities": ["IMAGE"] if settings.image_only else ["TEXT", "IMAGE"],
        "imageConfig": image_config,
    }
    if settings.thinking_level and spec.thinking_levels:
        if settings.thinking_level not in spec.thinking_levels:
            raise InvalidSettings(f"{spec.label} has no thinking level {settings.thinking_level!r}.")
        config["thinkingConfig"] = {
            "thinkingLevel": settings.thinking_level,
            "includeThoughts": settings.include_thoughts,
        }
    return config


def request_body(contents: list[dict[str, Any]], spec: ModelSpec, settings: GenerationSettings) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": contents, "generationConfig": generation_config(spec, settings)}
    if settings.grounding and spec.search_grounding:
        body["tools"] = [{"google_search": {}}]
    return body


# The two spellings the service may use. Requests may use either; responses are read in either
# and replayed in the spelling they came in.
CAMEL = {"inline": "inlineData", "mime": "mimeType", "signature": "thoughtSignature"}
SNAKE = {"inline": "inline_data", "mime": "mime_type", "signature": "thought_signature"}


def is_image_part(raw: Any) -> bool:
    return read_part(raw).kind == "image"


def part_from_wire(raw: Any) -> tuple[Part, bytes | None]:
    """A received part as a stored value, plus the image bytes it carried (if any).

    Two concerns, kept apart: what the part shows is read tolerantly (`read_part`), whatever its
    key order or spelling; how it is stored for replay is decided by one test: the structured
    fields are used only when they give the part back exactly. Anything else (keys in another
    order, extra keys in between, an encoding of its own) is kept as received in `wire`, its
    image's base64 left out when re-encoding the stored bytes gives it back, and still shows."""
    seen = read_part(raw)
    structured = _structured(raw, seen)
    if structured is not None:
        return structured, seen.data
    if not isinstance(raw, dict):
        return Part(kind="other", wire={"part": raw, "inline": None}), None
    template, inline = raw, None
    if seen.kind == "image" and seen.canonical and seen.inline_key is not None:
        inline = seen.inline_key
        template = {k: ({**v, "data": None} if k == inline else v) for k, v in raw.items()}
    part = Part(
        kind=seen.kind,
        text=seen.text,
        mime_type=(seen.mime_type or "")[:50] or None,
        thought=seen.thought,
        wire={"part": template, "inline": inline},
    )
    return part, seen.data


def _structured(raw: Any, seen: SeenPart) -> Part | None:
    """The part in the structured fields, if `part_to_wire` gives it back exactly."""
    if not isinstance(raw, dict) or seen.kind == "other" or (seen.kind == "image" and not seen.canonical):
        return None
    snake = ("inline_data" in raw or "thought_signature" in raw) and not (
        "inlineData" in raw or "thoughtSignature" in raw
    )
    names = SNAKE if snake else CAMEL
    signature = raw.get(names["signature"])
    if not isinstance(signature, str | None) or ("thought" in raw and seen.thought is None):
        return None
    extra = {k: v for k, v in raw.items() if k not in {"text", names["inline"], "thought", names["signature"]}}
    part = Part(
        kind=seen.kind,
        text=seen.text,
        mime_type=seen.mime_type,
        thought=seen.thought,
        signature=signature,
        extra=extra or None,
        snake=snake,
    )
    if part.mime_type is not None and len(part.mime_type) > 50:
        return None
    if seen.kind == "image" and seen.inline_key != names["inline"]:
        return None
    data = raw[names["inline"]]["data"] if seen.kind == "image" else ""
    rebuilt = part_to_wire(dataclasses.replace(part, image_hash="-") if seen.kind == "image" else part, lambda _h: data)
    return part if same_json(rebuilt, raw) else None


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON text: same keys in the same order, same types (True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def part_to_wire(part: Part, image_b64: Callable[[str], str]) -> Any:
    """The part exactly as it was received: same keys, same order, same spelling."""
    if part.wire is not None:
        kept = part.wire.get("part")
        inline = part.wire.get("inline")
        if inline is None or part.image_hash is None or not isinstance(kept, dict):
            return copy.deepcopy(kept)
        data = image_b64(part.image_hash)
        return {k: ({**v, "data": data} if k == inline else copy.deepcopy(v)) for k, v in kept.items()}
    if part.kind == "other":
        # Stored before revision 0009, kept whole in `extra`.
        return dict(part.extra or {})
    names = SNAKE if part.snake else CAMEL
    out: dict[str, Any] = {}
    if part.kind == "text":
        out["text"] = part.text
    else:
        assert part.image_hash is not None
        out[names["inline"]] = {names["mime"]: part.mime_type, "data": image_b64(part.image_hash)}
    if part.thought is not None:
        out["thought"] = part.thought
    if part.signature is not None:
        out[names["signature"]] = part.signature
    if part.extra:
        out.update(part.extra)
    return out


@dataclass
class ModelReply:
    """One successful generateContent answer: the candidate content exactly as received."""

    content: dict[str, Any]
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model_version: str | None = None
    response_id: str | None = None
    grounding: dict[str, Any] | None = None
    parts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(p["text"] for p in self.parts if isinstance(p.get("text"), str) and not p.get("thought"))

    @property
    def has_image(self) -> bool:
        return any(is_image_part(p) for p in self.parts)

    @property
    def has_final_image(self) -> bool:
        return any(is_image_part(p) and not p.get("thought") for p in self.parts)


def parse_response(payload: Any, *, image_expected: bool = True) -> ModelReply:
    """The reply in `payload`, or the typed error that says why there is no image."""
    if not isinstance(payload, dict):
        raise UnreadableResponse("The service answered with something that is not a JSON object.")
    candidates = fields.items(payload.get("candidates"), "candidates")
    feedback = fields.obj(payload.get("promptFeedback"), "promptFeedback")
    if not candidates:
        reason = fields.word(feedback.get("blockReason"), "blockReason")
        if reason:
            detail = fields.word(feedback.get("blockReasonMessage"), "blockReasonMessage") or ""
            raise PromptBlocked(
                f"The prompt was blocked ({reason}). {detail}".strip()
                + " Rephrase it or remove the image that triggered it."
            )
        raise NoImageError("The service answered with no result at all. Try again.")
    candidate = candidates[0]
    if not isinstance(candidate, dict):
        raise UnreadableResponse("The service's answer has a malformed candidate.")
    content = fields.obj(candidate.get("content"), "content")
    parts = content.get("parts") or []
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise UnreadableResponse("The service's answer has malformed parts.")
    reply = ModelReply(
        content=content,
        finish_reason=fields.word(candidate.get("finishReason"), "finishReason"),
        usage=fields.obj(payload.get("usageMetadata"), "usageMetadata") or None,
        model_version=fields.word(payload.get("modelVersion"), "modelVersion"),
        response_id=fields.word(payload.get("responseId"), "responseId"),
        grounding=fields.obj(candidate.get("groundingMetadata"), "groundingMetadata") or None,
        parts=parts,
    )
    reason = reply.finish_reason or ""
    if not reply.has_image:
        if reason and reason not in ("STOP", "FINISH_REASON_UNSPECIFIED"):
            message = NO_IMAGE_MESSAGES.get(reason, f"The model stopped ({reason}) without an image.")
            raise NoImageError(message + _said(reply), reply=reply)
        if not parts:
            raise NoImageError("The model answered with an empty result. Try again.", reply=reply)
        if image_expected:
            raise TextOnlyAnswer("The model answered in words only, without an image." + _said(reply), reply=reply)
    elif image_expected and not reply.has_final_image:
        # Thought images are drafts: an answer that has only those has no result to edit next.
        raise NoImageError(
            "The model only sketched drafts (its thinking) and finished without a final image. Try again."
            + _said(reply),
            reply=reply,
        )
    return reply


def _said(reply: ModelReply) -> str:
    text = reply.text.strip()
    if not text:
        return ""
    return f' It said: "{text[:300]}{"…" if len(text) > 300 else ""}"'
