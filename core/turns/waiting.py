"""Messages typed ahead: sent from a tab while that tab's own turn is being made, a message
waits in the database (in order) and goes when that turn lands, editing the answer it made.

The queue lives in `waiting_messages`, so it survives a restart, and is run by whichever process
holds the turn before it (right after that turn lands), or, should that process die in between,
by any process's heartbeat. A waiting message reserves nothing: the limits, the ledger and the
estimate count it when it goes. If the turn before it does not land (failed, cancelled,
interrupted), it stays, says why, and waits for the person: send it against the current
version, or remove it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.storage.database import Database
from core.storage.schema import TurnRow, WaitingRow, utcnow
from core.storage.store import IN_FLIGHT, touch
from core.values import TurnStatus, WaitingMessage

HELD = {
    TurnStatus.FAILED.value: "The turn before it failed, so this message did not go.",
    TurnStatus.CANCELLED.value: "The turn before it was cancelled, so this message did not go.",
    TurnStatus.INTERRUPTED.value: "The turn before it was interrupted, so this message did not go.",
    TurnStatus.REPLACED.value: "The turn before it was sent again, so this message did not go.",
}
GONE = "The turn before it was removed, so this message did not go."


class AlreadyGone(InvalidInput):
    """The waiting message was sent or removed meanwhile (by another tab or process)."""


class WaitingQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def of(self, conversation_id: str) -> list[WaitingMessage]:
        """The conversation's waiting messages in order, each saying whether it waits or why not."""
        now = utcnow()
        with self.db.read() as db:
            rows = list(
                db.scalars(
                    select(WaitingRow).where(WaitingRow.conversation_id == conversation_id).order_by(WaitingRow.id)
                )
            )
            after = {r.after_turn_id for r in rows if r.after_turn_id is not None}
            states = {
                t.id: (t.status, t.lease_until)
                for t in db.execute(
                    select(TurnRow.id, TurnRow.status, TurnRow.lease_until).where(TurnRow.id.in_(after))
                )
            }
        return [_value(row, _held(states.get(row.after_turn_id) if row.after_turn_id else None, now)) for row in rows]

    def get(self, waiting_id: int) -> WaitingMessage:
        with self.db.read() as db:
            row = db.get(WaitingRow, waiting_id)
            if row is None:
                raise AlreadyGone("That message has already gone (or was removed). The chat now shows it.")
            return _value(row, None)

    def first_after(self, turn_id: int) -> WaitingMessage | None:
        with self.db.read() as db:
            row = db.scalar(select(WaitingRow).where(WaitingRow.after_turn_id == turn_id).order_by(WaitingRow.id))
            return _value(row, None) if row is not None else None

    def edit(self, waiting_id: int, text: str) -> None:
        """Change the words of a message that has not gone yet."""
        with self.db.write() as db:
            conversation_id = db.scalar(select(WaitingRow.conversation_id).where(WaitingRow.id == waiting_id))
            if conversation_id is None:
                raise AlreadyGone("That message has already gone, so it can no longer be edited. The chat shows it.")
            touch(db, conversation_id)
            db.execute(update(WaitingRow).where(WaitingRow.id == waiting_id).values(text=text))

    def remove(self, waiting_id: int) -> bool:
        with self.db.write() as db:
            conversation_id = db.scalar(select(WaitingRow.conversation_id).where(WaitingRow.id == waiting_id))
            if conversation_id is None:
                return False
            touch(db, conversation_id)
            return bool(db.execute(delete(WaitingRow).where(WaitingRow.id == waiting_id)).rowcount)  # type: ignore[attr-defined]

    def ready(self, older_than: dt.timedelta) -> list[int]:
        """Turns that landed a while ago with a message still waiting for them: their process
        stopped before it sent the message on (any heartbeat sends it then)."""
        with self.db.read() as db:
            return list(
                db.scalars(
                    select(TurnRow.id)
                    .join(WaitingRow, WaitingRow.after_turn_id == TurnRow.id)
                    .where(TurnRow.status == TurnStatus.OK.value, TurnRow.finished_at < utcnow() - older_than)
                    .distinct()
                )
            )


def waiting_for(db: Session, conversation_id: str) -> int | None:
    """Inside a write: the turn a message sent now would wait for, or None if it can go at once.
    A turn of the conversation being made (the newest), or one that landed with messages still
    waiting for it (they go first, in order)."""
    busy = db.scalar(
        select(TurnRow.id)
        .where(
            TurnRow.conversation_id == conversation_id,
            TurnRow.role == "user",
            TurnRow.status.in_(IN_FLIGHT),
            TurnRow.lease_until >= utcnow(),
        )
        .order_by(TurnRow.id.desc())
        .limit(1)
    )
    if busy is not None:
        return int(busy)
    landed = db.scalar(
        select(WaitingRow.after_turn_id)
        .join(TurnRow, TurnRow.id == WaitingRow.after_turn_id)
        .where(WaitingRow.conversation_id == conversation_id, TurnRow.status == TurnStatus.OK.value)
        .limit(1)
    )
    return int(landed) if landed is not None else None


def wait(db: Session, conversation_id: str, after: int, text: str, hashes: list[str], takes: int) -> WaitingMessage:
    row = WaitingRow(
        conversation_id=conversation_id,
        after_turn_id=after,
        text=text,
        image_hashes=hashes,
        takes=takes,
        created_at=utcnow(),
    )
    db.add(row)
    db.flush()
    return _value(row, None)


def claim(db: Session, waiting_id: int) -> int | None:
    """Inside the write that makes its turn: take the waiting message (only one writer can).
    Returns the turn it waited for; the rest of the queue is moved on by `hand_on`."""
    after = db.scalar(select(WaitingRow.after_turn_id).where(WaitingRow.id == waiting_id))
    gone = db.execute(delete(WaitingRow).where(WaitingRow.id == waiting_id)).rowcount  # type: ignore[attr-defined]
    if not gone:
        raise AlreadyGone("That message has already gone (or was removed). The chat now shows it.")
    return after


def hand_on(db: Session, before: int | None, now_after: int) -> None:
    """The messages that waited behind the one that just went now wait for its turn."""
    if before is not None:
        db.execute(update(WaitingRow).where(WaitingRow.after_turn_id == before).values(after_turn_id=now_after))


def _held(state: tuple[str, Any] | None, now: dt.datetime) -> str | None:
    if state is None:
        return GONE
    status, lease_until = state
    if status in IN_FLIGHT:
        return HELD[TurnStatus.INTERRUPTED.value] if lease_until is not None and lease_until < now else None
    return HELD.get(status)


def _value(row: WaitingRow, held: str | None) -> WaitingMessage:
    return WaitingMessage(
        id=row.id,
        conversation_id=row.conversation_id,
        after_turn_id=row.after_turn_id,
        text=row.text,
        image_hashes=list(row.image_hashes or []),
        takes=row.takes,
        created_at=row.created_at,
        held=held,
    )
