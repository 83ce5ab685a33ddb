"""Adding a user turn: written in one transaction with the conversation's lock, checked against
what the tab saw and the limits, reserved in the ledger; retries replace, branches move the tip.

The turn's life once written (claim, heartbeat, sweep, cancel, finish) is `core.turns.flight`;
`TurnLife` is both, the one object the turn service and the runner hold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.errors import ConversationBusy, InvalidInput, NotFound, StaleConversation
from core.money import ledger
from core.money.ledger import Charge
from core.money.limits import Limits, admit
from core.storage.database import Database
from core.storage.rows import part_rows, turn_value
from core.storage.schema import ConversationRow, TurnRow, utcnow
from core.storage.store import IN_FLIGHT, touch
from core.turns import waiting
from core.turns.flight import (
    CANCELLED_MESSAGE,
    CANCELLED_RUNNING_MESSAGE,
    GONE_MESSAGE,
    INTERRUPTED_MESSAGE,
    Finished,
    TurnFlight,
    next_position,
    tip_is,
)
from core.values import GenerationSettings, Part, Seen, Turn, TurnStatus, WaitingMessage

# Importable from here as before the split.
__all__ = [
    "CANCELLED_MESSAGE",
    "CANCELLED_RUNNING_MESSAGE",
    "GONE_MESSAGE",
    "INTERRUPTED_MESSAGE",
    "Finished",
    "NewTurn",
    "TurnFlight",
    "TurnLife",
]


@dataclass(frozen=True, kw_only=True)
class NewTurn:
    """A user turn to write: its parts, settings and weight, and how it starts its life."""

    conversation_id: str
    parts: list[Part]
    settings: GenerationSettings
    weight: int
    status: TurnStatus = TurnStatus.QUEUED
    lease_owner: str | None = None
    title: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    # Whose it is and what it should cost: checked against the limits, reserved in the ledger.
    charge: Charge | None = None
    # The answer it edits (None: from the start); it becomes the current version as it is sent.
    parent_id: int | None = None
    # True: it edits the current version, read in its own write transaction after the row lock
    # (the caller's `parent_id` is only what it read before). False: it edits `parent_id` itself
    # (another take of an older answer, a sibling branch).
    edits_tip: bool = True
    # Who makes it (a person's key); the conversation's owner when not given.
    author: str | None = None
    marks: list[dict[str, Any]] | None = None


class TurnLife(TurnFlight):
    """Adding turns; with `TurnFlight`'s verbs for the turns in flight."""

    def __init__(self, db: Database, lease_s: float = 30.0, limits: Limits | None = None) -> None:
        super().__init__(db, lease_s)
        self.limits = limits or Limits()

    # Writing a user turn ------------------------------------------------------------------

    def add(
        self,
        turn: NewTurn,
        *,
        seen: Seen | int | bool | None = False,
        replace: list[int] | None = None,
        claim: int | None = None,
    ) -> Turn:
        return self.add_takes(turn, seen=seen, replace=replace, claim=claim)[0]

    def add_takes(
        self,
        turn: NewTurn,
        *,
        seen: Seen | int | bool | None = False,
        replace: list[int] | None = None,
        takes: int = 1,
        claim: int | None = None,
        busy_ok: bool = False,
    ) -> list[Turn]:
        """Write a user turn in one transaction: the conversation takes its settings (and title).
        With `seen` (what the tab showed: a `Seen`, or just the newest turn id) nothing is
        written if another turn arrived since or the current version moved. `replace` turns
        become replaced (a retry or redo), each only if it still is what the caller saw. `takes`
        > 1 writes that many requests at once with the same parent (variations). `claim`: the
        waiting message (typed ahead) this turn is made from, taken in the same transaction; the
        rest of its queue moves on. `busy_ok`: a typed-ahead message going as the turn before it
        lands (takes beside that turn may still be running).

        The current version only moves forward: it is read here, after the conversation row's
        lock, and only a turn that is sent changes it. A refused, failed or *Not sent* turn
        never does (it once wrote back a tip read before an answer landed, and the next turn
        edited the older image)."""
        with self.db.write() as db:
            return self._write(db, turn, seen=seen, replace=replace, takes=takes, claim=claim, busy_ok=busy_ok)

    def add_or_wait(
        self, turn: NewTurn, *, seen: Seen | int | bool | None, takes: int, text: str, hashes: list[str]
    ) -> list[Turn] | WaitingMessage:
        """A message from the chat input: written as a turn if the conversation is free, else kept
        waiting (typed ahead) behind the turn being made, in the same transaction that looked.
        Turns that went from this tab's queue, and answers to turns it saw, do not make it stale."""
        with self.db.write() as db:
            touch(db, turn.conversation_id)  # first: the conversation's lock, then look
            self._check_seen(db, turn.conversation_id, seen, lenient=True)
            after = waiting.waiting_for(db, turn.conversation_id)
            if after is not None:
                return waiting.wait(db, turn.conversation_id, after, text, hashes, takes)
            return self._write(db, turn, seen=False, replace=None, takes=takes, claim=None, busy_ok=False)

    def _check_seen(
        self, db: Session, conversation_id: str, seen: Seen | int | bool | None, *, lenient: bool = False
    ) -> None:
        if seen is False:
            return
        tip = db.scalar(select(ConversationRow.tip_id).where(ConversationRow.id == conversation_id))
        shown_newest = seen.newest if isinstance(seen, Seen) else seen
        if lenient:
            # Typing ahead: the tab's own turns going from its queue, and answers to turns it saw
            # being made, are what it expects; anything else is someone else's change.
            newer = db.execute(
                select(TurnRow.id, TurnRow.role, TurnRow.reply_to_id, TurnRow.typed_ahead).where(
                    TurnRow.conversation_id == conversation_id, TurnRow.id > (shown_newest or 0)
                )
            ).all()
            ahead = {r.id for r in newer if r.role == "user" and r.typed_ahead}
            answers = {
                r.id
                for r in newer
                if r.role == "model" and (r.reply_to_id <= (shown_newest or 0) or r.reply_to_id in ahead)
            }
            stale = any(r.id not in ahead and r.id not in answers for r in newer)
            moved = isinstance(seen, Seen) and seen.tip != tip and tip not in answers
        else:
            newest = db.scalar(select(func.max(TurnRow.id)).where(TurnRow.conversation_id == conversation_id))
            stale = newest != shown_newest
            moved = isinstance(seen, Seen) and seen.tip != tip
        if stale:
            raise StaleConversation(
                "Not sent: this conversation changed since you looked (a new turn arrived, from another "
                "tab or person). Look at it first; your words and images are kept below."
            )
        if moved:
            raise StaleConversation(
                "Not sent: the current version changed since you looked (Use this one or Branch from "
                "here, in another tab or by another person). Look at it first; your words and images "
                "are kept below."
            )

    def _write(
        self,
        db: Session,
        turn: NewTurn,
        *,
        seen: Seen | int | bool | None,
        replace: list[int] | None,
        takes: int,
        claim: int | None,
        busy_ok: bool,
    ) -> list[Turn]:
        values: dict[str, Any] = {"settings": turn.settings.to_dict()}
        if turn.title:
            values["title"] = turn.title[:200]
        touch(db, turn.conversation_id, **values)  # the row lock: writers queue here
        head = db.execute(
            select(ConversationRow.tip_id, ConversationRow.owner).where(ConversationRow.id == turn.conversation_id)
        ).one()
        tip = head.tip_id
        self._check_seen(db, turn.conversation_id, seen)
        parent = tip if turn.edits_tip else turn.parent_id
        # Only the owner sends in a conversation: what is written now is theirs.
        turn = dataclasses.replace(turn, parent_id=parent, author=turn.author or head.owner)
        if turn.status.in_flight:
            if not busy_ok:
                self._refuse_if_busy(db, turn.conversation_id)
            # Sent: the version it edits becomes current, only where the tip still is what
            # was read under the lock.
            moved = db.execute(
                update(ConversationRow)
                .where(ConversationRow.id == turn.conversation_id, tip_is(tip))
                .values(tip_id=parent)
            ).rowcount  # type: ignore[attr-defined]
            if moved != 1:
                raise StaleConversation("Not sent: the current version changed as you sent. Look at it first.")
        before = waiting.claim(db, claim) if claim is not None else None
        for turn_id in replace or []:
            self._replace(db, turn_id)
        sends = turn.charge is not None and turn.status.in_flight
        written: list[Turn] = []
        if sends and turn.charge is not None:
            # In this transaction, all takes together: a burst cannot slip past, and a batch the
            # limits cannot take whole is refused saying how many could go.
            admit(db, self.limits, turn.charge, takes=max(1, takes))
        for _ in range(max(1, takes)):
            row = self._row(db, turn, typed_ahead=claim is not None)
            if sends and turn.charge is not None:
                ledger.reserve(db, turn.charge, conversation_id=turn.conversation_id, turn_id=row.id)
            written.append(turn_value(row))
        if claim is not None:
            waiting.hand_on(db, before, written[-1].id)
        return written

    def _row(self, db: Session, turn: NewTurn, *, typed_ahead: bool = False) -> TurnRow:
        now = utcnow()
        row = TurnRow(
            conversation_id=turn.conversation_id,
            role="user",
            position=next_position(db, turn.conversation_id),
            status=turn.status.value,
            settings=turn.settings.to_dict(),
            parts=part_rows(turn.parts),
            weight=turn.weight,
            lease_owner=turn.lease_owner if turn.status.in_flight else None,
            lease_until=now + self.lease if turn.status.in_flight else None,
            error_kind=turn.error_kind,
            error_message=turn.error_message,
            finished_at=None if turn.status.in_flight else now,
            created_at=now,
            parent_id=turn.parent_id,
            marks=turn.marks,
            author=turn.author,
            typed_ahead=typed_ahead or None,
        )
        db.add(row)
        db.flush()
        return row

    def _refuse_if_busy(self, db: Session, conversation_id: str) -> None:
        # One turn at a time per conversation: the next one must edit the result of this one.
        busy = db.scalar(
            select(func.count()).where(
                TurnRow.conversation_id == conversation_id,
                TurnRow.role == "user",
                TurnRow.status.in_(IN_FLIGHT),
                TurnRow.lease_until >= utcnow(),
            )
        )
        if busy:
            raise ConversationBusy(
                "Not sent: a turn is still being made in this conversation. Wait for its result (or cancel it), "
                "then send this; your words and images are kept below."
            )

    def _replace(self, db: Session, turn_id: int) -> None:
        row = db.execute(select(TurnRow.role, TurnRow.status, TurnRow.lease_until).where(TurnRow.id == turn_id)).first()
        if row is None:
            raise NotFound("That turn no longer exists.")
        now = utcnow()
        if row.role == "model":
            allowed = row.status == TurnStatus.OK.value
        else:
            lapsed = row.status in IN_FLIGHT and row.lease_until is not None and row.lease_until < now
            allowed = lapsed or TurnStatus(row.status).retryable or row.status == TurnStatus.OK.value
        refused = InvalidInput("That turn was already retried, or is still being made. The page now shows it.")
        if not allowed:
            raise refused
        done = db.execute(
            update(TurnRow)
            .where(TurnRow.id == turn_id, TurnRow.status == row.status)
            .values(status=TurnStatus.REPLACED.value, lease_owner=None, lease_until=None)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise refused
        if row.status in IN_FLIGHT:
            # A lapsed turn retried or resent leaves flight here: its reservation goes with it.
            ledger.ended(db, [turn_id])

    def branch(self, reply_id: int) -> int:
        """Make this answer the current version (Branch from here, Use this one): the next
        message edits it. Only an answer that is part of a replayable exchange."""
        with self.db.write() as db:
            reply = db.execute(
                select(TurnRow.conversation_id, TurnRow.status, TurnRow.reply_to_id).where(
                    TurnRow.id == reply_id, TurnRow.role == "model"
                )
            ).first()
            request_ok = reply is not None and db.scalar(
                select(func.count()).where(TurnRow.id == reply.reply_to_id, TurnRow.status == TurnStatus.OK.value)
            )
            if reply is None or reply.status != TurnStatus.OK.value or not request_ok:
                raise InvalidInput("Only a result can become the current version.")
            touch(db, reply.conversation_id, tip_id=reply_id)
            return reply_id

    def remove(self, turn_id: int) -> bool:
        """Delete a user turn that never became part of the conversation (failed, cancelled,
        interrupted or retried), with whatever reply it got; a replayed turn is never removed."""
        removable = (*(s.value for s in TurnStatus if s.retryable), TurnStatus.REPLACED.value)
        with self.db.write() as db:
            conversation_id = db.scalar(select(TurnRow.conversation_id).where(TurnRow.id == turn_id))
            if conversation_id is None:
                return False
            touch(db, conversation_id)
            gone = db.execute(
                delete(TurnRow).where(TurnRow.id == turn_id, TurnRow.role == "user", TurnRow.status.in_(removable))
            ).rowcount  # type: ignore[attr-defined]
            if gone:
                db.execute(delete(TurnRow).where(TurnRow.reply_to_id == turn_id))
            return bool(gone)
