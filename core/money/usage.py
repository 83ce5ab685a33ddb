"""Who spent what: the ledger aggregated in SQL (indexed by time and person) for the Usage
page, and every row for a CSV export. A person sees their own; admins see everyone's."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, literal_column, select
from sqlalchemy.orm import Session

from core.money.ledger import OPEN, RETRIED
from core.storage.schema import ConversationRow, LedgerRow


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
    # Calls to the offline demo model: never billed, so they cost nothing and count against nothing.
    offline_calls: int = 0
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


def _day(db: Session, zone: str) -> ColumnElement[Any]:
    """The ledger row's day where the team is: shifted by the zone's offset now (a clock change
    inside the period moves an hour across midnight on the days before it)."""
    offset = dt.datetime.now(ZoneInfo(zone)).utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds() // 60)
    if not minutes:
        return func.date(LedgerRow.at)
    if db.get_bind().dialect.name == "sqlite":
        return func.date(LedgerRow.at, f"{minutes:+d} minutes")
    return func.date(LedgerRow.at + literal_column(f"interval '{minutes} minutes'"))


def report(
    db: Session,
    *,
    since: dt.datetime,
    until: dt.datetime | None = None,
    person: str | None = None,
    top: int = 10,
    zone: str = "UTC",
) -> UsageReport:
    """Three grouped scans (by day and model, by person, by conversation), each one pass over a
    covering index (ix_ledger_report): the totals are the sum of the first."""
    where = _scope(since, until, person)
    known = func.coalesce(func.sum(LedgerRow.cost_micro), 0)
    unknown_case = LedgerRow.cost_micro.is_(None) & LedgerRow.may_be_billed.is_(True) & LedgerRow.outcome.not_in(OPEN)
    calls = func.coalesce(func.sum(case((_sent(), 1), else_=0)), 0)
    day = _day(db, zone)
    rows = db.execute(
        select(
            day,
            LedgerRow.model,
            known,
            func.coalesce(func.sum(case((unknown_case, LedgerRow.estimate_micro), else_=0)), 0),
            func.coalesce(func.sum(case((unknown_case, 1), else_=0)), 0),
            func.coalesce(func.sum(case((LedgerRow.outcome.in_(OPEN), LedgerRow.estimate_micro), else_=0)), 0),
            func.coalesce(func.sum(LedgerRow.history_micro), 0),
            calls,
            func.coalesce(func.sum(case((LedgerRow.outcome == RETRIED, 1), else_=0)), 0),
        )
        .where(*where)
        .group_by(day, LedgerRow.model)
        .order_by(day)
    ).all()
    by_model: dict[str, list[int]] = {}
    for row in rows:
        spent = by_model.setdefault(row[1], [0, 0])
        spent[0] += int(row[2])
        spent[1] += int(row[7])

    def total(index: int) -> int:
        return sum(int(r[index]) for r in rows)

    by_person = [
        Spend(key=k, micro=int(v), calls=int(c))
        for k, v, c in db.execute(
            select(LedgerRow.person, known, calls)
            .where(*where)
            .group_by(LedgerRow.person)
            .order_by(known.desc())
            .limit(50)
        )
    ]
    conversations = db.execute(
        select(LedgerRow.conversation_id, func.max(LedgerRow.person), known, calls)
        .where(*where)
        .group_by(LedgerRow.conversation_id)
        .order_by(known.desc())
        .limit(top)
    ).all()
    titles = dict(
        db.execute(
            select(ConversationRow.id, ConversationRow.title).where(
                ConversationRow.id.in_([c[0] for c in conversations])
            )
        ).all()
    )
    offline = db.scalar(select(func.count()).where(*where, LedgerRow.offline.is_(True), _sent()))
    return UsageReport(
        offline_calls=int(offline or 0),
        known_micro=total(2),
        unknown_micro=total(3),
        unknown_calls=total(4),
        in_flight_micro=total(5),
        history_micro=total(6),
        calls=total(7),
        retried=total(8),
        by_day=[DaySpend(day=_as_date(r[0]), model=r[1], micro=int(r[2])) for r in rows],
        by_person=by_person,
        by_model=sorted((Spend(key=m, micro=v[0], calls=v[1]) for m, v in by_model.items()), key=lambda s: -s.micro),
        top_conversations=[
            Spend(key=cid, micro=int(v), calls=int(c), label=titles.get(cid, "(deleted)") + f" · {who}")
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
