"""The table of what each image model can do, loaded from TOML rather than written as ifs."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TABLE = Path(__file__).parent.parent / "models.toml"


# A model's list prices are part of its catalog entry; what a call costs is core/money/prices.py.
@dataclass(frozen=True, kw_only=True)
class Prices:
    """US dollars per million tokens by modality, as the provider lists them."""

    input_text: float
    input_image: float
    output_text: float
    output_image: float
    thinking: float
    input_image_tokens: int = 560
    output_image_tokens: dict[str, int] = field(default_factory=dict)
    # Dollars per output image by size, where the provider prices images that way.
    per_image: dict[str, float] = field(default_factory=dict)
    source: str = ""
    checked: str = ""

    def image_tokens(self, size: str | None) -> int:
        table = self.output_image_tokens
        return table.get(size or "default") or table.get("default") or next(iter(table.values()), 1290)


def prices_from(raw: dict[str, Any] | None) -> Prices | None:
    if not raw:
        return None
    output_text = float(raw.get("output_text", 0.0))
    return Prices(
        input_text=float(raw.get("input_text", 0.0)),
        input_image=float(raw.get("input_image", raw.get("input_text", 0.0))),
        output_text=output_text,
        output_image=float(raw.get("output_image", 0.0)),
        thinking=float(raw.get("thinking", output_text)),
        input_image_tokens=int(raw.get("input_image_tokens", 560)),
        output_image_tokens={str(k): int(v) for k, v in (raw.get("output_image_tokens") or {}).items()},
        per_image={str(k): float(v) for k, v in (raw.get("per_image") or {}).items()},
        source=str(raw.get("source", "")),
        checked=str(raw.get("checked", "")),
    )


@dataclass(frozen=True)
class ModelSpec:
    id: str
    label: str
    aspect_ratios: tuple[str, ...]
    image_sizes: tuple[str, ...]
    max_input_images: int
    thinking_levels: tuple[str, ...] = ()
    search_grounding: bool = False
    retired: dt.date | None = None
    prices: Prices | None = None

    def is_retired(self, today: dt.date | None = None) -> bool:
        return self.retired is not None and self.retired <= (today or dt.date.today())


@dataclass(frozen=True)
class ModelCatalog:
    models: dict[str, ModelSpec] = field(default_factory=dict)
    default_id: str = ""

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self.models[model_id]
        except KeyError:
            raise KeyError(f"Unknown model {model_id!r}; add it to the model table") from None

    def offered(self, today: dt.date | None = None) -> list[ModelSpec]:
        """Models a new conversation may choose: everything not yet retired."""
        return [m for m in self.models.values() if not m.is_retired(today)]

    @property
    def default(self) -> ModelSpec:
        return self.get(self.default_id)


_SIZE_WORD = re.compile(r"(?<![\w.])([124])\s?k(?![\w])|(?<![\w.])(512)\s?px(?![\w])", re.IGNORECASE)
_RATIO_WORD = re.compile(r"(?<![\w:.])(\d{1,2})\s?:\s?(\d{1,2})(?![\w:])")


def settings_in_text(spec: ModelSpec, text: str) -> dict[str, str]:
    """Output settings a person typed into a message ("4K, 16:9"), where this model offers them:
    the words alone cannot change the size of what the model returns, the config must."""
    found: dict[str, str] = {}
    for match in _SIZE_WORD.finditer(text):
        size = f"{match.group(1)}K" if match.group(1) else "512"
        if size in spec.image_sizes:
            found["image_size"] = size
    for match in _RATIO_WORD.finditer(text):
        ratio = f"{int(match.group(1))}:{int(match.group(2))}"
        if ratio in spec.aspect_ratios:
            found["aspect_ratio"] = ratio
    return found


def _spec(model_id: str, raw: dict) -> ModelSpec:
    retired = raw.get("retired")
    if isinstance(retired, str):
        retired = dt.date.fromisoformat(retired)
    return ModelSpec(
        id=model_id,
        label=str(raw.get("label", model_id)),
        aspect_ratios=tuple(raw.get("aspect_ratios", ("1:1",))),
        image_sizes=tuple(raw.get("image_sizes", ())),
        max_input_images=int(raw.get("max_input_images", 3)),
        thinking_levels=tuple(raw.get("thinking_levels", ())),
        search_grounding=bool(raw.get("search_grounding", False)),
        retired=retired,
        prices=prices_from(raw.get("prices")),
    )


def load_catalog(extra_file: str | Path | None = None) -> ModelCatalog:
    """The shipped table, with entries from `extra_file` added or overriding by id, key by key
    (so an operator's file may hold only `[models."<id>".prices]` with their own rates)."""
    tables = [tomllib.loads(DEFAULT_TABLE.read_text())]
    if extra_file:
        tables.append(tomllib.loads(Path(extra_file).read_text()))
    raws: dict[str, dict] = {}
    default_id = ""
    for table in tables:
        for model_id, raw in table.get("models", {}).items():
            raws[model_id] = {**raws.get(model_id, {}), **raw}
        default_id = table.get("default", default_id)
    models = {model_id: _spec(model_id, raw) for model_id, raw in raws.items()}
    if default_id not in models:
        default_id = next(iter(models))
    return ModelCatalog(models=models, default_id=default_id)
