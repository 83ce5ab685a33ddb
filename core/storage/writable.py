"""An SQLite file the studio cannot write (its permissions, a full disk): said plainly, checked at
start-up, and recovered from by itself once write access returns.

SQLite opens a file it may not write read-only, without a word, and such a connection stays
read-only for good: kept in the pool, it would fail every write after the file is writable
again. So a connection made while the file refused writes is used once and then dropped, and a
write refused for these reasons invalidates the pool (as a lost connection does)."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError

from core.storage.outage import DatabaseUnreachable

log = logging.getLogger("studio.storage")

# SQLite's own words for a write the file refused; none of them is about the statement.
REFUSED = ("attempt to write a readonly database", "disk i/o error", "database or disk is full")
MIN_FREE_BYTES = 1 << 20  # below this, the next turn's images would not fit


def not_writable_message(path: str) -> str:
    return (
        f"The studio cannot write its database file {path}: check its permissions and free disk space. "
        "Your words are still in the box; the studio tries again by itself."
    )


class DatabaseNotWritable(DatabaseUnreachable):
    """The SQLite file refuses writes. A kind of unreachable database: the page keeps the words
    and waits, and a holder of an answer keeps retrying, since access may come back."""

    kind = "database_not_writable"

    def __init__(self, path: str) -> None:
        super().__init__(not_writable_message(path))
        self.path = path


def refused_write(exc: BaseException | None) -> bool:
    return isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and any(
        words in str(exc).lower() for words in REFUSED
    )


def check_writable(path: str) -> None:
    """At start-up: the file (if there is one yet) and its folder must be writable, with some
    free space: SQLite writes its journal (-wal, -shm) beside the file."""
    file = Path(path)
    folder = file.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Opened for writing, nothing written; as root, permission bits alone prove nothing.
        if file.exists():
            with open(file, "r+b"):
                pass
        probe = folder / f".{file.name}.{os.getpid()}.probe"
        with open(probe, "wb"):
            pass
        probe.unlink()
        stat = os.statvfs(folder)
    except OSError as exc:
        log.error("the database file %s is not writable: %s", path, exc)
        raise DatabaseNotWritable(path) from exc
    if stat.f_bavail * stat.f_frsize < MIN_FREE_BYTES:
        log.error("the disk of the database file %s is full", path)
        raise DatabaseNotWritable(path)


def watch_writes(engine: Engine, path: str) -> None:
    """Refused writes become DatabaseNotWritable (no raw sqlite3 text reaches a page) and drop the
    pool's connections; until a write succeeds again, no connection is used twice."""
    state = {"refusing": False}
    lock = threading.Lock()

    @event.listens_for(engine, "handle_error")
    def _refused(ctx: ExceptionContext) -> DatabaseNotWritable | None:
        if not refused_write(ctx.original_exception):
            return None
        with lock:
            if not state["refusing"]:
                log.warning("the database file %s refuses writes: %s", path, ctx.original_exception)
            state["refusing"] = True
        ctx.is_disconnect = True  # this connection, and every one pooled before it, goes
        return DatabaseNotWritable(path)

    @event.listens_for(engine, "connect")
    def _made(_dbapi_conn: Any, record: Any) -> None:
        record.info["made_while_refusing"] = state["refusing"]
        record.info["used"] = False

    @event.listens_for(engine, "checkout")
    def _checkout(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("made_while_refusing") and record.info.get("used"):
            # Possibly opened read-only; a fresh one sees whether the file is writable now.
            raise DisconnectionError("made while the database file refused writes")
        record.info["used"] = True

    @event.listens_for(engine, "commit")
    def _wrote(_conn: Any) -> None:
        if state["refusing"]:
            with lock:
                state["refusing"] = False
            log.info("the database file %s takes writes again", path)
