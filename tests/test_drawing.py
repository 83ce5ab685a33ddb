"""What the drawing component returns (Fabric.js 7 objects, as captured from a browser run) turned
into the studio's marks: fractions of the image, wherever the object's origin is, after a move or
a resize in the component's edit mode."""

from __future__ import annotations

import pytest

from ui.canvas_marks import canvas_size, marks_from_canvas

BOX = {"type": "Rect", "originX": "left", "originY": "top", "left": 64, "top": 64, "width": 256, "height": 192,
       "scaleX": 1, "scaleY": 1, "strokeWidth": 3}  # fmt: skip
LINE = [["M", 384, 512], ["Q", 384, 512, 480, 512], ["L", 576, 512]]
STROKE = {"type": "Path", "originX": "center", "originY": "center", "left": 480, "top": 512, "width": 192,
          "height": 0, "scaleX": 1, "scaleY": 1, "strokeWidth": 26, "path": LINE}  # fmt: skip


def test_a_box_and_a_stroke_as_drawn():
    box, stroke = marks_from_canvas([BOX, STROKE], 640, 640)
    assert box == {"kind": "box", "x0": 0.1, "y0": 0.1, "x1": 0.5, "y1": 0.4}
    assert stroke["kind"] == "stroke" and stroke["points"] == [[0.6, 0.8], [0.75, 0.8], [0.9, 0.8]]
    assert stroke["width"] == pytest.approx(26 / 640, abs=1e-4)


def test_moved_and_resized_in_edit_mode_the_marks_follow():
    # The box dragged right by 64 px and made twice as wide; the stroke moved up by 128 px (its
    # path's own points do not change when it moves: only left/top do).
    moved_box = {**BOX, "left": 128, "scaleX": 2}
    moved_stroke = {**STROKE, "top": 384}
    box, stroke = marks_from_canvas([moved_box, moved_stroke], 640, 640)
    assert (box["x0"], box["x1"]) == (0.2, 1.0)  # 128 + 2 * 256 = 640: the right edge
    assert [p[1] for p in stroke["points"]] == [0.6, 0.6, 0.6]
    # An older Fabric's top-left origin for paths gives the same place.
    corner = {**STROKE, "originX": "left", "originY": "top", "left": 384, "top": 512}
    assert marks_from_canvas([corner], 640, 640)[0]["points"] == [[0.6, 0.8], [0.75, 0.8], [0.9, 0.8]]


def test_other_objects_are_ignored_and_marks_stay_inside_the_image():
    off = {**BOX, "left": -50, "width": 2000}
    assert marks_from_canvas([{"type": "Circle", "left": 1, "top": 1}, off], 640, 640) == [
        {"kind": "box", "x0": 0.0, "y0": 0.1, "x1": 1.0, "y1": 0.4}
    ]


def test_the_canvas_keeps_the_images_shape():
    assert canvas_size(2048, 1152) == (640, 360)
    assert canvas_size(768, 1344) == (366, 640)
