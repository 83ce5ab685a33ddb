"""The runner: this process's workers for queued turns, and the heartbeat that keeps their
leases alive. Pages, a CLI or an API hand it turn ids; it never needs the page that asked.

A runner that adopts also takes turns from the shared queue (core/turns/queue.py) when it has a
free worker; a draining one (a SIGTERM, a deploy) takes nothing more, hands back what it has not
started, and finishes the calls it has out within a bound, storing their answers."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass
from typing import Any

from core.storage.outage import DatabaseHealth, unreachable
from core.turns.lifecycle import TurnLife
from core.turns.queue import TurnQueue
from core.turns.wakeup import Waker

log = logging.getLogger("studio.runner")


def process_identity() -> str:
    # Host and pid say where a turn runs; the random tail tells two lives of one pid apart.
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, kw_only=True)
class Drained:
    """What a drain did: calls finished and stored, queued turns handed back, calls still out
    when the time ran out (left to the lease rules)."""

    finished: int
    released: int
    left: int
    seconds: float


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


class TurnRunner:
    def __init__(
        self,
        life: TurnLife,
        work: Callable[[int], Any],
        *,
        owner: str,
        workers: int = 8,
        lease_s: float = 30.0,
        queue: TurnQueue | None = None,
        waker: Waker | None = None,
        health: DatabaseHealth | None = None,
        landing: Callable[[], Any] | None = None,
        rescue: Callable[[], Any] | None = None,
    ) -> None:
        self.life = life
        self.owner = owner
        self.workers = workers
        self._work = work
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="studio-turn")
        self._stop = threading.Event()
        self._draining = threading.Event()
        self._lock = threading.Lock()
        self._held: set[int] = set()
        self._started: set[int] = set()
        self._futures: dict[int, Future[Any]] = {}
        self._queue = queue
        self._waker = waker
        # Renew well before the lease runs out, so one slow write never lets a live turn lapse.
        self._interval = max(0.2, lease_s / 3)
        self.lease_s = lease_s
        self.health = health or DatabaseHealth()
        # Lands answers left in the spool (core/storage/spool.py), on a worker, never on the beat.
        self._landing = landing
        self._landing_busy = False
        self._rescue = rescue
        self._beat = threading.Thread(target=self._heartbeat, name="studio-heartbeat", daemon=True)
        self._beat.start()
        self._adopter: threading.Thread | None = None
        if queue is not None and waker is not None:
            self._adopter = threading.Thread(target=self._adopt_loop, name="studio-adopt", daemon=True)
            self._adopter.start()

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def submit(self, turn_id: int) -> Future[Any]:
        if self._draining.is_set():
            # Stopping: the turn waits in the shared queue for a process that is not.
            self._hand_back({turn_id})
            return _done(None)
        with self._lock:
            self._held.add(turn_id)
            future = self._pool.submit(self._run, turn_id)
            self._futures[turn_id] = future
        return future

    @property
    def held(self) -> set[int]:
        with self._lock:
            return set(self._held)

    def _run(self, turn_id: int) -> Any:
        with self._lock:
            if self._draining.is_set():
                self._held.discard(turn_id)
                self._futures.pop(turn_id, None)
                start = False
            else:
                self._started.add(turn_id)
                start = True
        if not start:
            self._hand_back({turn_id})
            return None
        try:
            return self._work(turn_id)
        except Exception:
            log.exception("turn %s: the worker failed", turn_id)
            raise
        finally:
            with self._lock:
                self._held.discard(turn_id)
                self._started.discard(turn_id)
                self._futures.pop(turn_id, None)

    def _hand_back(self, turn_ids: set[int]) -> int:
        if self._queue is None:
            return 0  # nobody else takes turns: they lapse and are interrupted, as before
        try:
            return len(self._queue.release(self.owner, turn_ids))
        except Exception:
            log.warning("could not hand turns %s back to the queue", sorted(turn_ids), exc_info=True)
            return 0

    def _adopt_loop(self) -> None:
        assert self._queue is not None and self._waker is not None
        while not self._stop.is_set():
            if not self._draining.is_set():
                try:
                    free = self.workers - len(self.held)
                    for turn_id in self._queue.adopt(self.owner, free):
                        self.submit(turn_id)
                except Exception:
                    log.warning("looking for queued turns failed", exc_info=True)
            self._waker.wait()

    def drain(self, timeout_s: float) -> Drained:
        """Stop taking turns, hand back those not started, and wait up to `timeout_s` for the
        calls out to finish (their answers stored). The heartbeat goes on meanwhile, so their
        leases hold; what is still out at the end is left to the lease rules."""
        started = time.monotonic()
        self._draining.set()
        with self._lock:
            waiting = set(self._held) - self._started
            running = [f for i, f in self._futures.items() if i in self._started]
        for turn_id in waiting:
            future = self._futures.get(turn_id)
            if future is not None:
                future.cancel()
        released = self._hand_back(waiting)
        with self._lock:
            self._held -= waiting
        done, pending = wait_all(running, timeout=max(0.0, timeout_s))
        report = Drained(finished=len(done), released=released, left=len(pending), seconds=time.monotonic() - started)
        log.info(
            "drained: %d call(s) finished, %d queued turn(s) handed back, %d still out after %.1f s",
            report.finished,
            report.released,
            report.left,
            report.seconds,
        )
        return report

    def beat(self) -> None:
        """One heartbeat: renew this process's leases, then retire lapsed ones (anybody's)."""
        try:
            held = self.held
            if held:
                self.life.renew(self.owner, held)
            else:
                self.life.db.ping()  # an idle process must notice an outage too
        except Exception as exc:
            if unreachable(exc):
                self.health.failed()
            raise
        self.health.reached()
        if self._adopter is not None and not self._draining.is_set():
            self._queue.keep_waiting()  # type: ignore[union-attr]
        # After an outage, every holder's lease lapsed while nobody could renew: wait a whole
        # lease of being back before trusting a lapse, so live holders renew (or land) first.
        if self.trusts_leases:
            swept = self.life.sweep()
            if swept:
                log.info("%d turn(s) whose process stopped are now interrupted", swept)
        # Answers in the spool land on a worker. Nothing else runs here: housekeeping has its own
        # thread (core/team/housekeeping.py), so a slow purge never delays a renewal.
        self._land_spooled()
        if self._rescue is not None and not self._draining.is_set():
            self._rescue()

    @property
    def trusts_leases(self) -> bool:
        """False for a lease after this process saw the database go away: a lapse then may only
        mean its holder could not renew."""
        return self.health.settled(self.lease_s)

    def _land_spooled(self) -> None:
        if self._landing is None or self._landing_busy:
            return
        self._landing_busy = True

        def land() -> None:
            try:
                assert self._landing is not None
                self._landing()
            except Exception:
                log.warning("landing spooled answers failed; trying again at the next beat", exc_info=True)
            finally:
                self._landing_busy = False

        try:
            self._pool.submit(land)
        except RuntimeError:  # closing
            self._landing_busy = False

    def _heartbeat(self) -> None:
        while not self._stop.wait(min(1.0, self._interval) if self.health.down else self._interval):
            was_down = self.health.down
            try:
                self.beat()
            except Exception:
                if not was_down:  # once per outage, not every second of it
                    log.warning("heartbeat failed; trying again", exc_info=True)

    def close(self, wait: bool = False) -> None:
        self._stop.set()
        if self._waker is not None:
            self._waker.close()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
