"""Image rows: stored once by content hash, read by hash. Bytes never change once written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from core.errors import NotFound
from core.storage.database import Database
from core.storage.schema import ImageRow, KitItemRow, PartRow, utcnow
from core.values import StoredImage

# A tab may hold a fresh image (an upload, a seed) for a message not sent yet: never collected.
FRESH = dt.timedelta(days=1)


def _unused(cutoff: dt.datetime) -> ColumnElement[bool]:
    pointing = aliased(ImageRow)
    # A part, or the brand kit (retired items too: their picture stays in its history), keeps it.
    used = or_(
        exists().where(PartRow.image_hash == ImageRow.hash), exists().where(KitItemRow.image_hash == ImageRow.hash)
    )
    pointing_kept = or_(
        pointing.created_at >= cutoff,
        exists().where(PartRow.image_hash == pointing.hash),
        exists().where(KitItemRow.image_hash == pointing.hash),
    )
    original_of_kept = exists().where(pointing.original_hash == ImageRow.hash, pointing_kept)
    return and_(ImageRow.created_at < cutoff, ~used, ~original_of_kept)


def drop_unused(db: Session, candidates: Iterable[str]) -> int:
    """Delete those of `candidates` nothing keeps: no part refers to them, they are older than a
    day, and no kept image points to them (the full-size original of a downscaled upload is
    reached only through the upload's `original_hash`; Original download and Mark a region read
    it). Checked again in this transaction, so a stale list deletes nothing still kept."""
    chosen = set(candidates)
    if not chosen:
        return 0
    condition = and_(ImageRow.hash.in_(chosen), _unused(utcnow() - FRESH))
    return int(db.execute(delete(ImageRow).where(condition)).rowcount)  # type: ignore[attr-defined]


def unused_images(db: Session, limit: int) -> list[str]:
    """Up to `limit` images nothing keeps (see drop_unused), for housekeeping's sweep."""
    return list(db.scalars(select(ImageRow.hash).where(_unused(utcnow() - FRESH)).limit(limit)))


class ImageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(
        self,
        image: StoredImage,
        data: bytes,
        preview: tuple[bytes, str] | None = None,
        original_hash: str | None = None,
    ) -> str:
        """Insert once; two sessions storing the same image at once both succeed."""
        values = {
            "original_hash": original_hash,
            "upload_note": image.note,
            "hash": image.hash,
            "mime_type": image.mime_type,
            "width": image.width,
            "height": image.height,
            "size_bytes": image.size_bytes,
            "data": data,
            "preview": preview[0] if preview else None,
            "preview_mime": preview[1] if preview else None,
        }
        with self.db.write() as db:
            if self.db.dialect == "postgresql":
                db.execute(pg_insert(ImageRow).values(**values).on_conflict_do_nothing(index_elements=["hash"]))
            elif self.db.dialect == "sqlite":
                db.execute(sqlite_insert(ImageRow).values(**values).on_conflict_do_nothing(index_elements=["hash"]))
            elif db.get(ImageRow, image.hash) is None:
                db.add(ImageRow(**values))
        return image.hash

    def has(self, image_hash: str) -> bool:
        with self.db.read() as db:
            return db.scalar(select(func.count()).where(ImageRow.hash == image_hash)) == 1

    def data(self, image_hash: str) -> bytes:
        with self.db.read() as db:
            data = db.scalar(select(ImageRow.data).where(ImageRow.hash == image_hash))
        if data is None:
            raise NotFound(f"Image {image_hash[:12]} is not in the store.")
        return data

    def _by_hash(self, column: Any, hashes: set[str]) -> dict[str, Any]:
        if not hashes:
            return {}
        with self.db.read() as db:
            return {h: v for h, v in db.execute(select(ImageRow.hash, column).where(ImageRow.hash.in_(hashes)))}

    def datas(self, hashes: set[str]) -> dict[str, bytes]:
        return self._by_hash(ImageRow.data, hashes)

    def sizes(self, hashes: set[str]) -> dict[str, int]:
        return self._by_hash(ImageRow.size_bytes, hashes)

    def info(self, image_hash: str) -> StoredImage | None:
        with self.db.read() as db:
            row = db.execute(
                select(
                    ImageRow.hash,
                    ImageRow.mime_type,
                    ImageRow.width,
                    ImageRow.height,
                    ImageRow.size_bytes,
                    ImageRow.original_hash,
                    ImageRow.upload_note,
                ).where(ImageRow.hash == image_hash)
            ).first()
        if row is None:
            return None
        return StoredImage(
            hash=row.hash,
            mime_type=row.mime_type,
            width=row.width,
            height=row.height,
            size_bytes=row.size_bytes,
            original_hash=row.original_hash,
            note=row.upload_note,
        )

    def preview(self, image_hash: str) -> tuple[bytes, str] | None:
        with self.db.read() as db:
            row = db.execute(select(ImageRow.preview, ImageRow.preview_mime).where(ImageRow.hash == image_hash)).first()
        if row is None or row[0] is None:
            return None
        return row[0], row[1] or "image/png"

    def set_preview(self, image_hash: str, preview: bytes, mime: str) -> None:
        with self.db.write() as db:
            db.execute(update(ImageRow).where(ImageRow.hash == image_hash).values(preview=preview, preview_mime=mime))
