"""The spool: answers the service gave (and billed) that the database could not take yet, kept on
local disk so that they outlive the process. One JSON file per turn, written whole (a temporary
file, fsync, rename), and locked with flock by whoever is landing it: the process that wrote it
holds the lock while it retries, and any process on this machine (the next start of this one
included) takes over a file nobody holds. The kernel drops the lock when its process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import make_url

log = logging.getLogger("studio.spool")


def spool_dir(root: Path, database_url: str) -> Path:
    """One folder per database, so an answer is never landed in another database."""
    url = make_url(database_url).render_as_string(hide_password=True)
    return root / hashlib.sha256(url.encode()).hexdigest()[:16]


class SpoolEntry:
    def __init__(self, path: Path, lock: IO[bytes], record: dict[str, Any]) -> None:
        self.path = path
        self._lock: IO[bytes] | None = lock
        self.record = record

    def done(self) -> None:
        """Landed: the file goes."""
        self.path.unlink(missing_ok=True)
        Path(f"{self.path}.lock").unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        """Not landed yet: the file stays for whoever tries next."""
        if self._lock is not None:
            self._lock.close()  # closing drops the flock
            self._lock = None


def _lock(path: Path, *, wait: bool) -> IO[bytes] | None:
    # A lock file beside the answer, never replaced (the answer itself is renamed into place).
    handle = open(f"{path}.lock", "a+b")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


class Spool:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def keep(self, name: str, record: dict[str, Any]) -> SpoolEntry:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.json"
        lock = _lock(path, wait=True)
        assert lock is not None
        temporary = self.folder / f"{name}.tmp"
        with open(temporary, "wb") as out:
            out.write(json.dumps(record, ensure_ascii=False).encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
        return SpoolEntry(path, lock, record)

    def pending(self) -> Iterator[SpoolEntry]:
        """The answers nobody is landing now, each locked for the caller (who must call done or
        release on it)."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.json")):
            lock = _lock(path, wait=False)
            if lock is None:
                continue
            try:
                record = json.loads(path.read_bytes().decode())
            except FileNotFoundError:  # landed and removed between the listing and the lock
                lock.close()
                continue
            except ValueError:
                log.error("spool file %s is unreadable; left in place", path)
                lock.close()
                continue
            yield SpoolEntry(path, lock, record)

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0
