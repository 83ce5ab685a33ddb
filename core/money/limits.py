"""Limits on spending and on turns, checked inside the transaction that queues a turn.

They are read from the ledger in the database, so they hold across tabs, processes and
replicas. On PostgreSQL each person's queueing is serialised by a transaction-scoped advisory
lock (and the whole team's when a team cap is set); on SQLite every write transaction is
already serial (BEGIN IMMEDIATE). Queued and running turns count at their estimate, so a burst
cannot slip past a cap before any answer has come back.

An estimate is checked before the answer exists, and real costs ran up to 1.2% above it (the
answer's thinking and text vary). So estimates count with a margin (ESTIMATE_MARGIN_PCT) against
the caps, the new turn's and those still being made: a burst that fits at its estimates still
fits once the real costs land a little higher.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import StudioError
from core.money.ledger import RETRIED, Charge, counted, with_margin
from core.money.prices import MICRO, dollars
from core.storage.schema import ConversationRow, LedgerRow, TurnRow, utcnow
from core.storage.store import IN_FLIGHT


# Estimates ran up to 1.2% short of real costs; 5% keeps a cap from being overshot by that.
ESTIMATE_MARGIN_PCT = 5


class LimitReached(StudioError):
    kind = "limit"


@dataclass(frozen=True, kw_only=True)
class Limits:
    """All None / empty: no limit. Money in micro-dollars."""

    person_day_micro: int | None = None
    person_month_micro: int | None = None
    team_month_micro: int | None = None
    turns_per_minute: int | None = None
    running: int | None = None
    allowed_sizes: tuple[str, ...] = ()
    allowed_models: tuple[str, ...] = ()
    # People these limits do not apply to (admins, when the operator says so).
    exempt: tuple[str, ...] = ()
    # Where days and months begin (STUDIO_TIMEZONE).
    zone: str = "UTC"

    @property
    def counting(self) -> bool:
        return any(
            v is not None
            for v in (
                self.person_day_micro,
                self.person_month_micro,
                self.team_month_micro,
                self.turns_per_minute,
                self.running,
            )
        )

    def size_allowed(self, size: str | None) -> bool:
        return not self.allowed_sizes or size is None or size in self.allowed_sizes

    def model_allowed(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models


def midnight(day: dt.date, zone: str) -> dt.datetime:
    """Midnight starting `day` in `zone`, as the naive UTC the ledger is written in."""
    local = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(zone))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def today_in(now: dt.datetime, zone: str) -> dt.date:
    return now.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(zone)).date()


def day_start(now: dt.datetime, zone: str = "UTC") -> dt.datetime:
    return midnight(today_in(now, zone), zone)


def next_day(now: dt.datetime, zone: str = "UTC") -> dt.datetime:
    # From the date, not now + 24 h: a day with a clock change is 23 or 25 hours long.
    return midnight(today_in(now, zone) + dt.timedelta(days=1), zone)


def month_start(now: dt.datetime, zone: str = "UTC") -> dt.datetime:
    return midnight(today_in(now, zone).replace(day=1), zone)


def next_month(now: dt.datetime, zone: str = "UTC") -> dt.datetime:
    first = today_in(now, zone).replace(day=1)
    return midnight((first + dt.timedelta(days=32)).replace(day=1), zone)


def _in(now: dt.datetime, when: dt.datetime, zone: str) -> str:
    minutes = max(1, int((when - now).total_seconds() // 60))
    span = f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
    local = when.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {zone}, in {span}"


def _lock(db: Session, key: str) -> None:
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"studio-limit:{key}"})


def _spent(db: Session, since: dt.datetime, person: str | None) -> int:
    query = select(func.coalesce(func.sum(counted(ESTIMATE_MARGIN_PCT)), 0)).where(LedgerRow.at >= since)
    if person is not None:
        query = query.where(LedgerRow.person == person)
    return int(db.scalar(query) or 0)


def admit(db: Session, limits: Limits, charge: Charge) -> None:
    """Raise LimitReached (naming the limit, what is left and when it resets) unless this turn
    may be queued. Runs inside the transaction that then writes the turn and its reservation."""
    if charge.person in limits.exempt:
        return
    if not limits.model_allowed(charge.model):
        raise LimitReached(
            f"Not sent: the model {charge.model} is not available on this studio "
            f"(allowed: {', '.join(limits.allowed_models)}). Your words and images are kept."
        )
    if not limits.size_allowed(charge.image_size):
        raise LimitReached(
            f"Not sent: {charge.image_size} images are not available on this studio "
            f"(allowed sizes: {', '.join(limits.allowed_sizes)}). Choose another size; your words and images are kept."
        )
    if not limits.counting:
        return
    if limits.team_month_micro is not None:
        _lock(db, "team")  # always before the person's lock, so two queuers never wait on each other
    _lock(db, charge.person)
    now = utcnow()
    cost = with_margin(charge.estimate_micro, ESTIMATE_MARGIN_PCT)
    zone = limits.zone
    month, new_month = month_start(now, zone), next_month(now, zone)
    caps = (
        ("your daily spending limit", limits.person_day_micro, day_start(now, zone), next_day(now, zone), True),
        ("your monthly spending limit", limits.person_month_micro, month, new_month, True),
        ("the team's monthly spending limit", limits.team_month_micro, month, new_month, False),
    )
    for name, cap, since, resets, own in caps:
        if cap is None:
            continue
        spent = _spent(db, since, charge.person if own else None)
        if spent + cost > cap:
            left = max(0, cap - spent)
            raise LimitReached(
                f"Not sent: this turn (about {dollars(charge.estimate_micro)}, counted as {dollars(cost)}: "
                f"estimates count with a {ESTIMATE_MARGIN_PCT}% margin, as real costs can run a little over "
                f"them) would go over {name} of {dollars(cap)}: {dollars(left)} is left. It resets at "
                f"{_in(now, resets, zone)}. Your words and images are kept."
            )
    if limits.turns_per_minute is not None:
        window = now - dt.timedelta(minutes=1)
        recent = db.scalars(
            select(LedgerRow.at)
            .where(LedgerRow.person == charge.person, LedgerRow.at >= window, LedgerRow.outcome != RETRIED)
            .order_by(LedgerRow.at)
        ).all()
        if len(recent) >= limits.turns_per_minute:
            wait = max(1, int((recent[0] + dt.timedelta(minutes=1) - now).total_seconds()) + 1)
            raise LimitReached(
                f"Not sent: you may send {limits.turns_per_minute} turns a minute, and 0 are left. "
                f"Send again in {wait} s; your words and images are kept."
            )
    if limits.running is not None:
        running = db.scalar(
            select(func.count())
            .select_from(TurnRow)
            .join(ConversationRow, ConversationRow.id == TurnRow.conversation_id)
            .where(
                ConversationRow.owner == charge.person,
                TurnRow.role == "user",
                TurnRow.status.in_(IN_FLIGHT),
                TurnRow.lease_until >= now,
            )
        )
        if (running or 0) >= limits.running:
            raise LimitReached(
                f"Not sent: you already have {running} turns being made, the most at once on this studio. "
                "Send this when one finishes; your words and images are kept."
            )


def limits_from(settings: Settings) -> Limits:
    def micro(usd: float | None) -> int | None:
        return None if usd is None else round(usd * MICRO)

    return Limits(
        person_day_micro=micro(settings.limit_person_day_usd),
        person_month_micro=micro(settings.limit_person_month_usd),
        team_month_micro=micro(settings.limit_team_month_usd),
        turns_per_minute=settings.limit_turns_per_minute,
        running=settings.limit_running,
        allowed_sizes=settings.allowed_sizes,
        allowed_models=settings.allowed_models,
        exempt=settings.admins if settings.limits_exempt_admins else (),
        zone=settings.timezone,
    )
