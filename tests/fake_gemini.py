"""A local fake of the Gemini generateContent route (and its streaming twin,
streamGenerateContent?alt=sse) that checks requests as strictly as Gemini 3 does, and can be
scripted to fail.

Strictness: every model turn in a request must equal, part for part and string for string, a
content this fake issued; a missing or altered signature gets Gemini's 400 message. User
images must be valid base64 whose bytes match the declared MIME type; enums must be valid.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from werkzeug import Request, Response

ROUTE = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")
RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
RATIOS_31 = RATIOS | {"1:4", "4:1", "1:8", "8:1"}
MAGIC = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff", "image/webp": b"RIFF"}


def google_error(status: int, code: str, message: str, details: list | None = None) -> Response:
    body = {"error": {"code": status, "message": message, "status": code, "details": details or []}}
    return Response(json.dumps(body), status=status, content_type="application/json")


def image_bytes(
    size: tuple[int, int] = (64, 64),
    colour: tuple[int, int, int] = (200, 30, 30),
    fmt: str = "PNG",
    noise: bool = False,
) -> bytes:
    if noise:  # incompressible, so a "2K image" really weighs what a 2K image weighs
        image = Image.frombytes("RGB", size, secrets.token_bytes(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, colour)
    buf = io.BytesIO()
    image.save(buf, format=fmt, quality=90) if fmt == "JPEG" else image.save(buf, format=fmt)
    return buf.getvalue()


@dataclass
class FakeGemini:
    api_key: str = "test-key-123"
    signature_bytes: int = 64
    image_size: tuple[int, int] = (64, 64)
    image_noise: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    body_sizes: list[int] = field(default_factory=list)
    issued: list[dict[str, Any]] = field(default_factory=list)
    script: deque = field(default_factory=deque)
    during_call: Callable[[dict[str, Any]], None] | None = None
    # The usageMetadata of its own answers (None: leave it out, as some gateways do).
    usage: dict[str, Any] | None = field(
        default_factory=lambda: {"promptTokenCount": 10, "candidatesTokenCount": 1290, "totalTokenCount": 1300}
    )
    # The model ids it serves, as a real service would (None: any id). An id it does not serve
    # gets Google's 404 NOT_FOUND, as a retired or mistyped one does.
    models: set[str] | None = None
    # Keys merged into its answers' candidate (an odd groundingMetadata, finishReason, …).
    candidate_extra: dict[str, Any] = field(default_factory=dict)
    # The streaming route: a status it answers with before any byte (the route missing on a
    # proxy, a refusal), how many chunks it sends before it drops the connection, and a pause
    # between the model's thoughts and its answer (as a slow render has).
    stream_refuse: int | None = None
    stream_drop_after: int | None = None
    stream_pause_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # Scripting --------------------------------------------------------------------------
    def then(self, *responses: Response | Callable[[Request], Response]) -> FakeGemini:
        self.script.extend(responses)
        return self

    def custom(self, content: dict[str, Any], finish: str = "STOP") -> Callable[[Request], Response]:
        """A scripted answer with this exact content, remembered as issued so its replay passes."""

        def respond(_request: Request) -> Response:
            with self._lock:
                self.issued.append(content)
            payload = {"candidates": [{"content": content, "finishReason": finish}], "modelVersion": "fake-gemini"}
            return Response(json.dumps(payload), content_type="application/json")

        return respond

    # The route ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        raw = request.get_data()
        with self._lock:
            self.paths.append(request.full_path)
            self.body_sizes.append(len(raw))
            self.headers.append(dict(request.headers))
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"_unparseable": raw[:200].decode("latin-1")}
            self.requests.append(body)
            scripted = self.script.popleft() if self.script else None
        if scripted is not None:
            return scripted if isinstance(scripted, Response) else scripted(request)
        key = request.headers.get("x-goog-api-key")
        if key != self.api_key:
            return Response(
                json.dumps({"error": {"message": "Invalid token", "type": "comet_api_error", "code": ""}}),
                status=401,
                content_type="application/json",
            )
        match = ROUTE.match(request.path)
        if match is None:
            return google_error(404, "NOT_FOUND", f"No route {request.path}")
        if self.models is not None and match["model"] not in self.models:
            return google_error(
                404,
                "NOT_FOUND",
                f"models/{match['model']} is not found for API version v1beta, or is not supported for "
                "generateContent. Call ListModels to see the list of available models and their supported methods.",
            )
        streamed = match["method"] == "streamGenerateContent"
        if streamed and self.stream_refuse is not None:
            return google_error(self.stream_refuse, "UNAVAILABLE", "streaming is not available here")
        problem = self.check(match["model"], body)
        if problem is not None:
            return problem
        if self.during_call is not None:
            self.during_call(body)
        if streamed:
            return self.stream(body, sse=request.args.get("alt") == "sse")
        return Response(json.dumps(self.answer(body)), content_type="application/json")

    @property
    def stream_calls(self) -> int:
        return sum(1 for path in self.paths if ":streamGenerateContent" in path)

    def stream(self, body: dict[str, Any], *, sse: bool) -> Response:
        """The answer generateContent would give, in chunks as Gemini streams it: the thought
        summary's text cut over two chunks, then its draft image, the answer's text cut over two
        chunks, its image with a signature, and a last part with empty text that carries a
        signature, with the finish reason and the final usage. What it issued (and checks on
        replay) is those chunks merged: the trailing signed empty part stays a part of its own."""
        payload = self.answer(body, streamed=True)
        content = payload["candidates"][0]["content"]
        thought, draft, text, image, trailing = content["parts"]
        cut = len(text["text"]) // 2
        pieces = [
            [{"text": thought["text"][:9], "thought": True}],
            [{"text": thought["text"][9:], "thought": True}],
            [draft],
            [{"text": text["text"][:cut]}],
            [{"text": text["text"][cut:]}],
            [image],
            [trailing],
        ]
        chunks = []
        for number, parts in enumerate(pieces, start=1):
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            chunk: dict[str, Any] = {"candidates": [candidate]}
            if number == 1:  # a first, partial count, as Gemini sends: the last one is the truth
                chunk["usageMetadata"] = {"promptTokenCount": 10, "totalTokenCount": 10}
            if number == len(pieces):
                final = payload["candidates"][0]
                candidate.update({k: v for k, v in final.items() if k not in ("content", "index")})
                if "usageMetadata" in payload:
                    chunk["usageMetadata"] = payload["usageMetadata"]
            chunk["modelVersion"], chunk["responseId"] = payload["modelVersion"], payload["responseId"]
            chunks.append(chunk)
        if not sse:  # without alt=sse Google answers one JSON array of the chunks
            return Response(json.dumps(chunks), content_type="application/json")

        def events():
            for number, chunk in enumerate(chunks, start=1):
                if self.stream_drop_after is not None and number > self.stream_drop_after:
                    raise ConnectionAbortedError("the fake drops the stream")
                if number == 4 and self.stream_pause_s:
                    time.sleep(self.stream_pause_s)
                yield f"data: {json.dumps(chunk)}\r\n\r\n".encode()

        return Response(events(), content_type="text/event-stream")

    def check(self, model: str, body: dict[str, Any]) -> Response | None:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return google_error(400, "INVALID_ARGUMENT", "contents is required.")
        if contents[-1].get("role") != "user" or contents[0].get("role") != "user":
            return google_error(400, "INVALID_ARGUMENT", "contents must start and end with a user turn.")
        # Order-sensitive: a model turn comes back byte for byte, keys in the order they were sent.
        issued = [json.dumps(c) for c in self.issued]
        for c_index, content in enumerate(contents, start=1):
            role = content.get("role")
            if role not in ("user", "model"):
                return google_error(400, "INVALID_ARGUMENT", f"Invalid role {role!r} in content {c_index}.")
            if role == "model":
                if json.dumps(content) in issued:
                    continue
                return self._signature_error(c_index, content)
            for p_index, part in enumerate(content.get("parts", []), start=1):
                problem = self._check_user_part(c_index, p_index, part)
                if problem is not None:
                    return problem
        return self._check_config(model, body)

    def _signature_error(self, c_index: int, content: dict[str, Any]) -> Response:
        for p_index, part in enumerate(content.get("parts", []), start=1):
            if part.get("thought"):
                continue
            if "thoughtSignature" not in part:
                kind = "Image" if "inlineData" in part else "Text"
                return google_error(
                    400,
                    "INVALID_ARGUMENT",
                    f"{kind} part is missing a thought_signature in content position {c_index}, "
                    f"part position {p_index}.",
                )
        return google_error(
            400,
            "INVALID_ARGUMENT",
            f"Content position {c_index} does not match any previous model response (altered parts or signatures).",
        )

    def _check_user_part(self, c_index: int, p_index: int, part: dict[str, Any]) -> Response | None:
        inline = part.get("inlineData") or part.get("inline_data")
        if inline is None:
            return (
                None
                if isinstance(part.get("text"), str)
                else google_error(400, "INVALID_ARGUMENT", f"Unknown part in content {c_index}, part {p_index}.")
            )
        data, mime = inline.get("data", ""), inline.get("mimeType") or inline.get("mime_type")
        try:
            decoded = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return google_error(400, "INVALID_ARGUMENT", f"Invalid base64 in content {c_index}, part {p_index}.")
        magic = MAGIC.get(mime or "")
        if magic is None or not decoded.startswith(magic):
            return google_error(
                400,
                "INVALID_ARGUMENT",
                f"Unable to process input image: bytes are not {mime} (content {c_index}, part {p_index}).",
            )
        return None

    def _check_config(self, model: str, body: dict[str, Any]) -> Response | None:
        config = body.get("generationConfig", {})
        modalities = config.get("responseModalities", ["TEXT", "IMAGE"])
        if not set(modalities) <= {"TEXT", "IMAGE"}:
            return google_error(400, "INVALID_ARGUMENT", f"Invalid responseModalities {modalities}.")
        image_config = config.get("imageConfig", {})
        # Flash Lite Image makes 1K only, in ten ratios, without thinking; Nano Banana 2.1 (CometAPI)
        # takes the Gemini 3 Pro image set (1K, 2K, 4K; no 512).
        lite = "flash-lite-image" in model
        is_31 = model.startswith("gemini-3.1") and not lite
        if image_config.get("aspectRatio", "1:1") not in (RATIOS_31 if is_31 else RATIOS):
            return google_error(400, "INVALID_ARGUMENT", f"Invalid aspectRatio {image_config.get('aspectRatio')}.")
        sizes = {"1K"} if lite else {"512", "1K", "2K", "4K"} if is_31 else {"1K", "2K", "4K"}
        if "imageSize" in image_config and (image_config["imageSize"] not in sizes or model.startswith("gemini-2.5")):
            return google_error(400, "INVALID_ARGUMENT", f"Invalid imageSize {image_config['imageSize']}.")
        if "thinkingConfig" in config and not is_31:
            return google_error(400, "INVALID_ARGUMENT", "Thinking is not enabled for this model.")
        tools = body.get("tools")
        if tools is not None and tools != [{"google_search": {}}]:
            return google_error(400, "INVALID_ARGUMENT", f"Unsupported tools {tools}.")
        return None

    def answer(self, body: dict[str, Any], *, streamed: bool = False) -> dict[str, Any]:
        n = len(self.issued) + 1
        data = base64.b64encode(image_bytes(self.image_size, (n * 40 % 255, 80, 160), noise=self.image_noise)).decode()
        draft = base64.b64encode(image_bytes((16, 16), (90, 90, 90))).decode()
        parts: list[dict[str, Any]] = [
            {"text": f"Thinking about turn {n}", "thought": True},
            {"inlineData": {"mimeType": "image/png", "data": draft}, "thought": True},
            {"text": f"Result {n}", "thoughtSignature": self.signature()},
            {"inlineData": {"mimeType": "image/png", "data": data}, "thoughtSignature": self.signature()},
        ]
        if streamed:  # the text's signature trails on a part of its own, with empty text
            parts[2] = {"text": f"Result {n}"}
            parts.append({"text": "", "thoughtSignature": self.signature()})
        content = {"role": "model", "parts": parts}
        with self._lock:
            self.issued.append(content)
        payload: dict[str, Any] = {
            "candidates": [{"content": content, "finishReason": "STOP", "index": 0}],
            "modelVersion": "fake-gemini",
            "responseId": f"resp-{n}",
        }
        if self.usage is not None:
            payload["usageMetadata"] = self.usage
        payload["candidates"][0].update(self.candidate_extra)
        if body.get("tools"):
            payload["candidates"][0]["groundingMetadata"] = {
                "searchEntryPoint": {"renderedContent": "<div class='chip'>weather in Paris</div>"},
                "webSearchQueries": ["weather in Paris"],
            }
        return payload

    def signature(self) -> str:
        return secrets.token_urlsafe(self.signature_bytes)[: self.signature_bytes]


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json", headers=headers)


def html_response(status: int) -> Response:
    return Response(
        f"<html><body><h1>{status} Gateway error</h1></body></html>", status=status, content_type="text/html"
    )
