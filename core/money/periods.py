"""Where a limit's periods begin and end (days and months in STUDIO_TIMEZONE, as the naive UTC the
ledger is written in), the lock that serialises queueing, and the shape of a refusal: shared by
the person's limits (core/money/limits.py) and a demo's visitor limits (visitor_limits.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """Why a number of turns may not be queued now: the limit's name, and what to tell the person."""

    name: str
    message: str


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


def in_words(now: dt.datetime, when: dt.datetime, zone: str) -> str:
    minutes = max(1, int((when - now).total_seconds() // 60))
    span = f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
    local = when.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {zone}, in {span}"


def lock(db: Session, key: str) -> None:
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"studio-limit:{key}"})
