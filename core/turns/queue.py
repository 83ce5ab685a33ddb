"""The shared queue: turns that any process running turns may take.

A turn queued by a process that runs turns itself is held by that process from the start (its
lease names it), as before. A turn queued by a queue-only web process (`STUDIO_RUN_TURNS=0`), or
handed back by a process that is draining, is queued with no holder: the next process with a
free worker adopts it (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so two never take the same one),
then claims it as usual. While it waits, every process that runs turns keeps its lease alive, so
a queue longer than a lease is not mistaken for a dead process; with no such process alive, it
lapses and is interrupted like any turn nobody holds.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Select, select, text, update

from core.storage.database import Database
from core.storage.outage import unreachable
from core.storage.schema import TurnRow, utcnow
from core.values import TurnStatus

log = logging.getLogger("studio.queue")

# The channel queue-only processes notify and workers listen on (PostgreSQL LISTEN/NOTIFY).
CHANNEL = "studio_turns"


class TurnQueue:
    def __init__(self, db: Database, lease_s: float) -> None:
        self.db = db
        self.lease = dt.timedelta(seconds=lease_s)

    def adopt(self, owner: str, limit: int) -> list[int]:
        """Take up to `limit` unheld queued turns, oldest first, for `owner`'s workers."""
        if limit <= 0:
            return []
        now = utcnow()
        with self.db.read() as db:
            # Most polls find nothing: a read, so an idle poll never takes SQLite's write lock.
            if db.scalar(self._waiting(now).limit(1)) is None:
                return []
        with self.db.write() as db:
            waiting = self._waiting(now).order_by(TurnRow.id).limit(limit)
            if self.db.dialect == "postgresql":
                waiting = waiting.with_for_update(skip_locked=True)
            ids = list(db.scalars(waiting))
            if not ids:
                return []
            taken = db.scalars(
                update(TurnRow)
                .where(
                    TurnRow.id.in_(ids),
                    TurnRow.status == TurnStatus.QUEUED.value,
                    TurnRow.lease_owner.is_(None),
                )
                .values(lease_owner=owner, lease_until=now + self.lease)
                .returning(TurnRow.id)
            )
            return sorted(taken)

    @staticmethod
    def _waiting(now: dt.datetime) -> Select[int]:
        return select(TurnRow.id).where(
            TurnRow.status == TurnStatus.QUEUED.value,
            TurnRow.lease_owner.is_(None),
            TurnRow.lease_until >= now,
        )

    def release(self, owner: str, turn_ids: set[int]) -> list[int]:
        """Hand queued turns this process holds but has not started back to the queue."""
        if not turn_ids:
            return []
        with self.db.write() as db:
            released = list(
                db.scalars(
                    update(TurnRow)
                    .where(
                        TurnRow.id.in_(turn_ids),
                        TurnRow.status == TurnStatus.QUEUED.value,
                        TurnRow.lease_owner == owner,
                    )
                    .values(lease_owner=None, lease_until=utcnow() + self.lease)
                    .returning(TurnRow.id)
                )
            )
        if released:
            self.wake()
        return sorted(released)

    def keep_waiting(self) -> int:
        """The leases of unheld queued turns live on while some process that runs turns does."""
        with self.db.write() as db:
            result = db.execute(
                update(TurnRow)
                .where(TurnRow.status == TurnStatus.QUEUED.value, TurnRow.lease_owner.is_(None))
                .values(lease_until=utcnow() + self.lease)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def wake(self) -> None:
        """Tell listening workers a turn is waiting (PostgreSQL); elsewhere they poll."""
        if self.db.dialect != "postgresql":
            return
        try:
            with self.db.write() as db:
                db.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
        except Exception as exc:
            # Best effort: the turn is committed already, and workers poll as well. Raising here
            # would tell the sender it was not sent, and a second send would bill it twice.
            if not unreachable(exc):
                raise
            log.warning("could not wake the workers (they will find the turn when they poll): %s", exc)
