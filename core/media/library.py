"""The image library: uploads checked and stored once by content hash, display previews, and
small bounded caches of what never changes (an image's bytes and facts are immutable)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from core.errors import InvalidInput
from core.media import images
from core.storage.image_store import ImageStore
from core.values import StoredImage

# About 300 KB each: a bounded 20 MB or so, shared by every session of the process.
PREVIEW_CACHE_SIZE = 64
INFO_CACHE_SIZE = 100_000
# Images a person brought in this process (uploads, marked copies, a demo example's seed), so a
# message may attach them before any conversation holds them. A tab stays on its process and
# uploads at the moment it sends, so this bounded memory is enough.
GRANTS_SIZE = 20_000


@dataclass(frozen=True)
class Upload:
    image: StoredImage
    note: str | None = None


class ImageLibrary:
    def __init__(self, store: ImageStore, max_upload_bytes: int, long_side: int = images.DEFAULT_LONG_SIDE) -> None:
        self.store = store
        self.max_upload_bytes = max_upload_bytes
        self.long_side = long_side
        self._lock = threading.Lock()
        self._infos: dict[str, StoredImage] = {}
        self._previews: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._grants: OrderedDict[tuple[str, str], None] = OrderedDict()

    def add_upload(self, data: bytes, filename: str = "image", person: str | None = None) -> Upload:
        """Check and persist an uploaded image the moment it arrives; with `person`, it is theirs
        to attach (they hold its bytes)."""
        prepared = images.prepare_upload(data, filename, self.max_upload_bytes, self.long_side)
        original = self.put(prepared.original) if prepared.original is not None else None
        stored = self.put(
            prepared.data,
            prepared.mime_type,
            prepared.width,
            prepared.height,
            original.hash if original else None,
            note=prepared.kept_note,
        )
        if person is not None:
            self.grant(person, stored.hash)
        return Upload(stored, prepared.note)

    def grant(self, person: str, image_hash: str) -> None:
        """This person brought this image (see GRANTS_SIZE): they may attach it."""
        with self._lock:
            self._grants[(person, image_hash)] = None
            self._grants.move_to_end((person, image_hash))
            while len(self._grants) > GRANTS_SIZE:
                self._grants.popitem(last=False)

    def granted(self, person: str, image_hash: str) -> bool:
        with self._lock:
            return (person, image_hash) in self._grants

    def download(self, image_hash: str) -> tuple[bytes, str]:
        """What Download gives for an image: the full-size original of a downscaled upload."""
        info = self.info(image_hash)
        target = (info.original_hash if info else None) or image_hash
        data = self.store.data(target)
        return data, images.sniff_mime(data) or "application/octet-stream"

    def put(
        self,
        data: bytes,
        mime: str = "",
        width: int = 0,
        height: int = 0,
        original_hash: str | None = None,
        *,
        note: str | None = None,
    ) -> StoredImage:
        """Store image bytes once, with their display preview made now rather than on every show."""
        if not width:
            sniffed, width, height = images.describe(data)
            mime = mime or sniffed
        info = StoredImage(
            hash=images.content_hash(data),
            mime_type=mime,
            width=width,
            height=height,
            size_bytes=len(data),
            original_hash=original_hash,
            note=note,
        )
        if not self.store.has(info.hash):
            self.store.put(info, data, _preview_or_none(data), original_hash)
        return info

    def data(self, image_hash: str) -> bytes:
        return self.store.data(image_hash)

    def info(self, image_hash: str) -> StoredImage | None:
        with self._lock:
            cached = self._infos.get(image_hash)
        if cached is not None:
            return cached
        info = self.store.info(image_hash)
        if info is not None:
            with self._lock:
                if len(self._infos) > INFO_CACHE_SIZE:
                    self._infos.clear()
                self._infos[image_hash] = info
        return info

    def preview(self, image_hash: str) -> tuple[bytes, str] | None:
        """The stored display copy; images from before previews existed get one now, once.
        None when Pillow cannot read the image (it is still kept, replayed and downloadable).
        The newest few stay in memory (bounded): every rerun shows them again."""
        with self._lock:
            cached = self._previews.get(image_hash)
            if cached is not None:
                self._previews.move_to_end(image_hash)
                return cached
        found = self.store.preview(image_hash)
        if found is None:
            found = _preview_or_none(self.store.data(image_hash))
            if found is None:
                return None
            self.store.set_preview(image_hash, *found)
        with self._lock:
            self._previews[image_hash] = found
            while len(self._previews) > PREVIEW_CACHE_SIZE:
                self._previews.popitem(last=False)
        return found


def _preview_or_none(data: bytes) -> tuple[bytes, str] | None:
    # A model image Pillow cannot read must not cost the reply it came in.
    try:
        return images.make_preview(data)
    except (InvalidInput, OSError, ValueError):
        return None
