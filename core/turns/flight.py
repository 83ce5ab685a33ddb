"""A turn in flight: queued -> running -> ok | failed | cancelled | interrupted.

Every change is a conditional update (`UPDATE ... WHERE id = ... AND status IN (...)`) inside
one transaction: whoever changes a turn must hold it. A queued or running turn carries a lease
(which process, until when) that its process renews; a turn whose lease lapsed is taken by
nobody and becomes interrupted. A process start touches nobody else's turns. Every way a turn
leaves flight closes its ledger row in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.money import ledger
from core.money.ledger import Bill
from core.storage.database import Database
from core.storage.rows import part_rows, turn_value
from core.storage.schema import ConversationRow, TurnRow, utcnow
from core.storage.store import IN_FLIGHT, touch
from core.turns import progress
from core.values import Part, Turn, TurnStatus

INTERRUPTED_MESSAGE = "The studio stopped while this turn was being made. Your words and images are kept; retry it."
# A queued turn was never claimed, so never sent: "stopped while it was being made" would be untrue
# (and send a person looking for an answer or a charge that never existed).
NOT_SENT_MESSAGE = (
    "This message was not sent: the studio stopped before it went. Your words and images are kept; retry it."
)


def interrupted_message(status: TurnStatus) -> str:
    return NOT_SENT_MESSAGE if status == TurnStatus.QUEUED else INTERRUPTED_MESSAGE


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
class Finished:
    request: Turn
    reply: Turn | None
    # False when the turn was cancelled, replaced or lapsed meanwhile: the answer is kept and
    # shown, but never replayed.
    held: bool


class TurnFlight:
    """Claim, heartbeat, sweep, cancel and finish: the verbs of a turn that is being made."""

    def __init__(self, db: Database, lease_s: float = 30.0) -> None:
        self.db = db
        self.lease = dt.timedelta(seconds=lease_s)

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
            now = utcnow()
            gone = [
                turn_id
                for status in (TurnStatus.QUEUED, TurnStatus.RUNNING)
                for turn_id in db.scalars(
                    update(TurnRow)
                    .where(TurnRow.status == status.value, TurnRow.lease_until < now)
                    .values(**closed(TurnStatus.INTERRUPTED, "interrupted", interrupted_message(status)))
                    .returning(TurnRow.id)
                )
            ]
            ledger.ended(db, gone)
            ledger.abandon(db)
            progress.clear(db, gone)
            progress.clear_stray(db)
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
                    **closed(
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
            progress.clear(db, [turn_id])
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
                progress.clear(db, [request_id])
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
        progress.clear(db, [request_id])  # the turn ends here: what it showed while running goes
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
            .values(**closed(status, error_kind, error_message))
        ).rowcount  # type: ignore[attr-defined]
        cost = None
        if bill is not None:
            cost = ledger.close(db, request_id, bill)
        reply = None
        if reply_parts is not None:
            reply = TurnRow(
                conversation_id=request.conversation_id,
                role="model",
                position=next_position(db, request.conversation_id),
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
                .where(ConversationRow.id == request.conversation_id, tip_is(request.parent_id))
                .values(tip_id=reply.id)
            )
        db.refresh(request)
        return Finished(
            request=turn_value(request), reply=turn_value(reply) if reply is not None else None, held=held == 1
        )


def tip_is(tip: int | None) -> Any:
    return ConversationRow.tip_id.is_(None) if tip is None else ConversationRow.tip_id == tip


def closed(status: TurnStatus, kind: str | None, message: str | None) -> dict[str, Any]:
    """The columns of a turn that has ended: nobody holds it any more."""
    return {
        "status": status.value,
        "error_kind": kind,
        "error_message": message,
        "lease_owner": None,
        "lease_until": None,
        "finished_at": utcnow(),
    }


def next_position(db: Session, conversation_id: str) -> int:
    # Safe under concurrency: callers first update the conversation row (touch), which on
    # SQLite sits inside BEGIN IMMEDIATE and on other databases takes that row's lock.
    current = db.scalar(select(func.max(TurnRow.position)).where(TurnRow.conversation_id == conversation_id))
    return 0 if current is None else current + 1
