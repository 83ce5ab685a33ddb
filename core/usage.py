"""Who spent what: the ledger aggregated in SQL (indexed by time and person) for the Usage
page, and every row for a CSV export. A person sees their own; admins see everyone's."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from core.ledger import OPEN, RETRIED
from core.schema import ConversationRow, LedgerRow


@dataclass(frozen=True, kw_only=True)
class Spend:
    key: str
    micro: int
    calls: int
    label: str = ""


@dataclass(frozen=True, kw_only=True)
class DaySpend:
    day: dt.date
    model: str
    micro: int


@dataclass(frozen=True, kw_only=True)
class UsageReport:
    known_micro: int = 0
    # Calls that may have been billed at a cost nobody knows (timeouts, 504s, no usage): at estimate.
    unknown_micro: int = 0
    unknown_calls: int = 0
    in_flight_micro: int = 0
    history_micro: int = 0
    calls: int = 0
    retried: int = 0
    by_day: list[DaySpend] = field(default_factory=list)
    by_person: list[Spend] = field(default_factory=list)
    by_model: list[Spend] = field(default_factory=list)
    top_conversations: list[Spend] = field(default_factory=list)

    @property
    def history_share(self) -> float:
        return self.history_micro / self.known_micro if self.known_micro else 0.0


def _scope(since: dt.datetime, until: dt.datetime | None, person: str | None) -> list[ColumnElement[bool]]:
    where = [LedgerRow.at >= since]
    if until is not None:
        where.append(LedgerRow.at < until)
    if person is not None:
        where.append(LedgerRow.person == person)
    return where


def _sent() -> ColumnElement[bool]:
    return LedgerRow.attempt > 0


def report(
    db: Session, *, since: dt.datetime, until: dt.datetime | None = None, person: str | None = None, top: int = 10
) -> UsageReport:
    where = _scope(since, until, person)
    known = func.coalesce(func.sum(LedgerRow.cost_micro), 0)
    unknown_case = LedgerRow.cost_micro.is_(None) & LedgerRow.may_be_billed.is_(True) & LedgerRow.outcome.not_in(OPEN)
    totals = db.execute(
        select(
            known,
            func.coalesce(func.sum(case((unknown_case, LedgerRow.estimate_micro), else_=0)), 0),
            func.coalesce(func.sum(case((unknown_case, 1), else_=0)), 0),
            func.coalesce(func.sum(case((LedgerRow.outcome.in_(OPEN), LedgerRow.estimate_micro), else_=0)), 0),
            func.coalesce(func.sum(LedgerRow.history_micro), 0),
            func.coalesce(func.sum(case((_sent(), 1), else_=0)), 0),
            func.coalesce(func.sum(case((LedgerRow.outcome == RETRIED, 1), else_=0)), 0),
        ).where(*where)
    ).one()
    day = func.date(LedgerRow.at)
    by_day = [
        DaySpend(day=_as_date(d), model=m, micro=int(v))
        for d, m, v in db.execute(
            select(day, LedgerRow.model, known).where(*where).group_by(day, LedgerRow.model).order_by(day)
        )
    ]
    calls = func.sum(case((_sent(), 1), else_=0))

    def grouped(column: Any) -> list[Spend]:
        rows = db.execute(select(column, known, calls).where(*where).group_by(column).order_by(known.desc()).limit(50))
        return [Spend(key=k, micro=int(v), calls=int(c or 0)) for k, v, c in rows]

    spent = func.sum(LedgerRow.cost_micro)
    conversations = db.execute(
        select(LedgerRow.conversation_id, func.max(LedgerRow.person), func.coalesce(spent, 0), calls)
        .where(*where)
        .group_by(LedgerRow.conversation_id)
        .order_by(func.coalesce(spent, 0).desc())
        .limit(top)
    ).all()
    titles = dict(
        db.execute(
            select(ConversationRow.id, ConversationRow.title).where(
                ConversationRow.id.in_([c[0] for c in conversations])
            )
        ).all()
    )
    return UsageReport(
        known_micro=int(totals[0]),
        unknown_micro=int(totals[1]),
        unknown_calls=int(totals[2]),
        in_flight_micro=int(totals[3]),
        history_micro=int(totals[4]),
        calls=int(totals[5]),
        retried=int(totals[6]),
        by_day=by_day,
        by_person=grouped(LedgerRow.person),
        by_model=grouped(LedgerRow.model),
        top_conversations=[
            Spend(key=cid, micro=int(v), calls=int(c or 0), label=titles.get(cid, "(deleted)") + f" · {who}")
            for cid, who, v, c in conversations
        ],
    )


def _as_date(value: object) -> dt.date:
    # SQLite's date() gives text, PostgreSQL's a date.
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


CSV_COLUMNS = (
    "at",
    "person",
    "conversation_id",
    "turn_id",
    "model",
    "image_size",
    "attempt",
    "outcome",
    "http_status",
    "duration_ms",
    "may_be_billed",
    "cost_micro",
    "estimate_micro",
    "history_micro",
    "prompt_text_tokens",
    "prompt_image_tokens",
    "output_text_tokens",
    "output_image_tokens",
    "thinking_tokens",
    "history_bytes",
    "new_bytes",
    "offline",
)


def csv_lines(
    db: Session, *, since: dt.datetime, until: dt.datetime | None = None, person: str | None = None
) -> Iterator[str]:
    """Every ledger row in the period, oldest first, as CSV text (costs in USD)."""
    columns = [getattr(LedgerRow, c) for c in CSV_COLUMNS]
    out = io.StringIO()
    writer = csv.writer(out)
    header = [c.replace("_micro", "_usd") for c in CSV_COLUMNS]
    writer.writerow(header)
    query = select(*columns).where(*_scope(since, until, person)).order_by(LedgerRow.at, LedgerRow.id)
    for row in db.execute(query.execution_options(yield_per=2000)):
        writer.writerow(
            [
                f"{v / 1_000_000:.6f}" if name.endswith("_micro") and v is not None else ("" if v is None else v)
                for name, v in zip(CSV_COLUMNS, row, strict=True)
            ]
        )
        if out.tell() > 65536:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()
