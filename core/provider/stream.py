"""Reading `streamGenerateContent?alt=sse`: server-sent events, each a GenerateContentResponse
chunk, merged into the one answer generateContent would have given.

The merged answer is what gets stored and replayed, so merging follows one rule: join only what
the service split for transport. Consecutive plain text parts of the same kind (thought or not,
with the very same keys) are one part cut over chunks; everything else is a part of its own,
where it came: a part carrying a signature (even with empty text, as the signature often trails
on its own part), an image, a part with keys the studio does not know. Keys keep their order and
spelling as received. What a part shows is read with the same tolerant reader as everywhere
(core/provider/fields.py); there is no second parser of parts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from urllib3.exceptions import HTTPError, ReadTimeoutError

from core.errors import ConnectionLost, StudioError, UnreadableResponse
from core.provider import fields
from core.provider.fields import read_part

log = logging.getLogger(__name__)

BLOCK_BYTES = 65536


@dataclass(frozen=True, kw_only=True)
class Progress:
    """What the model has shown so far while it works: its latest thought summary and its
    latest draft (thought) image. Either may be None."""

    thought: str | None = None
    draft: bytes | None = None
    draft_mime: str | None = None
    chunks: int = 0


OnProgress = Callable[[Progress], None]


def blocks(raw: Any, timeout: Callable[[], StudioError]) -> Iterator[bytes]:
    """The body's bytes as they arrive (whatever is there, not a fixed size: a short thought
    summary shows at once). A read that fails or times out here comes after the answer began."""
    try:
        while block := raw.read1(BLOCK_BYTES):
            yield block
    except (HTTPError, HTTPException, OSError, ValueError) as exc:  # what a socket read can raise
        if isinstance(exc, ReadTimeoutError | TimeoutError):
            raise timeout() from None
        log.warning("the stream broke off (%s)", exc.__class__.__name__)
        raise cut_off() from None


def sse_events(blocks: Iterable[bytes]) -> Iterator[str]:
    """The data of each server-sent event, from the bytes as they arrive (any split, CRLF or LF,
    several `data:` lines joined by a newline as the SSE rules say; comments and other fields are
    skipped; a last event with no blank line after it still counts)."""
    pieces: list[bytes] = []  # of a line still arriving (an image's base64 may be megabytes)
    data: list[str] = []
    for block in blocks:
        if b"\n" not in block:
            pieces.append(block)
            continue
        *lines, pending = b"".join([*pieces, block]).split(b"\n")
        pieces = [pending]
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if line:
                _field(line, data)
            elif data:
                yield "\n".join(data)
                data = []
    pending = b"".join(pieces)
    if pending.strip():
        _field(pending.rstrip(b"\r").decode("utf-8", "replace"), data)
    if data:
        yield "\n".join(data)


def _field(line: str, data: list[str]) -> None:
    if line.startswith(":"):
        return
    name, _, value = line.partition(":")
    if name == "data":
        data.append(value[1:] if value.startswith(" ") else value)


def chunks_of(events: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Each event's JSON object. `[DONE]` (some proxies send it) and blank events are skipped;
    an event that is not JSON is an unreadable answer."""
    for event in events:
        text = event.strip()
        if not text or text == "[DONE]":
            continue
        try:
            chunk = json.loads(text)
        except ValueError:
            raise _unreadable("The image service's stream carried something that is not JSON.") from None
        if isinstance(chunk, list):  # a whole JSON array in one event: every chunk in it
            yield from (c for c in chunk if isinstance(c, dict))
        elif isinstance(chunk, dict):
            yield chunk
        else:
            raise _unreadable("The image service's stream carried unexpected JSON.")


def _joins(before: Any, part: Any) -> bool:
    """Whether `part` continues `before`: both plain text (nothing but `text` and `thought`, so
    never a signed part) of the same kind, with the same keys in the same order."""
    if not isinstance(before, dict) or not isinstance(part, dict):
        return False
    if list(before) != list(part) or not set(part) <= {"text", "thought"}:
        return False
    first, then = read_part(before), read_part(part)
    return first.kind == then.kind == "text" and first.thought == then.thought


def merge_parts(parts: Iterable[Any]) -> list[Any]:
    merged: list[Any] = []
    for part in parts:
        if merged and _joins(merged[-1], part):
            merged[-1] = {**merged[-1], "text": merged[-1]["text"] + part["text"]}
        else:
            merged.append(dict(part) if isinstance(part, dict) else part)
    return merged


def merge(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The chunks as one GenerateContentResponse. Top-level and candidate fields (usageMetadata,
    finishReason, modelVersion, groundingMetadata, …) come from the last chunk that has them,
    in the order they first appeared; the first candidate's parts are merged."""
    payload: dict[str, Any] = {}
    candidate: dict[str, Any] = {}
    content: dict[str, Any] = {}
    parts: list[Any] = []
    for chunk in chunks:
        for key, value in chunk.items():
            if key != "candidates":
                payload[key] = value
                continue
            found = fields.items(value, "candidates")
            if not found or not isinstance(found[0], dict):
                continue
            payload.setdefault("candidates", None)  # its place among the keys, filled below
            for name, inner in found[0].items():
                if name != "content":
                    candidate[name] = inner
                    continue
                candidate.setdefault("content", None)
                for kind, piece in fields.obj(inner, "content").items():
                    if kind == "parts":
                        content.setdefault("parts", None)
                        parts.extend(fields.items(piece, "parts"))
                    else:
                        content[kind] = piece
    if "content" in candidate:
        if "parts" in content:
            content["parts"] = merge_parts(parts)
        candidate["content"] = content
    if "candidates" in payload:
        payload["candidates"] = [candidate]
    return payload


def finished(chunks: list[dict[str, Any]]) -> bool:
    """Whether the stream ended the way a whole answer ends: a finish reason on a candidate, or
    the prompt refused (no candidates, a block reason)."""
    for chunk in chunks:
        for candidate in fields.items(chunk.get("candidates"), "candidates"):
            if isinstance(candidate, dict) and candidate.get("finishReason"):
                return True
        if fields.obj(chunk.get("promptFeedback"), "promptFeedback").get("blockReason"):
            return True
    return False


class Watcher:
    """Follows the parts as they arrive and reports the latest thought summary and draft image
    (each call to `on_progress` gets the whole picture so far). A failing report never stops the
    answer: the display is a nicety, the answer is billed."""

    def __init__(self, on_progress: OnProgress | None) -> None:
        self.on_progress = on_progress
        self.progress = Progress()
        self._parts: list[Any] = []

    def see(self, chunk: dict[str, Any]) -> None:
        candidates = fields.items(chunk.get("candidates"), "candidates")
        first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
        new = fields.items(fields.obj(first.get("content"), "content").get("parts"), "parts")
        self._parts.extend(new)
        thought, draft, mime = self.progress.thought, self.progress.draft, self.progress.draft_mime
        changed = False
        for part in new:
            seen = read_part(part)
            if seen.thought and seen.kind == "image" and seen.data is not None:
                draft, mime, changed = seen.data, seen.mime_type, True
        merged = merge_parts(self._parts) if new else []
        latest = next((p for p in reversed(merged) if _thought_text(p) is not None), None)
        if latest is not None and _thought_text(latest) != thought:
            thought, changed = _thought_text(latest), True
        self._parts = merged[-1:] if merged else self._parts  # only the last part can still grow
        self.progress = Progress(thought=thought, draft=draft, draft_mime=mime, chunks=self.progress.chunks + 1)
        if changed and self.on_progress is not None:
            try:
                self.on_progress(self.progress)
            except Exception:
                log.exception("showing the stream's progress failed (the answer goes on)")


def _thought_text(part: Any) -> str | None:
    seen = read_part(part)
    return seen.text if seen.kind == "text" and seen.thought and seen.text else None


def read(
    blocks: Iterable[bytes],
    on_progress: OnProgress | None = None,
    *,
    sse: bool = True,
) -> dict[str, Any]:
    """The merged answer of a stream whose status was 200, from its body as it arrives. Every
    failure here comes after the service took the request and began answering: it may be
    billed, and it is not sent again. Without `sse` the body is one JSON array of chunks (what
    Google sends when `alt=sse` is not honoured, as a proxy may do)."""
    events = sse_events(blocks) if sse else iter([b"".join(blocks).decode("utf-8", "replace")])
    watcher = Watcher(on_progress)
    chunks: list[dict[str, Any]] = []
    for chunk in chunks_of(events):
        if "error" in chunk and "candidates" not in chunk:
            error = fields.obj(chunk.get("error"), "error")
            said = fields.word(error.get("message"), "error.message") or ""
            raise _unreadable(
                "The image service stopped its answer with an error"
                + (f': "{said}"' if said else "")
                + ". The call may be billed; your words are kept, and Retry sends them once more."
            )
        chunks.append(chunk)
        watcher.see(chunk)
    if not chunks:
        raise _unreadable("The image service's stream ended without an answer.")
    if not finished(chunks):
        log.warning("the stream ended after %d chunks without a finish reason: treated as cut off", len(chunks))
        raise cut_off()
    return merge(chunks)


def cut_off() -> ConnectionLost:
    return ConnectionLost(
        "The image service's answer broke off while it was streaming. The model may have finished the image "
        "and the call may be billed, so the studio did not send it again by itself. Your words are kept; Retry "
        "sends them once more."
    )


def _unreadable(message: str) -> StudioError:
    error = UnreadableResponse(message)
    error.http_status, error.may_be_billed = 200, True
    return error
