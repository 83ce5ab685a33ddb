"""Synthetic conversations with realistic weights: 2K JPEG results and ~600 KB signatures."""

from __future__ import annotations

import base64
import dataclasses
import io
import random
import secrets
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from core.provider.wire import part_from_wire
from core.service import StudioService
from core.values import GenerationSettings, TurnStatus

SIGNATURE_CHARS = 600_000


def photo_like_jpeg(seed: int, size: tuple[int, int] = (2048, 2048)) -> bytes:
    """A 2K JPEG that weighs what a generated photo weighs (~0.5-1 MB), not a flat colour."""
    rng = random.Random(seed)
    small = Image.frombytes("RGB", (64, 64), bytes(rng.randrange(256) for _ in range(64 * 64 * 3)))
    image = small.resize(size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    pen = ImageDraw.Draw(image)
    for _ in range(400):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        pen.ellipse(
            (x, y, x + rng.randrange(4, 40), y + rng.randrange(4, 40)), fill=tuple(rng.randrange(256) for _ in range(3))
        )
    noise = Image.effect_noise(size, 24).convert("RGB")
    image = Image.blend(image, noise, 0.12)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def model_content(image: bytes, n: int) -> dict[str, Any]:
    data = base64.b64encode(image).decode()
    return {
        "role": "model",
        "parts": [
            {"text": f"Planning edit {n}", "thought": True},
            {
                "text": f"Here is version {n}.",
                "thoughtSignature": secrets.token_urlsafe(SIGNATURE_CHARS)[:SIGNATURE_CHARS],
            },
            {
                "inlineData": {"mimeType": "image/jpeg", "data": data},
                "thoughtSignature": secrets.token_urlsafe(SIGNATURE_CHARS)[:SIGNATURE_CHARS],
            },
        ],
    }


def response_payload(content: dict[str, Any]) -> dict[str, Any]:
    return {
        "candidates": [{"content": content, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 1290, "totalTokenCount": 2290},
        "modelVersion": "bench",
        "responseId": secrets.token_hex(8),
    }


def build_conversation(service: StudioService, turns: int, images: list[bytes]) -> str:
    """Writes `turns` answered exchanges straight through the store, as the service would."""
    conversation = service.new_conversation(settings=GenerationSettings(aspect_ratio="1:1", image_size="2K"))
    turns_api = service.turns
    for n in range(turns):
        request = turns_api.start(conversation.id, f"edit number {n}")
        assert service.life.claim(request.id, turns_api.owner)
        parts, sizes = [], {}
        for raw in model_content(images[n % len(images)], n)["parts"]:
            part, data = part_from_wire(raw)
            if data is not None:
                info = service.images.put(data, "image/jpeg")
                sizes[info.hash] = info.size_bytes
                part = dataclasses.replace(part, image_hash=info.hash)
            parts.append(part)
        service.life.finish(
            request.id,
            turns_api.owner,
            status=TurnStatus.OK,
            reply_parts=parts,
            reply_weight=turns_api.weigh(parts, sizes),
        )
    return conversation.id
