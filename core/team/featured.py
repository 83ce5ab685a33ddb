"""Conversations an admin features as examples on a public demo's start page. Featuring shares
nothing else: a visitor sees a featured conversation only as an example, and takes it up as a
copy of their own."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.storage.database import Database
from core.storage.schema import AuditRow, ConversationRow, FeaturedRow, utcnow
from core.storage.store import touch


class Featured:
    def __init__(self, db: Database) -> None:
        self.db = db

    def feature(self, conversation_id: str, actor: str) -> None:
        with self.db.write() as db:
            touch(db, conversation_id, stamp=False, title=ConversationRow.title)  # missing: NotFound
            values = {"conversation_id": conversation_id, "featured_by": actor, "featured_at": utcnow()}
            insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
            db.execute(insert(FeaturedRow).values(**values).on_conflict_do_nothing(index_elements=["conversation_id"]))
            db.add(AuditRow(at=utcnow(), actor=actor, action="featured", conversation_id=conversation_id))

    def unfeature(self, conversation_id: str, actor: str) -> None:
        with self.db.write() as db:
            db.execute(delete(FeaturedRow).where(FeaturedRow.conversation_id == conversation_id))
            db.add(AuditRow(at=utcnow(), actor=actor, action="unfeatured", conversation_id=conversation_id))

    def ids(self) -> list[str]:
        """Featured conversations, oldest featured first (the order an admin built the page in)."""
        with self.db.read() as db:
            query = select(FeaturedRow.conversation_id).order_by(FeaturedRow.featured_at, FeaturedRow.conversation_id)
            return list(db.scalars(query))
