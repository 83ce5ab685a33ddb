"""Drawing on an image and sliding between two: the maintained drawing component
(streamlit-drawable-canvas, on Streamlit's components v2) for boxes and brush strokes, and a small
component of ours for the comparison slider (the image-comparison packages on PyPI use the older
iframe API and have not been released since 2023)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core.workspace import Workspace
from ui.canvas_marks import canvas_size, marks_from_canvas
from ui.common import _thumbnail

ASSETS = Path(__file__).parent / "assets"
EDGE = 1024  # the copy drawn on: marks are fractions of the image, so any size lands the same
BRUSH = 0.04  # the brush's width, as a fraction of the canvas

_COMPARE_CSS = """
.stage { position: relative; display: block; width: min(100%, 640px); line-height: 0; cursor: ew-resize;
  touch-action: none; user-select: none; }
.stage img { width: 100%; height: auto; display: block; -webkit-user-drag: none; }
.stage img.over { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: fill; }
.line { position: absolute; top: 0; bottom: 0; width: 2px; background: white; box-shadow: 0 0 3px #000; }
input[type=range] { width: min(100%, 640px); margin-top: .5rem; }
.captions { width: min(100%, 640px); display: flex; justify-content: space-between; font-size: .85rem;
  color: var(--st-text-color, #444); }
"""

_slider = st.components.v2.component(
    "studio.compare_slider", js=(ASSETS / "compare_slider.js").read_text(), css=_COMPARE_CSS
)


@st.cache_data(max_entries=32, show_spinner=False)
def picture_url(_svc: Workspace, image_hash: str) -> str | None:
    """The image as a data URL for a component, at most EDGE wide; made once per image."""
    found = _thumbnail(_svc, image_hash, EDGE)
    if found is None:
        return None
    data, mime = found
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def mark_canvas(image_url: str, size: tuple[int, int], mode: str, key: str) -> list[dict[str, Any]]:
    """The marks drawn so far on the maintained drawing component (boxes and brush strokes, with
    its own undo, redo, reset and edit toolbar), newest last."""
    width, height = canvas_size(*size)
    result = st_canvas(
        fill_color="rgba(0, 0, 0, 0)",
        stroke_width=3 if mode == "box" else max(6, round(width * BRUSH)),
        stroke_color="rgba(230, 30, 60, 1)" if mode == "box" else "rgba(20, 120, 230, 0.55)",
        background_image=image_url,
        width=width,
        height=height,
        drawing_mode="rect" if mode == "box" else "freedraw",
        key=key,
    )
    objects = (result.json_data or {}).get("objects", [])
    return marks_from_canvas(objects, width, height)


def compare_slider(left_url: str, right_url: str, left_label: str, right_label: str, key: str) -> None:
    _slider(
        data={"left": left_url, "right": right_url, "left_label": left_label, "right_label": right_label},
        key=key,
    )
