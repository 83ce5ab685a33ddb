"""The replay builder: pure functions from stored turns to the `contents` of the next request.

Curated history, as the official SDK keeps it: only exchanges whose request and reply both
succeeded are replayed; failed ones stay in the store for display. Model turns go back exactly
as received. When the request would outgrow the route's size limit, the oldest whole exchanges
are left out on purpose (the replay still starts with a user turn) and the caller is told which.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.provider.wire import part_to_wire
from core.values import Exchange, Part, Turn

# Braces, role, keys and commas around each content; generous so the estimate stays above truth.
CONTENT_OVERHEAD = 64
PART_OVERHEAD = 96


def b64_len(n_bytes: int) -> int:
    return 4 * ((n_bytes + 2) // 3)


def _json_len(value: str) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def part_size(part: Part, image_size: Callable[[str], int]) -> int:
    """Bytes this part adds to the JSON body, computed without encoding any image."""
    size = PART_OVERHEAD
    if part.wire is not None:
        size += len(json.dumps(part.wire.get("part"), ensure_ascii=False).encode())
        if part.wire.get("inline") is not None and part.image_hash is not None:
            size += b64_len(image_size(part.image_hash))
        return size
    if part.kind == "other":
        return size + len(json.dumps(part.extra, ensure_ascii=False).encode())
    if part.kind == "text" and part.text is not None:
        size += _json_len(part.text)
    if part.image_hash is not None:
        size += b64_len(image_size(part.image_hash)) + len(part.mime_type or "")
    if part.signature is not None:
        # Signatures are base64: plain ASCII that JSON never escapes.
        size += len(part.signature)
    if part.extra:
        size += len(json.dumps(part.extra, ensure_ascii=False).encode())
    return size


def turn_size(turn: Turn, image_size: Callable[[str], int]) -> int:
    return CONTENT_OVERHEAD + sum(part_size(p, image_size) for p in turn.parts)


def content(turn: Turn, image_b64: Callable[[str], str]) -> dict[str, Any]:
    return {"role": turn.role, "parts": [part_to_wire(p, image_b64) for p in turn.parts]}


def build_contents(
    history: list[Exchange],
    request: Turn,
    image_b64: Callable[[str], str],
    carried: list[Part] | None = None,
) -> list[dict[str, Any]]:
    """`contents` for the next request. `carried` user images (from exchanges left out for size)
    go first in the first user turn, so the model keeps the person's own references."""
    contents: list[dict[str, Any]] = []
    for exchange in history:
        assert exchange.reply is not None
        contents.append(content(exchange.request, image_b64))
        contents.append(content(exchange.reply, image_b64))
    contents.append(content(request, image_b64))
    if carried:
        first = contents[0]
        first["parts"] = [part_to_wire(p, image_b64) for p in carried] + first["parts"]
    return contents


def carried_images(dropped: list[Exchange], kept: list[Exchange], request: Turn) -> list[Part]:
    """The user's own images from left-out exchanges that nothing kept still carries, oldest first."""
    present = {p.image_hash for e in kept for p in e.request.parts if p.image_hash}
    present |= {p.image_hash for p in request.parts if p.image_hash}
    carried: dict[str, Part] = {}
    for exchange in dropped:
        for part in exchange.request.images:
            if part.image_hash and part.image_hash not in present:
                carried.setdefault(part.image_hash, part)
    return list(carried.values())


@dataclass
class ReplayPlan:
    kept: list[Exchange]
    dropped: list[Exchange] = field(default_factory=list)
    carried: list[Part] = field(default_factory=list)
    estimated_bytes: int = 0
    limit_bytes: int = 0
    request_bytes: int = 0
    # What the request would weigh with nothing left out and nothing carried.
    full_bytes: int = 0

    @property
    def fits(self) -> bool:
        return self.estimated_bytes <= self.limit_bytes


def plan_replay(
    history: list[Exchange],
    request: Turn,
    weigh: Callable[[Turn], int],
    limit_bytes: int,
    fixed_overhead: int = 1024,
    weigh_part: Callable[[Part], int] = lambda part: 0,
) -> ReplayPlan:
    """Keep the newest exchanges that fit under `limit_bytes`, oldest dropped first; then, in the
    room left, carry the user's own images from the dropped exchanges (oldest give way first)."""
    request_bytes = weigh(request)
    sizes = []
    for e in history:
        assert e.reply is not None
        sizes.append(weigh(e.request) + weigh(e.reply))
    full = total = fixed_overhead + request_bytes + sum(sizes)
    start = 0
    while total > limit_bytes and start < len(history):
        total -= sizes[start]
        start += 1
    carried = carried_images(history[:start], history[start:], request)
    carried_bytes = sum(weigh_part(p) for p in carried)
    # References only use room the newest exchanges leave: the oldest go first.
    while carried and total + carried_bytes > limit_bytes:
        carried_bytes -= weigh_part(carried.pop(0))
    return ReplayPlan(
        kept=history[start:],
        dropped=history[:start],
        carried=carried,
        estimated_bytes=total + carried_bytes,
        limit_bytes=limit_bytes,
        request_bytes=request_bytes,
        full_bytes=full,
    )
