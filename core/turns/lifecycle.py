"""A turn's life in the database: queued -> running -> ok | failed | cancelled | interrupted.

Every change is a conditional update (`UPDATE ... WHERE id = ... AND status IN (...)`) inside
one transaction: whoever changes a turn must hold it. A queued or running turn carries a lease
(which process, until when) that its process renews; a turn whose lease lapsed is taken by
nobody and becomes interrupted. A process start touches nobody else's turns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.errors import ConversationBusy, InvalidInput, NotFound, StaleConversation
from core.money import ledger
from core.money.ledger import Bill, Charge
from core.money.limits import Limits, admit
from core.storage.database import Database
from core.storage.rows import part_rows, turn_value
from core.storage.schema import ConversationRow, TurnRow, utcnow
from core.storage.store import IN_FLIGHT, touch
from core.turns import waiting
from core.values import GenerationSettings, Part, Seen, Turn, TurnStatus, WaitingMessage

INTERRUPTED_MESSAGE = "The studio stopped while this turn was being made. Your words and images are kept; retry it."
GONE_MESSAGE = "That turn no longer exists (its conversation may have been deleted)."
CANCELLED_MESSAGE = (
    "Cancelled before it was sent: nothing was billed. Your words and images are kept; send them again when you like."
)
# Said at the turn the moment it is cancelled (not later, elsewhere): the call cannot be recalled.
CANCELLED_RUNNING_MESSAGE = (
    "Cancelled. The call had already reached the service and cannot be recalled, so it may still be billed; "
    "if its answer arrives it is kept beside this turn but never sent to the model. Your words and images are "
    "kept; send them again when you like."
)


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


@dataclass(frozen=True, kw_only=True)
class Finished:
    request: Turn
    reply: Turn | None
    # False when the turn was cancelled, replaced or lapsed meanwhile: the answer is kept and
    # shown, but never replayed.
    held: bool


class TurnLife:
    def __init__(self, db: Database, lease_s: float = 30.0, limits: Limits | None = None) -> None:
        self.db = db
        self.lease = dt.timedelta(seconds=lease_s)
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
                .where(ConversationRow.id == turn.conversation_id, _tip_is(tip))
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
            position=_next_position(db, turn.conversation_id),
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

    # Running ------------------------------------------------------------------------------

    def claim(self, turn_id: int, owner: str) -> bool:
        """queued -> running, only by the process whose queue it is in."""
        now = utcnow()
        with self.db.write() as db:
            result = db.execute(
                update(TurnRow)
                .where(TurnRow.id == turn_id, TurnRow.status == TurnStatus.QUEUED.value, TurnRow.lease_owner == owner)
                .values(status=TurnStatus.RUNNING.value, started_at=now, lease_until=now + self.lease)
            )
            claimed = result.rowcount == 1  # type: ignore[attr-defined]
            if claimed:
                ledger.sending(db, turn_id)
            return bool(claimed)

    def renew(self, owner: str, turn_ids: set[int]) -> int:
        """The heartbeat: the queued or running turns this process's workers hold live on. A
        turn queued but never handed to a worker is not renewed, so it lapses like a dead one."""
        if not turn_ids:
            return 0
        with self.db.write() as db:
            result = db.execute(
                update(TurnRow)
                .where(TurnRow.id.in_(turn_ids), TurnRow.lease_owner == owner, TurnRow.status.in_(IN_FLIGHT))
                .values(lease_until=utcnow() + self.lease)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def sweep(self) -> int:
        """Lapsed leases (their process died) become interrupted; live ones are left alone."""
        with self.db.write() as db:
            gone = list(
                db.scalars(
                    update(TurnRow)
                    .where(TurnRow.status.in_(IN_FLIGHT), TurnRow.lease_until < utcnow())
                    .values(**_closed(TurnStatus.INTERRUPTED, "interrupted", INTERRUPTED_MESSAGE))
                    .returning(TurnRow.id)
                )
            )
            ledger.ended(db, gone)
            ledger.abandon(db)
            return len(gone)

    def cancel(self, turn_id: int) -> TurnStatus | None:
        """queued | running -> cancelled. The status it had, or None if it was no longer in flight."""
        with self.db.write() as db:
            was = db.scalar(select(TurnRow.status).where(TurnRow.id == turn_id))
            if was not in IN_FLIGHT:
                return None
            result = db.execute(
                update(TurnRow)
                .where(TurnRow.id == turn_id, TurnRow.status == was)
                .values(
                    **_closed(
                        TurnStatus.CANCELLED,
                        "cancelled",
                        CANCELLED_RUNNING_MESSAGE if was == TurnStatus.RUNNING.value else CANCELLED_MESSAGE,
                    )
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            # Not sent yet: its reservation is released. Sent: the call may still answer (and bill),
            # and its answer records the real cost on this row.
            ledger.ended(db, [turn_id], sent=ledger.CANCELLED)
            return TurnStatus(was)

    def finish(
        self,
        request_id: int,
        owner: str,
        *,
        status: TurnStatus,
        reply_parts: list[Part] | None = None,
        reply_weight: int = 0,
        meta: dict[str, Any] | None = None,
        error_kind: str | None = None,
        error_message: str | None = None,
        bill: Bill | None = None,
    ) -> Finished:
        """running -> ok | failed, with the model turn (if the service answered with content)
        at the next position, in one transaction. If the turn is no longer held by `owner`, its
        status stays as it is and the answer is still kept beside it.

        Safe to run again (a retry after the database went away mid-commit, an answer landed
        from the spool): a turn that already has its answer is left as it is. A turn swept as
        interrupted while its holder could not reach the database (nobody retried it since)
        takes the answer that holder kept: it was never lost, only late."""
        with self.db.write() as db:
            request = db.get(TurnRow, request_id)
            try:
                if request is None:
                    raise NotFound(GONE_MESSAGE)
                touch(db, request.conversation_id)
            except NotFound:
                # Deleted forever while its call was out (it was cancelled first): what the call
                # cost is still recorded, whatever happened to the conversation.
                if bill is not None:
                    ledger.close(db, request_id, bill)
                request = None
            if request is not None:
                return self._finish_held(
                    db,
                    request,
                    owner,
                    status=status,
                    reply_parts=reply_parts,
                    reply_weight=reply_weight,
                    meta=meta,
                    error_kind=error_kind,
                    error_message=error_message,
                    bill=bill,
                )
        raise NotFound(GONE_MESSAGE)

    def _finish_held(
        self,
        db: Session,
        request: TurnRow,
        owner: str,
        *,
        status: TurnStatus,
        reply_parts: list[Part] | None,
        reply_weight: int,
        meta: dict[str, Any] | None,
        error_kind: str | None,
        error_message: str | None,
        bill: Bill | None,
    ) -> Finished:
        request_id = request.id
        landed = db.scalar(select(TurnRow).where(TurnRow.reply_to_id == request_id, TurnRow.role == "model"))
        # FAILED is only ever written here (or for a turn never sent): this failure is recorded.
        if landed is not None or (reply_parts is None and request.status == TurnStatus.FAILED.value):
            return Finished(
                request=turn_value(request),
                reply=turn_value(landed) if landed is not None else None,
                held=request.status in (TurnStatus.OK.value, TurnStatus.FAILED.value),
            )
        now = utcnow()
        held = db.execute(
            update(TurnRow)
            .where(
                TurnRow.id == request_id,
                (TurnRow.status == TurnStatus.RUNNING.value) & (TurnRow.lease_owner == owner)
                | (TurnRow.status == TurnStatus.INTERRUPTED.value) & (TurnRow.error_kind == "interrupted"),
            )
            .values(**_closed(status, error_kind, error_message))
        ).rowcount  # type: ignore[attr-defined]
        cost = None
        if bill is not None:
            cost = ledger.close(db, request_id, bill)
        reply = None
        if reply_parts is not None:
            reply = TurnRow(
                conversation_id=request.conversation_id,
                role="model",
                position=_next_position(db, request.conversation_id),
                status=status.value,
                reply_to_id=request.id,
                settings=request.settings,
                parts=part_rows(reply_parts),
                weight=reply_weight,
                error_kind=error_kind,
                error_message=error_message,
                created_at=now,
                finished_at=now,
                cost_micro=cost,
                author=request.author,  # the answer is credited to who asked for it
                **(meta or {}),
            )
            db.add(reply)
        db.flush()
        if reply is not None and status == TurnStatus.OK and held:
            # The new answer becomes the current version, unless the person moved elsewhere
            # meanwhile (another branch chosen, or another take landed first).
            db.execute(
                update(ConversationRow)
                .where(ConversationRow.id == request.conversation_id, _tip_is(request.parent_id))
                .values(tip_id=reply.id)
            )
        db.refresh(request)
        return Finished(
            request=turn_value(request), reply=turn_value(reply) if reply is not None else None, held=held == 1
        )


def _tip_is(tip: int | None) -> Any:
    return ConversationRow.tip_id.is_(None) if tip is None else ConversationRow.tip_id == tip


def _closed(status: TurnStatus, kind: str | None, message: str | None) -> dict[str, Any]:
    """The columns of a turn that has ended: nobody holds it any more."""
    return {
        "status": status.value,
        "error_kind": kind,
        "error_message": message,
        "lease_owner": None,
        "lease_until": None,
        "finished_at": utcnow(),
    }


def _next_position(db: Session, conversation_id: str) -> int:
    # Safe under concurrency: callers first update the conversation row (touch), which on
    # SQLite sits inside BEGIN IMMEDIATE and on other databases takes that row's lock.
    current = db.scalar(select(func.max(TurnRow.position)).where(TurnRow.conversation_id == conversation_id))
    return 0 if current is None else current + 1
