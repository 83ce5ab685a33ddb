"""How a process that runs turns learns that one is waiting: PostgreSQL's LISTEN/NOTIFY where it
can, a short poll everywhere (the poll is also the fallback when the listening connection
drops, so a lost notification costs at most one poll interval)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.engine import make_url

from core.turns.queue import CHANNEL

log = logging.getLogger("studio.wakeup")


class Waker:
    def __init__(self, database_url: str, poll_s: float) -> None:
        self.poll_s = poll_s
        self._url = make_url(database_url)
        self._listen = self._url.get_backend_name() == "postgresql"
        self._conn: Any = None
        self._stop = threading.Event()

    def _connect(self) -> Any:
        import psycopg

        url = self._url.set(drivername="postgresql")
        conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def wait(self) -> None:
        """Return when a turn may be waiting: on a notification, or after one poll interval."""
        if self._stop.is_set():
            return
        if not self._listen:
            self._stop.wait(self.poll_s)
            return
        try:
            if self._conn is None:
                self._conn = self._connect()
            for _ in self._conn.notifies(timeout=self.poll_s, stop_after=1):
                break
        except Exception:
            # The database went away or restarted: poll until a new connection listens again.
            log.info("listening for queued turns failed; polling every %.1f s", self.poll_s, exc_info=True)
            self._drop()
            self._stop.wait(self.poll_s)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("closing the listening connection failed", exc_info=True)

    def close(self) -> None:
        self._stop.set()
        self._drop()
