"""Marked regions: boxes and brush strokes a person draws on an image, with what to change in each. The route has
no mask parameter, so the image goes with the marks drawn on it as an extra reference beside the
instruction, and the marks themselves are stored with the turn."""

from __future__ import annotations

import io
import re
import unicodedata
from typing import Any

from PIL import Image, ImageDraw

from core.errors import InvalidInput

COLOURS = ((230, 30, 60), (20, 120, 230), (20, 170, 80), (240, 150, 0))
MAX_MARKS = 12
MAX_POINTS = 2000  # per stroke: a long drag at pointer rate, not an unbounded list


def _unit(value: Any) -> float:
    number = float(value)
    if number != number:  # NaN
        raise ValueError
    return max(0.0, min(1.0, number))


def _box(n: int, mark: dict[str, Any]) -> dict[str, Any]:
    try:
        x0, y0, x1, y1 = (_unit(mark[k]) for k in ("x0", "y0", "x1", "y1"))
    except (KeyError, TypeError, ValueError):
        raise InvalidInput(f"Mark {n} is not a box.") from None
    x0, x1, y0, y1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    if x1 - x0 < 0.01 or y1 - y0 < 0.01:
        raise InvalidInput(f"Mark {n} is too small to see; draw a larger box.")
    return {"kind": "box", "x0": x0, "y0": y0, "x1": x1, "y1": y1}


def _stroke(n: int, mark: dict[str, Any]) -> dict[str, Any]:
    try:
        points = [[_unit(x), _unit(y)] for x, y in mark["points"]]
        width = max(0.005, min(0.2, float(mark.get("width", 0.04))))
    except (KeyError, TypeError, ValueError):
        raise InvalidInput(f"Mark {n} is not a brush stroke.") from None
    if not points:
        raise InvalidInput(f"Mark {n} is an empty brush stroke.")
    if len(points) > MAX_POINTS:
        # Evenly thinned: the shape a person painted, with fewer points.
        step = len(points) / MAX_POINTS
        points = [points[int(i * step)] for i in range(MAX_POINTS)]
    return {"kind": "stroke", "points": points, "width": width}


def clean_marks(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Boxes (x0 < x1, y0 < y1) and brush strokes (points and a width), in 0..1 coordinates of
    the image, each with a note; anything else is refused with the mark's number."""
    if len(raw) > MAX_MARKS:
        raise InvalidInput(f"{len(raw)} marks is more than the {MAX_MARKS} one change can carry; undo some.")
    marks = []
    for n, mark in enumerate(raw, start=1):
        if not isinstance(mark, dict):
            raise InvalidInput(f"Mark {n} is not a box or a brush stroke.")
        shape = _stroke(n, mark) if mark.get("kind") == "stroke" else _box(n, mark)
        marks.append({**shape, "note": str(mark.get("note", "")).strip()[:500]})
    return marks


def _name(mark: dict[str, Any], n: int) -> str:
    return f"Box {n}" if mark.get("kind", "box") == "box" else f"Painted area {n}"


def instruction(text: str, marks: list[dict[str, Any]]) -> str:
    """The words sent with the marked copy: what to do, and where each mark is."""
    lines = [text.strip()] if text.strip() else []
    kinds = {m.get("kind", "box") for m in marks}
    drawn = {"box": "numbered boxes", "stroke": "numbered painted areas"}
    what = " and ".join(drawn[k] for k in ("box", "stroke") if k in kinds)
    lines.append(
        f"The second image is the first with {what} drawn on it; change only inside the marked areas and "
        "return the image without the marks."
    )
    for n, mark in enumerate(marks, start=1):
        lines.append(f"{_name(mark, n)}: {mark['note'] or 'the change above'}")
    return "\n".join(lines)


def own_words(sent: str, marks: list[dict[str, Any]] | None) -> str:
    """The person's own words of a marked turn: what they typed, without the instruction the
    studio added (the instruction is rebuilt from them and must give back exactly what was sent;
    anything else is kept whole). With nothing typed, the notes they wrote in the marks."""
    if not marks:
        return sent
    lines = sent.split("\n")
    for cut in range(len(lines) + 1):
        typed = "\n".join(lines[:cut])
        if instruction(typed, marks) == sent:
            return typed.strip() or "; ".join(str(m.get("note") or "") for m in marks if m.get("note"))
    return sent


def file_stem(prompt: str, words: int = 6, limit: int = 48) -> str:
    """The first words of a prompt as a file name: `red-bicycle-on-a-beach`."""
    plain = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode().lower()
    found = re.findall(r"[a-z0-9]+", plain)[:words]
    stem = "-".join(found)
    while len(stem) > limit and "-" in stem:
        stem = stem.rsplit("-", 1)[0]
    return stem[:limit]


def draw_marks(data: bytes, marks: list[dict[str, Any]]) -> bytes:
    """The image with each mark drawn and numbered, as PNG: boxes outlined, strokes painted
    half-transparent so the model still sees what is under them."""
    with Image.open(io.BytesIO(data)) as source:
        image = source.convert("RGB")
    width, height = image.size
    line = max(3, round(min(width, height) / 150))
    paint = Image.new("RGBA", image.size, (0, 0, 0, 0))
    brush = ImageDraw.Draw(paint)
    for n, mark in enumerate(marks, start=1):
        if mark.get("kind") == "stroke":
            colour = COLOURS[(n - 1) % len(COLOURS)]
            points = [(x * width, y * height) for x, y in mark["points"]]
            thick = max(line, round(mark["width"] * width))
            if len(points) > 1:
                brush.line(points, fill=(*colour, 140), width=thick, joint="curve")
            for x, y in (points[0], points[-1]):
                brush.ellipse((x - thick / 2, y - thick / 2, x + thick / 2, y + thick / 2), fill=(*colour, 140))
    image = Image.alpha_composite(image.convert("RGBA"), paint).convert("RGB")
    pen = ImageDraw.Draw(image)
    for n, mark in enumerate(marks, start=1):
        colour = COLOURS[(n - 1) % len(COLOURS)]
        if mark.get("kind") == "stroke":
            x, y = mark["points"][0]
            corner = (x * width, y * height)
        else:
            box = (mark["x0"] * width, mark["y0"] * height, mark["x1"] * width, mark["y1"] * height)
            pen.rectangle(box, outline=colour, width=line)
            corner = (box[0] + line, box[1] + line)
        label = (corner[0], corner[1], corner[0] + 14 * line, corner[1] + 12 * line)
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
