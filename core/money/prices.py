"""What a call costs: prices as data (core/models.toml), costs from the tokens the service
reported, and an estimate of the next turn before it is sent.

Money is whole micro-dollars (1 USD = 1,000,000) so sums in SQL are exact. A price per million
tokens is then exactly micro-dollars per token. A reply with no `usageMetadata` has an unknown
cost (None), never zero: it may still have been billed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from core.provider import fields
from core.provider.catalog import Prices

MICRO = 1_000_000
# Rough tokens per character of prompt text, for estimates only (English averages about 4).
CHARS_PER_TOKEN = 4
ANSWER_TEXT_TOKENS = 120


@dataclass(frozen=True, kw_only=True)
class Tokens:
    """A call's tokens split by modality, from `usageMetadata`."""

    prompt_text: int = 0
    prompt_image: int = 0
    output_text: int = 0
    output_image: int = 0
    thinking: int = 0

    @property
    def prompt(self) -> int:
        return self.prompt_text + self.prompt_image


@dataclass(frozen=True, kw_only=True)
class Cost:
    tokens: Tokens | None
    # None: the service reported no usage, so nobody can say (it may still have been billed).
    micro: int | None
    # Of `micro`, what re-sending earlier turns cost (their share of the prompt).
    history_micro: int | None = None


def _details(raw: Any, name: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for entry in fields.items(raw, name):
        if isinstance(entry, dict):
            modality = str(entry.get("modality", "")).upper()
            found[modality] = found.get(modality, 0) + fields.count(entry.get("tokenCount"), f"{name}.tokenCount")
    return found


def split_usage(usage: Any, *, images_out: int, expected_image_tokens: int) -> Tokens | None:
    """The tokens of each modality. Without per-modality details the output is split by what
    one image of this size costs, the rest being text. Read tolerantly: a stored answer's
    usageMetadata is what the service sent, whatever its shape."""
    usage = fields.obj(usage, "usageMetadata")
    if not any(k in usage for k in ("promptTokenCount", "candidatesTokenCount", "totalTokenCount")):
        return None
    prompt = fields.count(usage.get("promptTokenCount"), "promptTokenCount")
    prompt_details = _details(usage.get("promptTokensDetails"), "promptTokensDetails")
    prompt_image = min(prompt, prompt_details.get("IMAGE", 0))
    candidates = fields.count(usage.get("candidatesTokenCount"), "candidatesTokenCount")
    output_details = _details(usage.get("candidatesTokensDetails"), "candidatesTokensDetails")
    if output_details:
        output_image = output_details.get("IMAGE", 0)
    else:
        output_image = min(candidates, images_out * expected_image_tokens)
    return Tokens(
        prompt_text=max(0, prompt - prompt_image),
        prompt_image=prompt_image,
        output_text=max(0, candidates - output_image),
        output_image=output_image,
        thinking=fields.count(usage.get("thoughtsTokenCount"), "thoughtsTokenCount"),
    )


def cost_of(
    prices: Prices | None,
    usage: dict[str, Any] | None,
    *,
    images_out: int,
    size: str | None,
    new_tokens: int = 0,
) -> Cost:
    """The cost of one answered call, from its recorded tokens. `new_tokens` is what the new
    message itself is worth in prompt tokens; the rest of the prompt is replayed history."""
    if prices is None:
        return Cost(tokens=None, micro=None)
    tokens = split_usage(usage, images_out=images_out, expected_image_tokens=prices.image_tokens(size))
    if tokens is None:
        return Cost(tokens=None, micro=None)
    prompt = tokens.prompt_text * prices.input_text + tokens.prompt_image * prices.input_image
    if prices.per_image:
        images = images_out * _per_image(prices, size)
    else:
        images = tokens.output_image * prices.output_image
    output = tokens.output_text * prices.output_text + tokens.thinking * prices.thinking + images
    history_tokens = max(0, tokens.prompt - new_tokens)
    history = prompt * history_tokens / tokens.prompt if tokens.prompt else 0.0
    return Cost(tokens=tokens, micro=round(prompt + output), history_micro=round(history))


def _per_image(prices: Prices, size: str | None) -> float:
    """Micro-dollars for one output image, where the provider prices images by the piece."""
    return prices.per_image.get(size or "default", prices.per_image.get("default", 0.0)) * MICRO


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def new_input_tokens(prices: Prices | None, text: str, images: int) -> int:
    return text_tokens(text) + images * (prices.input_image_tokens if prices else 560)


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """What the next turn should cost, before it is sent (micro-dollars)."""

    history_micro: int
    new_micro: int
    output_micro: int
    known: bool = True

    @property
    def micro(self) -> int:
        return self.history_micro + self.new_micro + self.output_micro

    @property
    def history_dominates(self) -> bool:
        return self.history_micro > self.new_micro + self.output_micro


def estimate(
    prices: Prices | None,
    *,
    history_tokens: int,
    text: str,
    images: int,
    size: str | None,
    thinking_tokens: int = 0,
    image_only: bool = False,
) -> Estimate:
    if prices is None:
        return Estimate(history_micro=0, new_micro=0, output_micro=0, known=False)
    new = text_tokens(text) * prices.input_text + images * prices.input_image_tokens * prices.input_image
    if prices.per_image:
        image = _per_image(prices, size)
    else:
        image = prices.image_tokens(size) * prices.output_image
    words = 0 if image_only else ANSWER_TEXT_TOKENS
    output = image + words * prices.output_text + thinking_tokens * prices.thinking
    return Estimate(
        history_micro=round(history_tokens * prices.input_text), new_micro=round(new), output_micro=round(output)
    )


def dollars(micro: int | None, *, unknown: str = "unknown") -> str:
    """$0.134 / $12.40 / <$0.001: as a person reads money."""
    if micro is None:
        return unknown
    usd = micro / MICRO
    if usd == 0:
        return "$0.00"
    if usd < 0.001:
        return "<$0.001"
    if usd < 1:
        return f"${usd:.3f}"
    return f"${usd:,.2f}"
