"""The built-in offline demo model: a requests transport adapter that speaks the exact
generateContent wire format on a pseudo host, so the same client, replay and store run with
no key and no network. It draws a real image that follows the conversation, returns thought
parts and signatures, and checks signatures on replay as Gemini 3 does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import math
import re
import uuid
from typing import Any

import requests
from PIL import Image, ImageDraw, ImageFont, ImageOps
from requests.adapters import BaseAdapter

from core.provider.wire import BYPASS_SIGNATURE

OFFLINE_BASE_URL = "https://offline-demo.studio.invalid"
# Not a secret: it only lets the demo recognise its own signatures after a restart.
_SIGNING_KEY = b"studio-offline-demo-v1"
SIZE_EDGE = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}
COLOURS = {
    "red": (214, 48, 49),
    "blue": (9, 132, 227),
    "green": (0, 184, 148),
    "yellow": (253, 203, 110),
    "orange": (225, 112, 85),
    "purple": (108, 92, 231),
    "pink": (232, 67, 147),
    "black": (30, 30, 30),
    "white": (245, 246, 250),
    "gold": (212, 175, 55),
    "teal": (0, 128, 128),
    "grey": (127, 140, 141),
    "gray": (127, 140, 141),
    "brown": (121, 85, 72),
}


def demo_signature(payload: str) -> str:
    digest = hmac.new(_SIGNING_KEY, payload.encode(), hashlib.sha256).digest()
    return base64.b64encode(b"demo-sig:" + digest).decode()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": status, "message": message, "status": code}}


def check_history(contents: list[dict[str, Any]]) -> tuple[int, dict[str, Any]] | None:
    """The Gemini 3 rule: every image part of every model turn carries the signature it was
    given, and the first non-thought part of a model turn has one too."""
    for c_index, content in enumerate(contents):
        if content.get("role") != "model":
            continue
        first_answer = True
        for p_index, part in enumerate(content.get("parts", [])):
            if part.get("thought"):
                continue
            inline = part.get("inlineData")
            payload = inline.get("data", "") if inline else part.get("text", "")
            signature = part.get("thoughtSignature")
            must_sign = bool(inline) or first_answer
            first_answer = False
            kind = "Image" if inline else "Text"
            if signature is None and must_sign:
                return _error(
                    400,
                    "INVALID_ARGUMENT",
                    f"{kind} part is missing a thought_signature in content position {c_index + 1}, "
                    f"part position {p_index + 1}.",
                )
            if signature is not None and signature != demo_signature(payload) and signature != BYPASS_SIGNATURE:
                return _error(
                    400,
                    "INVALID_ARGUMENT",
                    f"Corrupted thought signature in content position {c_index + 1}, part position {p_index + 1}.",
                )
    return None


def _dimensions(image_config: dict[str, Any]) -> tuple[int, int]:
    ratio = image_config.get("aspectRatio", "1:1")
    edge = SIZE_EDGE.get(image_config.get("imageSize", "1K"), 1024)
    w_ratio, h_ratio = (int(x) for x in ratio.split(":"))
    width = math.sqrt(edge * edge * w_ratio / h_ratio)
    return max(64, int(width) // 8 * 8), max(64, int(width * h_ratio / w_ratio) // 8 * 8)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):
        return ImageFont.load_default()


def _colour_in(text: str) -> tuple[int, int, int] | None:
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in COLOURS:
            return COLOURS[word]
    return None


def _last_image(contents: list[dict[str, Any]]) -> bytes | None:
    for content in reversed(contents):
        for part in reversed(content.get("parts", [])):
            inline = part.get("inlineData")
            if inline and not part.get("thought"):
                return base64.b64decode(inline["data"])
    return None


def _subject_box(width: int, height: int) -> tuple[int, int, int, int]:
    cx, cy, s = width // 2, int(height * 0.6), min(width, height) // 5
    return cx - s, cy - s // 2, cx + s, cy + s // 2


def draw(prompt: str, contents: list[dict[str, Any]], size: tuple[int, int], turn_number: int) -> bytes:
    """A scene that follows the conversation: a colour word repaints the subject, "add X" pins a
    labelled badge on it, and every turn's instruction is captioned, newest on top."""
    width, height = size
    base = _last_image(contents[:-1]) or _last_image(contents[-1:])
    colour = _colour_in(prompt)
    box = _subject_box(width, height)
    if base is not None:
        image = ImageOps.fit(Image.open(io.BytesIO(base)).convert("RGB"), size)
        pen = ImageDraw.Draw(image)
    else:
        image = Image.new("RGB", size, (135, 206, 235))
        pen = ImageDraw.Draw(image)
        pen.rectangle((0, int(height * 0.62), width, height), fill=(238, 214, 175))
        r = min(width, height) // 9
        pen.ellipse((width - 3 * r, r, width - r, 3 * r), fill=(255, 221, 89))
    unit = max(10, min(width, height) // 40)
    if colour or base is None:
        pen.rounded_rectangle(box, radius=(box[2] - box[0]) // 8, fill=colour or (244, 208, 63))
    added = re.search(r"\badd(?:s|ing)?\s+(?:an?\s+|the\s+|some\s+)?([\w-]+)", prompt.lower())
    if added:
        r = max(unit, (box[3] - box[1]) // 4)
        x = box[0] + (turn_number * 2 * r) % max(1, box[2] - box[0] - 2 * r)
        pen.ellipse((x, box[1] - r, x + 2 * r, box[1] + r), fill=(255, 255, 255), outline=(20, 24, 33), width=3)
        pen.text((x + r, box[1]), added.group(1)[:10], fill=(20, 24, 33), font=_font(unit), anchor="mm")
    caption = f"{turn_number}. {prompt}"
    caption = caption if len(caption) <= 70 else caption[:69] + "…"
    band_height = int(unit * 2)
    top = max(0, height - band_height * min(turn_number, 8))
    pen.rectangle((0, top, width, top + band_height), fill=(20, 24, 33) if turn_number % 2 else (45, 52, 70))
    pen.text((unit, top + band_height // 2), caption, fill=(255, 255, 255), font=_font(unit), anchor="lm")
    pen.text((unit // 2, unit // 2), "OFFLINE DEMO", fill=(20, 24, 33), font=_font(unit))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents or contents[-1].get("role", "user") != "user":
        return _error(400, "INVALID_ARGUMENT", "contents must end with a user turn.")
    problem = check_history(contents)
    if problem:
        return problem
    config = body.get("generationConfig", {})
    prompt = " ".join(p.get("text", "") for p in contents[-1].get("parts", []) if "text" in p).strip()
    prompt = prompt or "(an image with no words)"
    turn_number = sum(1 for c in contents if c.get("role", "user") == "user")
    size = _dimensions(config.get("imageConfig", {}))
    data = draw(prompt, contents, size, turn_number)
    encoded = base64.b64encode(data).decode()
    plan = f"Planning turn {turn_number}: {prompt[:200]}"
    parts: list[dict[str, Any]] = [{"text": plan, "thought": True}]
    parts.append(
        {"inlineData": {"mimeType": "image/jpeg", "data": encoded}, "thoughtSignature": demo_signature(encoded)}
    )
    if "TEXT" in config.get("responseModalities", ["TEXT", "IMAGE"]):
        parts.append({"text": f"Here is turn {turn_number} ({size[0]}×{size[1]}), drawn offline."})
    return 200, {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": _usage(contents, parts, config),
        "modelVersion": "offline-demo",
        "responseId": uuid.uuid4().hex,
    }


# Tokens as Gemini 3 image models count them, so the demo's costs look like the real ones.
IMAGE_IN_TOKENS = 560
IMAGE_OUT_TOKENS = {"512": 747, "1K": 1120, "2K": 1680, "4K": 2520}


def _usage(contents: list[dict[str, Any]], parts: list[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    def is_image(p: dict[str, Any]) -> bool:
        return "inlineData" in p or "inline_data" in p

    sent = [p for c in contents for p in c.get("parts", [])]
    prompt_text = sum(len(p.get("text", "")) for p in sent) // 4 + 1
    prompt_images = IMAGE_IN_TOKENS * sum(1 for p in sent if is_image(p) and not p.get("thought"))
    image = IMAGE_OUT_TOKENS.get(config.get("imageConfig", {}).get("imageSize", "1K"), 1120)
    text = sum(len(p.get("text", "")) for p in parts if not p.get("thought")) // 4
    thinking = sum(len(p.get("text", "")) for p in parts if p.get("thought")) // 4
    return {
        "promptTokenCount": prompt_text + prompt_images,
        "candidatesTokenCount": image + text,
        "thoughtsTokenCount": thinking,
        "totalTokenCount": prompt_text + prompt_images + image + text + thinking,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": prompt_text},
            {"modality": "IMAGE", "tokenCount": prompt_images},
        ],
        "candidatesTokensDetails": [
            {"modality": "TEXT", "tokenCount": text},
            {"modality": "IMAGE", "tokenCount": image},
        ],
    }


class OfflineDemoAdapter(BaseAdapter):
    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # type: ignore[no-untyped-def]
        try:
            body = json.loads(request.body or b"{}")
            status, payload = answer(body)
        except (ValueError, KeyError, TypeError) as exc:
            status, payload = _error(400, "INVALID_ARGUMENT", f"Malformed request: {exc}")
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(payload).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass
