"""What this process sent recently, kept in memory so the next turn does not read it again.

Every turn re-sends its whole branch: on PostgreSQL that meant reading ~10 MB of signatures and
images over a socket per turn. What is cached cannot change: a finished turn's parts (keyed by
its id and the moment it was written, so an id reused after a delete is never mistaken for the
old turn), and an image's base64 text (keyed by its content hash). Exactness is untouched: a
cached turn is the very value the database gave. Bounded by bytes, least recently used first.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from core.values import Turn


def _turn_bytes(turn: Turn) -> int:
    return 256 + sum(len(p.signature or "") + len(p.text or "") for p in turn.parts)


class SentCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _get(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found[0]

    def _put(self, key: tuple[Any, ...], value: Any, size: int) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    # Turns --------------------------------------------------------------------------------

    def turns(
        self,
        turn_ids: set[int],
        stamps: Callable[[set[int]], dict[int, dt.datetime]],
        load: Callable[[set[int]], dict[int, Turn]],
    ) -> dict[int, Turn]:
        """Whole turns (signatures included), from memory where this process has them."""
        if self.max_bytes <= 0:
            return load(turn_ids)
        written = stamps(turn_ids)
        found: dict[int, Turn] = {}
        for turn_id in turn_ids:
            cached = self._get(("turn", turn_id, written.get(turn_id)))
            if cached is not None:
                found[turn_id] = cached
        missing = turn_ids - found.keys()
        if missing:
            for turn_id, turn in load(missing).items():
                found[turn_id] = turn
                self.keep(turn, written.get(turn_id))
        return found

    def keep(self, turn: Turn, written: dt.datetime | None) -> None:
        """Remember a turn that can no longer change (answered, failed, replaced...)."""
        if self.max_bytes <= 0 or written is None or turn.status.in_flight:
            return
        self._put(("turn", turn.id, written), turn, _turn_bytes(turn))

    # Images -------------------------------------------------------------------------------

    def images_b64(self, hashes: set[str], load: Callable[[set[str]], dict[str, bytes]]) -> dict[str, str]:
        """Images as the request carries them (base64), encoded once per process."""
        found: dict[str, str] = {}
        if self.max_bytes > 0:
            for image_hash in hashes:
                cached = self._get(("image", image_hash))
                if cached is not None:
                    found[image_hash] = cached
        missing = hashes - found.keys()
        if missing:
            for image_hash, data in load(missing).items():
                text = base64.b64encode(data).decode("ascii")
                found[image_hash] = text
                if self.max_bytes > 0:
                    self._put(("image", image_hash), text, len(text))
        return found
