"""The runner: this process's workers for queued turns, and the heartbeat that keeps their
leases alive. Pages, a CLI or an API hand it turn ids; it never needs the page that asked."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from core.turns.lifecycle import TurnLife

log = logging.getLogger("studio.runner")


def process_identity() -> str:
    # Host and pid say where a turn runs; the random tail tells two lives of one pid apart.
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TurnRunner:
    def __init__(
        self,
        life: TurnLife,
        work: Callable[[int], Any],
        *,
        owner: str,
        workers: int = 8,
        lease_s: float = 30.0,
        maintenance: Callable[[], Any] | None = None,
        rescue: Callable[[], Any] | None = None,
    ) -> None:
        self.life = life
        self.owner = owner
        self.workers = workers
        self._work = work
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="studio-turn")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._held: set[int] = set()
        # Renew well before the lease runs out, so one slow write never lets a live turn lapse.
        self._interval = max(0.2, lease_s / 3)
        self._maintenance = maintenance
        self._rescue = rescue
        self._beats = 0
        self._beat = threading.Thread(target=self._heartbeat, name="studio-heartbeat", daemon=True)
        self._beat.start()

    def submit(self, turn_id: int) -> Future[Any]:
        with self._lock:
            self._held.add(turn_id)
        return self._pool.submit(self._run, turn_id)

    @property
    def held(self) -> set[int]:
        with self._lock:
            return set(self._held)

    def _run(self, turn_id: int) -> Any:
        try:
            return self._work(turn_id)
        except Exception:
            log.exception("turn %s: the worker failed", turn_id)
            raise
        finally:
            with self._lock:
                self._held.discard(turn_id)

    def beat(self) -> None:
        """One heartbeat: renew this process's leases, then retire lapsed ones (anybody's)."""
        self.life.renew(self.owner, self.held)
        swept = self.life.sweep()
        if swept:
            log.info("%d turn(s) whose process stopped are now interrupted", swept)
        if self._rescue is not None:
            self._rescue()
        # Housekeeping (the trash's 30 days) about every ten minutes, and on the first beat.
        if self._maintenance is not None and self._beats % max(1, int(600 / self._interval)) == 0:
            self._maintenance()
        self._beats += 1

    def _heartbeat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception:
                log.warning("heartbeat failed; trying again in %.0f s", self._interval, exc_info=True)

    def close(self, wait: bool = False) -> None:
        self._stop.set()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
