"""A public demo's limits on visitors: per network address (what a visitor spends in a day and the
turns they send a minute, all visitors from one address together) and per visitor (how many
conversations and how many bytes they keep; a copy counts as much as what it copies).

A visitor is a person with a row in `visitors` (core/team/addresses.py writes it on arrival, with
the address they came from); signed-in staff have none, and none of this applies to them. Checked
in the transaction that queues a turn, after the person's own limits (core/money/limits.py), under
a lock on the address, so a burst from many made-up visitors at one address cannot slip past.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from core.money.ledger import ESTIMATE_MARGIN_PCT, RETRIED, Charge, counted, with_margin
from core.money.periods import Refusal, day_start, lock, next_day
from core.money.prices import dollars
from core.storage.schema import ConversationRow, ImageRow, LedgerRow, PartRow, TurnRow, VisitorRow

if TYPE_CHECKING:
    from core.money.limits import Limits

MB = 1024 * 1024


def address_of(db: Session, person: str) -> str | None:
    return db.scalar(select(VisitorRow.address).where(VisitorRow.person == person))


def lock_address(db: Session, person: str) -> None:
    address = address_of(db, person)
    if address is not None:
        lock(db, f"address:{address}")


def stored_bytes(db: Session, person: str) -> int:
    """What this person's conversations keep: each image once per conversation that holds it
    (so a copy counts again), with the full-size original of an upload sent smaller."""
    held = (
        select(TurnRow.conversation_id, PartRow.image_hash)
        .join(TurnRow, TurnRow.id == PartRow.turn_id)
        .join(ConversationRow, ConversationRow.id == TurnRow.conversation_id)
        .where(ConversationRow.owner == person, PartRow.image_hash.is_not(None))
        .distinct()
        .subquery()
    )
    original = aliased(ImageRow)
    total = db.scalar(
        select(func.coalesce(func.sum(ImageRow.size_bytes + func.coalesce(original.size_bytes, 0)), 0))
        .select_from(held)
        .join(ImageRow, ImageRow.hash == held.c.image_hash)
        .outerjoin(original, original.hash == ImageRow.original_hash)
    )
    return int(total or 0)


def conversation_count(db: Session, person: str) -> int:
    """Every conversation the person keeps, the trash included (it is stored until purged)."""
    return int(db.scalar(select(func.count()).where(ConversationRow.owner == person)) or 0)


def conversation_refusal(db: Session, limits: Limits, person: str, stored_more: int = 0) -> str | None:
    """Why this visitor may not have one more conversation now (a new one, a copy), or None.
    `stored_more`: the bytes the new one brings (a copy's images)."""
    if person in limits.exempt or address_of(db, person) is None:
        return None
    if limits.visitor_conversations is not None and conversation_count(db, person) >= limits.visitor_conversations:
        return (
            f"You keep {limits.visitor_conversations} conversations, the most a visitor may keep here. "
            "Delete one for good (Conversations, Trash) to start another."
        )
    if limits.visitor_stored_bytes is not None:
        stored = stored_bytes(db, person)
        if stored + stored_more > limits.visitor_stored_bytes:
            return _storage_message(stored, limits.visitor_stored_bytes)
    return None


def _storage_message(stored: int, cap: int) -> str:
    return (
        f"Not sent: your conversations keep {stored / MB:.1f} MB of images, and a visitor may keep "
        f"{cap / MB:g} MB here. Delete some for good (Conversations, Trash); your words and images are kept."
    )


def copy_bytes(db: Session, conversation_id: str) -> int:
    """The bytes a copy of this conversation would keep (each image once, with its original)."""
    hashes = (
        select(PartRow.image_hash)
        .join(TurnRow, TurnRow.id == PartRow.turn_id)
        .where(TurnRow.conversation_id == conversation_id, PartRow.image_hash.is_not(None))
        .distinct()
        .subquery()
    )
    original = aliased(ImageRow)
    total = db.scalar(
        select(func.coalesce(func.sum(ImageRow.size_bytes + func.coalesce(original.size_bytes, 0)), 0))
        .select_from(hashes)
        .join(ImageRow, ImageRow.hash == hashes.c.image_hash)
        .outerjoin(original, original.hash == ImageRow.original_hash)
    )
    return int(total or 0)


def visitor_refusal(db: Session, limits: Limits, charge: Charge, takes: int, now: dt.datetime) -> Refusal | None:
    """The first visitor limit that `takes` more turns would break, or None (or not a visitor)."""
    if not limits.visitors_counted:
        return None
    address = address_of(db, charge.person)
    if address is None:
        return None
    if limits.visitor_stored_bytes is not None:
        stored = stored_bytes(db, charge.person)
        if stored >= limits.visitor_stored_bytes:
            return Refusal(
                name="what a visitor may keep", message=_storage_message(stored, limits.visitor_stored_bytes)
            )
    neighbours = select(VisitorRow.person).where(VisitorRow.address == address)
    if limits.address_day_micro is not None:
        since = day_start(now, limits.zone)
        spent = int(
            db.scalar(
                select(func.coalesce(func.sum(counted(ESTIMATE_MARGIN_PCT)), 0)).where(
                    LedgerRow.at >= since, LedgerRow.person.in_(neighbours)
                )
            )
            or 0
        )
        cost = with_margin(charge.estimate_micro, ESTIMATE_MARGIN_PCT) * takes  # as the spend caps
        if spent + cost > limits.address_day_micro:
            resets = next_day(now, limits.zone)
            minutes = max(1, int((resets - now).total_seconds() // 60))
            return Refusal(
                name="what your network may spend in a day",
                message=(
                    f"Not sent: visitors from your network have used today's share of this demo "
                    f"({dollars(limits.address_day_micro)} a day, {dollars(max(0, limits.address_day_micro - spent))} "
                    f"left). It resets in {minutes // 60} h {minutes % 60} min. Your words and images are kept."
                ),
            )
    if limits.address_turns_per_minute is not None:
        recent = int(
            db.scalar(
                select(func.count()).where(
                    LedgerRow.person.in_(neighbours),
                    LedgerRow.at >= now - dt.timedelta(minutes=1),
                    LedgerRow.outcome != RETRIED,
                )
            )
            or 0
        )
        if recent + takes > limits.address_turns_per_minute:
            return Refusal(
                name=f"the {limits.address_turns_per_minute} turns your network may send a minute",
                message=(
                    f"Not sent: visitors from your network may send {limits.address_turns_per_minute} turns a "
                    f"minute together, and {max(0, limits.address_turns_per_minute - recent)} are left. Send again "
                    "in a minute; your words and images are kept."
                ),
            )
    return None
