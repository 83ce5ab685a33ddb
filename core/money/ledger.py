"""The ledger of calls, written inside the transactions that change a turn (core/turns/lifecycle.py):

    queued (estimate held against limits) -> sending -> ok | <error kind>
                                          \\-> not_sent (cancelled, retried or lapsed before it went out)
                                   sending -> cancelled | interrupted (may be billed: its answer, if it
                                              still comes, records its real cost on this row)

A row is open (queued, sending) exactly while its turn is in flight: every way a turn leaves
flight closes its row in the same transaction. Each retried HTTP attempt is a row of its own.
What counts against a limit is a row's cost when known, else its estimate while it may be billed
(reserved, sent, timed out), else nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.orm import Session

from core.money.prices import Cost
from core.provider.client import Attempt
from core.storage.schema import LedgerRow, TurnRow, utcnow
from core.storage.store import IN_FLIGHT

QUEUED, SENDING, NOT_SENT, INTERRUPTED, RETRIED, CANCELLED = (
    "queued",
    "sending",
    "not_sent",
    "interrupted",
    "retried",
    "cancelled",
)
OPEN = (QUEUED, SENDING)


@dataclass(frozen=True, kw_only=True)
class Charge:
    """Whose a queued turn is and what it should cost: written with the turn, checked by limits."""

    person: str
    model: str
    image_size: str | None
    estimate_micro: int
    offline: bool = False


@dataclass(frozen=True, kw_only=True)
class Bill:
    """What a finished call cost, for the ledger: its attempts, tokens and cost."""

    attempts: list[Attempt]
    cost: Cost | None
    # The turn's outcome as the person sees it: "ok", or the kind of error it ended with.
    outcome: str
    history_bytes: int | None = None
    new_bytes: int | None = None


# Estimates ran up to 1.2% short of real costs (the answer's thinking and text vary): spend caps
# count estimates with this margin, so turns admitted together do not land over a cap.
ESTIMATE_MARGIN_PCT = 5


def with_margin(micro: int, margin_pct: int) -> int:
    """An estimate with a margin, rounded up (as counted() does in SQL)."""
    return micro + (micro * margin_pct + 99) // 100


def counted(margin_pct: int = 0) -> ColumnElement[int]:
    """What a row counts against a limit (micro-dollars): its cost when known, else its estimate
    (plus `margin_pct`, rounded up) while it may be billed."""
    raw = LedgerRow.estimate_micro
    # Integers: floor division in SQL, so this is the estimate plus its margin rounded up.
    estimate = raw + (raw * margin_pct + 99) // 100 if margin_pct else raw
    return func.coalesce(LedgerRow.cost_micro, case((LedgerRow.may_be_billed.is_(True), estimate), else_=0))


def reserve(db: Session, charge: Charge, *, conversation_id: str, turn_id: int) -> None:
    db.add(
        LedgerRow(
            at=utcnow(),
            person=charge.person,
            conversation_id=conversation_id,
            turn_id=turn_id,
            model=charge.model,
            image_size=charge.image_size,
            attempt=0,
            outcome=QUEUED,
            # The offline demo model is never billed: it holds nothing against a limit.
            may_be_billed=not charge.offline,
            estimate_micro=0 if charge.offline else charge.estimate_micro,
            offline=charge.offline,
        )
    )


def sending(db: Session, turn_id: int) -> None:
    db.execute(
        update(LedgerRow).where(LedgerRow.turn_id == turn_id, LedgerRow.outcome == QUEUED).values(outcome=SENDING)
    )


def ended(db: Session, turn_ids: list[int], *, sent: str = INTERRUPTED) -> None:
    """Turns that left flight without an answer (cancelled, replaced by Retry or Resend, their
    process died): what never went out is released; what went out may have been billed and is
    closed as `sent`. If its answer still comes, `close` records the real cost on the same row."""
    if not turn_ids:
        return
    db.execute(
        update(LedgerRow)
        .where(LedgerRow.turn_id.in_(turn_ids), LedgerRow.outcome == QUEUED)
        .values(outcome=NOT_SENT, may_be_billed=False)
    )
    db.execute(
        update(LedgerRow).where(LedgerRow.turn_id.in_(turn_ids), LedgerRow.outcome == SENDING).values(outcome=sent)
    )


def abandon(db: Session) -> int:
    """Open rows whose turn is no longer in flight (left open by a studio from before every exit
    closed its row, or whose turn is gone): closed now, as their turn would have."""
    in_flight = select(TurnRow.id).where(TurnRow.status.in_(IN_FLIGHT))
    stray = LedgerRow.turn_id.not_in(in_flight)
    released = db.execute(
        update(LedgerRow).where(LedgerRow.outcome == QUEUED, stray).values(outcome=NOT_SENT, may_be_billed=False)
    )
    closed = db.execute(update(LedgerRow).where(LedgerRow.outcome == SENDING, stray).values(outcome=INTERRUPTED))
    return int(released.rowcount) + int(closed.rowcount)  # type: ignore[attr-defined]


def close(db: Session, turn_id: int, bill: Bill) -> int | None:
    """Record how the call went, on the turn's reserved row (still open, or closed as cancelled
    or interrupted when the turn left flight first: the answer brings the real cost all the
    same); each retried attempt gets its own row. The cost it adds (micro-dollars, None when
    unknown)."""
    row = db.scalar(
        select(LedgerRow)
        .where(LedgerRow.turn_id == turn_id, LedgerRow.outcome != RETRIED)
        .order_by(LedgerRow.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    final = bill.attempts[-1] if bill.attempts else None
    for number, attempt in enumerate(bill.attempts[:-1], start=1):
        db.add(
            LedgerRow(
                at=row.at,
                person=row.person,
                conversation_id=row.conversation_id,
                turn_id=turn_id,
                model=row.model,
                image_size=row.image_size,
                attempt=number,
                outcome=RETRIED,
                http_status=attempt.http_status,
                duration_ms=attempt.duration_ms,
                may_be_billed=attempt.may_be_billed and not row.offline,
                estimate_micro=0,
                offline=row.offline,
            )
        )
    cost = bill.cost
    tokens = cost.tokens if cost else None
    row.attempt = len(bill.attempts)
    row.outcome = (CANCELLED if row.outcome == CANCELLED else bill.outcome) if final else NOT_SENT
    row.http_status = final.http_status if final else None
    row.duration_ms = final.duration_ms if final else None
    row.may_be_billed = bool(final and final.may_be_billed) and not row.offline
    row.cost_micro = cost.micro if cost else None
    row.history_micro = cost.history_micro if cost else None
    if row.offline:  # the offline demo model: never billed, so it costs nothing, tokens or not
        row.cost_micro = row.history_micro = row.estimate_micro = 0
    row.history_bytes, row.new_bytes = bill.history_bytes, bill.new_bytes
    if tokens is not None:
        row.prompt_text_tokens = tokens.prompt_text
        row.prompt_image_tokens = tokens.prompt_image
        row.output_text_tokens = tokens.output_text
        row.output_image_tokens = tokens.output_image
        row.thinking_tokens = tokens.thinking
    return row.cost_micro


def conversation_total(db: Session, conversation_id: str) -> tuple[int, int]:
    """(known cost, estimate of calls that may be billed at an unknown cost), micro-dollars."""
    known = func.coalesce(func.sum(LedgerRow.cost_micro), 0)
    unknown = func.coalesce(
        func.sum(
            case(
                (LedgerRow.cost_micro.is_(None) & LedgerRow.may_be_billed.is_(True), LedgerRow.estimate_micro),
                else_=0,
            )
        ),
        0,
    )
    found = db.execute(select(known, unknown).where(LedgerRow.conversation_id == conversation_id)).one()
    return int(found[0]), int(found[1])
