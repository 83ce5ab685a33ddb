"""Housekeeping: the trash's 30 days and images nothing keeps any more.

It runs on a thread of its own, never on the lease heartbeat's (core/turns/runner.py): a slow
purge must not delay a lease renewal, or live turns would lapse and be swept as interrupted.
Every replica runs it; every step is a conditional change in a short transaction of its own, so
two replicas doing the same work at once both succeed (whoever comes second finds it done) and
no step holds the database long enough to keep a heartbeat waiting.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from core.errors import InvalidInput, NotFound
from core.storage.database import Database
from core.storage.image_store import drop_unused, unused_images
from core.team import retention
from core.team.sharing import SharingStore

log = logging.getLogger("studio.housekeeping")

# Every ten minutes is plenty for a 30-day trash; the first round runs as the process starts.
EVERY_S = 600.0
# Images deleted per transaction: each batch is short, so a heartbeat never waits long behind it.
IMAGE_BATCH = 200


@dataclass(frozen=True, kw_only=True)
class Tidied:
    purged: int
    images: int
    # A public demo's visitors' conversations unused past STUDIO_DEMO_RETENTION_DAYS.
    retained: int = 0


def purge_expired(sharing: SharingStore, actor: str = "studio") -> int:
    """Conversations in the trash past its 30 days, deleted forever, one transaction each; one
    with a turn still running waits for the next round, and one another replica purged first
    is simply gone."""
    gone = 0
    for conversation_id in sharing.expired():
        try:
            sharing.purge(conversation_id, actor)
            gone += 1
        except (InvalidInput, NotFound):
            continue
    return gone


def sweep_images(db: Database, batch: int = IMAGE_BATCH) -> int:
    """Images nothing keeps (an upload never sent, anything a purge left), in short batches."""
    dropped = 0
    while True:
        with db.read() as session:
            found = unused_images(session, batch)
        if not found:
            return dropped
        with db.write() as session:
            dropped += drop_unused(session, found)
        if len(found) < batch:
            return dropped


class Housekeeper:
    def __init__(
        self, db: Database, sharing: SharingStore, *, every_s: float = EVERY_S, retention_days: float | None = None
    ) -> None:
        self.db = db
        self.sharing = sharing
        self.retention_days = retention_days
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="studio-housekeeping", daemon=True)
        self._thread.start()

    def run_once(self) -> Tidied:
        # Retention first: what it deletes leaves images that the sweep then drops.
        retained = 0 if self.retention_days is None else retention.sweep(self.db, self.sharing, self.retention_days)
        return Tidied(purged=purge_expired(self.sharing), images=sweep_images(self.db), retained=retained)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.run_once()
                if done.purged or done.images or done.retained:
                    log.info(
                        "housekeeping: %d conversation(s) purged, %d visitor conversation(s) past retention, "
                        "%d image(s) dropped",
                        done.purged,
                        done.retained,
                        done.images,
                    )
            except Exception:
                log.warning("housekeeping failed; trying again in %.0f s", self.every_s, exc_info=True)
            self._stop.wait(self.every_s)

    def close(self) -> None:
        self._stop.set()
