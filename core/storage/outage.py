"""When the database cannot be reached: which errors mean that, how long a process has been back
in touch with it, and patience (retrying one unit of work with backoff, within a window).

A database outage is the same for every process: the holder of a turn cannot renew its lease,
and nobody can sweep it. When the database returns, the holder must win, so a process that saw
the outage trusts no lapsed lease (it neither sweeps nor shows them as interrupted) until it has
been back in touch for a whole lease: time for every live holder to renew or finish.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from core.errors import StudioError

log = logging.getLogger("studio.outage")
T = TypeVar("T")

# What SQLite says when its file cannot be used for now (gone, read-only, full, busy too long).
SQLITE_AWAY = ("unable to open", "disk i/o", "readonly", "read-only", "is full", "database is locked")

UNREACHABLE_MESSAGE = "The studio cannot reach its database; your words are still in the box. It retries by itself."


class DatabaseUnreachable(StudioError):
    kind = "database"

    def __init__(self, message: str = UNREACHABLE_MESSAGE) -> None:
        super().__init__(message)


def unreachable(exc: BaseException) -> bool:
    """The database is down, cut off, or refuses writes (a read-only or full SQLite file): a unit
    of work may succeed if tried again later. Errors in the statement itself are not this."""
    if isinstance(exc, DatabaseUnreachable):
        return True
    if isinstance(exc, InterfaceError | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        # Not every OperationalError: a missing table, a statement timeout or a lock timeout is
        # the statement's own failure, and waiting for the database would hide it for ever.
        orig = exc.orig
        if isinstance(orig, sqlite3.Error):
            said = str(orig).lower()
            return any(away in said for away in SQLITE_AWAY)
        state = getattr(orig, "sqlstate", None)
        return state is None or state[:2] in ("08", "53") or state in ("57P01", "57P02", "57P03")
    return False


def message_of(exc: BaseException) -> str:
    """The sentence to show for an unreachable database: the most specific one found along the
    error's chain (a read-only or full SQLite file names the file and what to do), else the
    general one. A retry window wraps the error it gave up on, so the chain is walked."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DatabaseUnreachable) and current.message != UNREACHABLE_MESSAGE:
            return current.message
        current = current.__cause__ or current.__context__
    return UNREACHABLE_MESSAGE


class DatabaseHealth:
    """What this process has seen of the database lately (thread-safe, monotonic time)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self._back_at: float | None = None

    def failed(self) -> None:
        with self._lock:
            self._failed_at = self._clock()
            self._back_at = None

    def reached(self) -> None:
        with self._lock:
            if self._failed_at is not None and self._back_at is None:
                self._back_at = self._clock()

    @property
    def down(self) -> bool:
        with self._lock:
            return self._failed_at is not None and self._back_at is None

    def settled(self, grace_s: float) -> bool:
        """True unless an outage was seen and the database has been back for less than grace_s."""
        with self._lock:
            if self._failed_at is None:
                return True
            return self._back_at is not None and self._clock() - self._back_at >= grace_s


def patiently(
    work: Callable[[], T],
    *,
    window_s: float,
    health: DatabaseHealth | None = None,
    on_outage: Callable[[], None] | None = None,
    what: str = "a write",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `work` (one whole unit of work: safe to run again after a failed attempt); while the
    database is unreachable, try again with backoff until `window_s` has passed, then raise
    DatabaseUnreachable. `on_outage` runs once, at the first failure (to put an answer on disk)."""
    deadline = time.monotonic() + window_s
    delay = 0.25
    noticed = False
    while True:
        try:
            result = work()
        except Exception as exc:
            if not unreachable(exc):
                raise
            if health is not None:
                health.failed()
            if not noticed:
                noticed = True
                log.warning("database unreachable during %s; retrying for up to %.0f s: %s", what, window_s, exc)
                if on_outage is not None:
                    on_outage()
            if time.monotonic() + delay > deadline:
                raise DatabaseUnreachable() from exc
            sleep(delay)
            delay = min(delay * 2, 2.0)  # back within two seconds of the database
        else:
            if health is not None:
                health.reached()
            if noticed:
                log.info("database back: %s done", what)
            return result
