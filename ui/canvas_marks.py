"""The drawing component's Fabric.js objects (canvas pixels) as the studio's marks (fractions of
the image). Pure, so it is tested without a browser."""

from __future__ import annotations

from typing import Any

CANVAS = 640  # the canvas's longer side, in pixels


def canvas_size(width: int, height: int, edge: int = CANVAS) -> tuple[int, int]:
    """The canvas in pixels: the image's shape, its longer side `edge`."""
    if width >= height:
        return edge, max(1, round(edge * height / width))
    return max(1, round(edge * width / height)), edge


def _unit(value: float) -> float:
    return round(max(0.0, min(1.0, value)), 4)


ORIGIN = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}


def marks_from_canvas(objects: list[dict[str, Any]], width: int, height: int) -> list[dict[str, Any]]:
    """Fabric.js objects from the canvas (pixels, possibly moved or scaled in edit mode) as the
    studio's marks: boxes and strokes in fractions of the image, in the order drawn."""
    marks: list[dict[str, Any]] = []
    for obj in objects:
        sx, sy = float(obj.get("scaleX", 1) or 1), float(obj.get("scaleY", 1) or 1)
        w, h = float(obj.get("width", 0)) * sx, float(obj.get("height", 0)) * sy
        # left/top are wherever the object's origin is (Fabric 7 puts a path's at its centre).
        x0 = float(obj.get("left", 0)) - ORIGIN.get(str(obj.get("originX", "left")), 0.0) * w
        y0 = float(obj.get("top", 0)) - ORIGIN.get(str(obj.get("originY", "top")), 0.0) * h
        kind = str(obj.get("type", "")).lower()  # Fabric 6 and 7 say "Rect", older releases "rect"
        if kind == "rect":
            box = [_unit(x0 / width), _unit(y0 / height), _unit((x0 + w) / width), _unit((y0 + h) / height)]
            marks.append({"kind": "box", "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]})
        elif kind == "path":
            # The path's own points stay where they were drawn; the object says where it is now.
            points = [(float(c[-2]), float(c[-1])) for c in obj.get("path", []) if len(c) >= 3]
            if not points:
                continue
            mid_x = (min(x for x, _ in points) + max(x for x, _ in points)) / 2
            mid_y = (min(y for _, y in points) + max(y for _, y in points)) / 2
            centre_x, centre_y = x0 + w / 2, y0 + h / 2
            marks.append(
                {
                    "kind": "stroke",
                    "points": [
                        [_unit((centre_x + (x - mid_x) * sx) / width), _unit((centre_y + (y - mid_y) * sy) / height)]
                        for x, y in points
                    ],
                    "width": round(float(obj.get("strokeWidth", 0)) * sx / width, 4),
                }
            )
    return marks
