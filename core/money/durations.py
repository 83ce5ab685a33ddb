"""How long a turn usually takes, from the ledger's measured calls: the median and the 90th
percentile of the recent answered calls for one model and size (what "usually 40-70 s at 2K"
says while a turn is being made)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.storage.schema import LedgerRow

RECENT = 50
# Fewer measured calls than this say nothing worth showing.
FEWEST = 3


@dataclass(frozen=True, kw_only=True)
class Typical:
    median_s: float
    p90_s: float
    calls: int


def typical(db: Session, model: str, image_size: str | None) -> Typical | None:
    query = (
        select(LedgerRow.duration_ms)
        .where(LedgerRow.model == model, LedgerRow.outcome == "ok", LedgerRow.duration_ms.is_not(None))
        .order_by(LedgerRow.id.desc())
        .limit(RECENT)
    )
    query = query.where(LedgerRow.image_size.is_(None) if image_size is None else LedgerRow.image_size == image_size)
    found = sorted(int(ms) for ms in db.scalars(query) if ms is not None)
    if len(found) < FEWEST:
        return None
    return Typical(
        median_s=_at(found, 0.5) / 1000,
        p90_s=_at(found, 0.9) / 1000,
        calls=len(found),
    )


def _at(ordered: list[int], share: float) -> float:
    # Linear interpolation between the closest ranks.
    spot = share * (len(ordered) - 1)
    low = int(spot)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (spot - low)


def says(found: Typical | None, image_size: str | None) -> str:
    """The words shown beside the clock: "usually 40–70 s at 2K"."""
    if found is None:
        return ""
    low, high = round(found.median_s), max(round(found.p90_s), round(found.median_s))
    at = f" at {image_size}" if image_size else ""
    span = f"{low} s" if low == high else f"{low}–{high} s"
    return f"usually {span}{at}"
