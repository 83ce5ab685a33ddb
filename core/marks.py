"""Marked regions: boxes a person draws on an image, with what to change in each. The route has
no mask parameter, so the image goes with the marks drawn on it as an extra reference beside the
instruction, and the marks themselves are stored with the turn."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw

from core.errors import InvalidInput

COLOURS = ((230, 30, 60), (20, 120, 230), (20, 170, 80), (240, 150, 0))


def clean_marks(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Boxes in 0..1 coordinates (x0 < x1, y0 < y1) with a note; anything else is refused."""
    marks = []
    for n, mark in enumerate(raw, start=1):
        try:
            x0, y0, x1, y1 = (float(mark[k]) for k in ("x0", "y0", "x1", "y1"))
        except (KeyError, TypeError, ValueError):
            raise InvalidInput(f"Mark {n} is not a box.") from None
        x0, x1, y0, y1 = (max(0.0, min(1.0, v)) for v in (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)))
        if x1 - x0 < 0.01 or y1 - y0 < 0.01:
            raise InvalidInput(f"Mark {n} is too small to see; draw a larger box.")
        marks.append({"x0": x0, "y0": y0, "x1": x1, "y1": y1, "note": str(mark.get("note", "")).strip()[:500]})
    return marks


def instruction(text: str, marks: list[dict[str, Any]]) -> str:
    """The words sent with the marked copy: what to do, and where each box is."""
    lines = [text.strip()] if text.strip() else []
    lines.append(
        "The second image is the first with numbered boxes drawn on it; change only inside the boxes and "
        "return the image without the boxes."
    )
    for n, mark in enumerate(marks, start=1):
        lines.append(f"Box {n}: {mark['note'] or 'the change above'}")
    return "\n".join(lines)


def draw_marks(data: bytes, marks: list[dict[str, Any]]) -> bytes:
    """The image with each box drawn and numbered, as PNG."""
    with Image.open(io.BytesIO(data)) as source:
        image = source.convert("RGB")
    pen = ImageDraw.Draw(image)
    width, height = image.size
    line = max(3, round(min(width, height) / 150))
    for n, mark in enumerate(marks, start=1):
        colour = COLOURS[(n - 1) % len(COLOURS)]
        box = (mark["x0"] * width, mark["y0"] * height, mark["x1"] * width, mark["y1"] * height)
        pen.rectangle(box, outline=colour, width=line)
        label = (box[0] + line, box[1] + line, box[0] + line + 14 * line, box[1] + line + 12 * line)
        pen.rectangle(label, fill=colour)
        pen.text((label[0] + 3 * line, label[1] + line), str(n), fill=(255, 255, 255), font_size=9 * line)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def wipe(left: bytes, right: bytes, at: float) -> bytes:
    """Two versions over each other: `left` up to `at` (0..1) of the width, `right` after it,
    with a line where they meet. The right one is fitted to the left one's size."""
    with Image.open(io.BytesIO(left)) as a, Image.open(io.BytesIO(right)) as b:
        base = a.convert("RGB")
        other = b.convert("RGB").resize(base.size)
    cut = round(max(0.0, min(1.0, at)) * base.width)
    base.paste(other.crop((cut, 0, base.width, base.height)), (cut, 0))
    ImageDraw.Draw(base).line((cut, 0, cut, base.height), fill=(255, 255, 255), width=max(2, base.width // 400))
    out = io.BytesIO()
    base.save(out, format="JPEG", quality=88)
    return out.getvalue()


def contact_sheet(
    thumbnails: list[bytes | None], labels: list[str], current: int | None, aside: set[int], tile: int = 112
) -> bytes:
    """The version strip as one picture: a row of tiles with their labels, the current one framed,
    those off the current branch (`aside`) underlined in grey. One image instead of a dozen
    elements keeps a page with hundreds of versions quick."""
    gap, band = 8, 22
    sheet = Image.new("RGB", (len(labels) * (tile + gap) + gap, tile + band + 2 * gap), (250, 250, 250))
    pen = ImageDraw.Draw(sheet)
    for n, (data, label) in enumerate(zip(thumbnails, labels, strict=True)):
        left = gap + n * (tile + gap)
        if data:
            with Image.open(io.BytesIO(data)) as source:
                image = source.convert("RGB")
            image.thumbnail((tile, tile))
            sheet.paste(image, (left + (tile - image.width) // 2, gap + (tile - image.height) // 2))
        if n == current:
            pen.rectangle((left - 4, gap - 4, left + tile + 3, gap + tile + 3), outline=(245, 180, 0), width=4)
        if n in aside:
            pen.rectangle((left, gap + tile + 1, left + tile, gap + tile + 3), fill=(150, 150, 150))
        pen.text((left, gap + tile + 6), label[:18], fill=(60, 60, 60), font_size=12)
    out = io.BytesIO()
    sheet.save(out, format="PNG")
    return out.getvalue()
