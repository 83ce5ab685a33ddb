"""Two small components of our own (Streamlit's components v2, no build step): a canvas to draw
boxes and brush strokes on an image, and a slider over two versions. No maintained drawing
component works with this Streamlit; these are a few dozen lines of JavaScript each."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import streamlit as st

from core.workspace import Workspace
from ui.common import _thumbnail

ASSETS = Path(__file__).parent / "assets"
EDGE = 1024  # the copy drawn on: marks are fractions of the image, so any size lands the same

_CANVAS_CSS = """
.marker { font-family: var(--st-font, sans-serif); }
.bar { display: flex; gap: .4rem; align-items: center; margin-bottom: .4rem; flex-wrap: wrap; }
.bar button { border: 1px solid var(--st-border-color, #ccc); background: var(--st-background-color, #fff);
  color: var(--st-text-color, #222); border-radius: .5rem; padding: .2rem .7rem; cursor: pointer; }
.bar button[aria-pressed="true"] { border-color: var(--st-primary-color, #f63); color: var(--st-primary-color, #f63); }
.hint { color: var(--st-text-color, #555); opacity: .7; font-size: .85rem; }
.stage { position: relative; display: block; width: min(100%, 640px); line-height: 0; }
.stage img { width: 100%; height: auto; display: block; user-select: none; -webkit-user-drag: none; }
.stage canvas { position: absolute; inset: 0; cursor: crosshair; touch-action: none; }
"""

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

_canvas = st.components.v2.component("studio.mark_canvas", js=(ASSETS / "mark_canvas.js").read_text(), css=_CANVAS_CSS)
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


def mark_canvas(image_url: str, marks: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The marks drawn so far (boxes and strokes, 0..1 coordinates), newest last."""
    result = _canvas(
        data={"image": image_url, "marks": marks},
        default={"marks": marks},
        key=key,
        on_marks_change=lambda: None,
    )
    drawn = result.get("marks")
    return list(drawn or [])


def compare_slider(left_url: str, right_url: str, left_label: str, right_label: str, key: str) -> None:
    _slider(
        data={"left": left_url, "right": right_url, "left_label": left_label, "right_label": right_label},
        key=key,
    )
