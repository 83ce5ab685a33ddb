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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import StudioError
from core.money.ledger import ESTIMATE_MARGIN_PCT, RETRIED, Charge, counted, with_margin
from core.money.periods import (  # re-exported: where pages and tests have always found them
    Refusal,
    day_start,
    in_words,
    lock,
    midnight,
    month_start,
    next_day,
    next_month,
    today_in,
)
from core.money.prices import MICRO, dollars
from core.money.visitor_limits import lock_address, visitor_refusal
from core.storage.schema import ConversationRow, LedgerRow, TurnRow, utcnow
from core.storage.store import IN_FLIGHT

__all__ = [
    "ESTIMATE_MARGIN_PCT",
    "LimitReached",
    "Limits",
    "Refusal",
    "admit",
    "headroom",
    "limits_from",
    "midnight",
    "today_in",
]


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
    # A public demo's visitors (core/money/visitor_limits.py): per network address, per visitor.
    address_day_micro: int | None = None
    address_turns_per_minute: int | None = None
    visitor_stored_bytes: int | None = None
    visitor_conversations: int | None = None

    @property
    def visitors_counted(self) -> bool:
        return any(
            v is not None for v in (self.address_day_micro, self.address_turns_per_minute, self.visitor_stored_bytes)
        )

    @property
    def counting(self) -> bool:
        return (
            any(
                v is not None
                for v in (
                    self.person_day_micro,
                    self.person_month_micro,
                    self.team_month_micro,
                    self.turns_per_minute,
                    self.running,
                )
            )
            or self.visitors_counted
        )

    def size_allowed(self, size: str | None) -> bool:
        return not self.allowed_sizes or size is None or size in self.allowed_sizes

    def model_allowed(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models


def _spent(db: Session, since: dt.datetime, person: str | None) -> int:
    query = select(func.coalesce(func.sum(counted(ESTIMATE_MARGIN_PCT)), 0)).where(LedgerRow.at >= since)
    if person is not None:
        query = query.where(LedgerRow.person == person)
    return int(db.scalar(query) or 0)


def _takes(takes: int) -> str:
    return "this turn" if takes == 1 else f"these {takes} takes"


def refusal(db: Session, limits: Limits, charge: Charge, takes: int = 1) -> Refusal | None:
    """The first limit that `takes` more turns of this charge would break, or None."""
    now = utcnow()
    cost = with_margin(charge.estimate_micro, ESTIMATE_MARGIN_PCT) * takes
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
            return Refusal(
                name=name,
                message=(
                    f"Not sent: {_takes(takes)} (about {dollars(charge.estimate_micro * takes)}, counted as "
                    f"{dollars(cost)}: estimates count with a {ESTIMATE_MARGIN_PCT}% margin, as real costs can "
                    f"run a little over them) would go over {name} of {dollars(cap)}: {dollars(left)} is left. "
                    f"It resets at {in_words(now, resets, zone)}. Your words and images are kept."
                ),
            )
    if limits.turns_per_minute is not None:
        window = now - dt.timedelta(minutes=1)
        recent = db.scalars(
            select(LedgerRow.at)
            .where(LedgerRow.person == charge.person, LedgerRow.at >= window, LedgerRow.outcome != RETRIED)
            .order_by(LedgerRow.at)
        ).all()
        if len(recent) + takes > limits.turns_per_minute:
            left = max(0, limits.turns_per_minute - len(recent))
            wait = max(1, int((recent[0] + dt.timedelta(minutes=1) - now).total_seconds()) + 1) if recent else 60
            return Refusal(
                name=f"the {limits.turns_per_minute} turns you may send a minute",
                message=(
                    f"Not sent: you may send {limits.turns_per_minute} turns a minute, and {left} "
                    f"{'is' if left == 1 else 'are'} left. Send again in {wait} s; your words and images are kept."
                ),
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
        running = running or 0
        if running + takes > limits.running:
            most = f"{limits.running} turn{'' if limits.running == 1 else 's'} at once"
            if running == 0:
                message = f"Not sent: this studio makes at most {most} for each person."
            else:
                message = (
                    f"Not sent: you already have {running} turn{'' if running == 1 else 's'} being made, and this "
                    f"studio makes at most {most}. Send this when one finishes; your words and images are kept."
                )
            return Refusal(name=f"the {most} you may have made", message=message)
    return visitor_refusal(db, limits, charge, takes, now)


def admit(db: Session, limits: Limits, charge: Charge, takes: int = 1) -> None:
    """Raise LimitReached (naming the limit, what is left and when it resets) unless `takes`
    turns of this charge may be queued. Runs inside the transaction that then writes the turns
    and their reservations, so they are checked together: a batch of takes is let through whole
    or refused with how many could go now."""
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
        lock(db, "team")  # always before the person's lock, so two queuers never wait on each other
    if limits.visitors_counted:
        lock_address(db, charge.person)  # the address before the person, as above
    lock(db, charge.person)
    first = refusal(db, limits, charge, 1)
    if first is not None:
        raise LimitReached(first.message)
    if takes > 1 and (found := refusal(db, limits, charge, takes)) is not None:
        most = max(k for k in range(1, takes) if refusal(db, limits, charge, k) is None)
        raise LimitReached(
            f"Not sent: {takes} takes at once would go over {found.name}; {most} can be made now. "
            f"Choose {most} take{'' if most == 1 else 's'}; your words and images are kept."
        )


def headroom(db: Session, limits: Limits, charge: Charge, most: int) -> int:
    """How many takes of this charge the limits let through now (0 to `most`): what to offer."""
    if charge.person in limits.exempt or not limits.counting:
        return most
    if not limits.model_allowed(charge.model) or not limits.size_allowed(charge.image_size):
        return most  # refused whatever the number, with its own reason
    allowed = 0
    for k in range(1, most + 1):
        if refusal(db, limits, charge, k) is not None:
            break
        allowed = k
    return allowed


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
        address_day_micro=micro(settings.limit_address_day_usd),
        address_turns_per_minute=settings.limit_address_turns_per_minute,
        visitor_conversations=settings.limit_visitor_conversations,
        visitor_stored_bytes=(
            None if settings.limit_visitor_stored_mb is None else int(settings.limit_visitor_stored_mb * 1024 * 1024)
        ),
    )
