"""A running turn's live progress while its answer streams (STUDIO_STREAM=1): the model's latest
thought summary and draft image, in `turn_progress`, where every process can read it cheaply (the
tab watching a turn may be served by another process than the one making the call).

Written only by the process holding the turn (conditional on its lease, like every change of a
turn in flight), at most about once a second; deleted in the transaction that ends the turn
(core/turns/flight.py), so a finished turn never shows an old thought.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.errors import StudioError
from core.media import images
from core.media.library import ImageLibrary
from core.provider.stream import Progress
from core.storage.database import Database
from core.storage.schema import TurnProgressRow, TurnRow, utcnow
from core.storage.store import IN_FLIGHT
from core.values import LiveProgress, TurnStatus

log = logging.getLogger("studio")

EVERY_S = 1.0
# A thought summary is a heading and a paragraph or two: more than this is cut.
THOUGHT_CHARS = 2000


def clear(db: Session, turn_ids: Iterable[int]) -> None:
    """In the transaction that ends these turns."""
    ids = list(turn_ids)
    if ids:
        db.execute(delete(TurnProgressRow).where(TurnProgressRow.turn_id.in_(ids)))


def clear_stray(db: Session) -> None:
    """Rows of turns no longer in flight (their conversation deleted forever, a studio stopped
    mid-write): swept like stray ledger rows."""
    in_flight = select(TurnRow.id).where(TurnRow.status.in_(IN_FLIGHT))
    db.execute(delete(TurnProgressRow).where(TurnProgressRow.turn_id.not_in(in_flight)))


def show(db: Database, turn_id: int, owner: str, *, thought: str | None, draft_hash: str | None) -> bool:
    """Record what the turn shows now, if `owner` still holds it running. Whether it did."""
    with db.write() as session:
        held = session.scalar(
            select(TurnRow.id)
            .where(TurnRow.id == turn_id, TurnRow.status == TurnStatus.RUNNING.value, TurnRow.lease_owner == owner)
            .with_for_update()  # finishing waits for this write, or this write sees the turn ended
        )
        if held is None:
            return False
        row = session.get(TurnProgressRow, turn_id)
        if row is None:
            session.add(TurnProgressRow(turn_id=turn_id, thought=thought, draft_hash=draft_hash, updated_at=utcnow()))
        else:
            row.thought, row.draft_hash, row.updated_at = thought, draft_hash, utcnow()
        return True


def read(session: Session, conversation_id: str, turn_ids: set[int]) -> dict[int, LiveProgress]:
    """Of these turns, those of this conversation (the one the reader may see)."""
    if not turn_ids:
        return {}
    rows = session.scalars(
        select(TurnProgressRow)
        .join(TurnRow, TurnRow.id == TurnProgressRow.turn_id)
        .where(TurnProgressRow.turn_id.in_(turn_ids), TurnRow.conversation_id == conversation_id)
    )
    return {
        r.turn_id: LiveProgress(turn_id=r.turn_id, thought=r.thought, draft_hash=r.draft_hash, updated_at=r.updated_at)
        for r in rows
    }


class Reporter:
    """The stream's `on_progress` for one call: writes at most once every `every_s`; what came in
    between is written when that second is up (so the newest thought is never left unshown
    while the model renders in silence). A failed write is logged and never stops the answer."""

    def __init__(self, db: Database, library: ImageLibrary, turn_id: int, owner: str, every_s: float = EVERY_S) -> None:
        self.db, self.library, self.turn_id, self.owner, self.every_s = db, library, turn_id, owner, every_s
        self._lock = threading.Lock()
        self._pending: Progress | None = None
        self._last = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False
        self._draft: tuple[bytes, str] | None = None  # the bytes last stored, and their hash
        self.writes = 0

    def __call__(self, progress: Progress) -> None:
        with self._lock:
            if self._closed:
                return
            self._pending = progress
            wait = self._last + self.every_s - time.monotonic()
            if wait > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self._flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self._flush()

    def close(self) -> None:
        """The call is over: nothing more is written (the turn's end deletes what was)."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            progress, self._pending = self._pending, None
            if progress is None or self._closed:
                return
            self._last = time.monotonic()
        try:
            self._write(progress)
        except (SQLAlchemyError, StudioError, OSError, ValueError) as exc:  # a database away: the answer goes on
            log.warning("turn %s: could not record its live progress (%s)", self.turn_id, exc.__class__.__name__)

    def _write(self, progress: Progress) -> None:
        draft_hash = None
        if progress.draft is not None:
            if self._draft is None or self._draft[0] is not progress.draft:
                data = progress.draft
                info = self.library.put(data, images.sniff_mime(data) or progress.draft_mime or "")
                self._draft = (data, info.hash)
            draft_hash = self._draft[1]
        thought = progress.thought[:THOUGHT_CHARS] if progress.thought else None
        if show(self.db, self.turn_id, self.owner, thought=thought, draft_hash=draft_hash):
            self.writes += 1
