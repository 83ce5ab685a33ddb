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
    # What takes its place once retired (a conversation on it goes on there, as a new one).
    successor: str | None = None
    # Where its facts come from, and where they hold (Google, CometAPI): data, shown to people.
    source: str = ""
    note: str = ""

    def is_retired(self, today: dt.date | None = None) -> bool:
        return self.retired is not None and self.retired <= (today or dt.date.today())


@dataclass(frozen=True, kw_only=True)
class Retirement:
    """A retired model, and where its conversations go on (None: nothing named that answers)."""

    model: ModelSpec
    successor: ModelSpec | None


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

    def successor(self, spec: ModelSpec, today: dt.date | None = None) -> ModelSpec | None:
        """Where a conversation on a retired model goes on: its successor, followed while that
        one is retired too; None when the model is current or names nothing usable."""
        seen = {spec.id}
        current = spec
        while current.is_retired(today):
            following = self.models.get(current.successor or "")
            if following is None or following.id in seen:
                return None
            seen.add(following.id)
            current = following
        return None if current is spec else current


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
        successor=raw.get("successor") or None,
        source=str(raw.get("source", "")),
        note=str(raw.get("note", "")),
    )


def load_catalog(
    extra_file: str | Path | None = None, default_model: str | None = None, today: dt.date | None = None
) -> ModelCatalog:
    """The shipped table, with entries from `extra_file` added or overriding by id, key by key
    (so an operator's file may hold only `[models."<id>".prices]` with their own rates).
    `default_model` (STUDIO_DEFAULT_MODEL) chooses the default; an unknown or retired one stops
    the start with a message that says what to set."""
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
    if default_model:
        default_id = _checked_default(models, default_model.strip(), today)
    if default_id not in models:
        default_id = next(iter(models))
    return ModelCatalog(models=models, default_id=default_id)


def _checked_default(models: dict[str, ModelSpec], chosen: str, today: dt.date | None) -> str:
    current = sorted(m.id for m in models.values() if not m.is_retired(today))
    choices = ", ".join(current)
    spec = models.get(chosen)
    if spec is None:
        raise ValueError(
            f"STUDIO_DEFAULT_MODEL is {chosen!r}, which is not a model the studio knows. Set it to one of: "
            f"{choices} (or add the model to a file named by STUDIO_MODELS_FILE)."
        )
    if spec.is_retired(today):
        instead = spec.successor if spec.successor in models else (current[0] if current else "another model")
        raise ValueError(
            f"STUDIO_DEFAULT_MODEL is {chosen!r}, which was retired on {spec.retired:%d %B %Y}. "
            f"Set it to {instead} (current models: {choices})."
        )
    return spec.id
