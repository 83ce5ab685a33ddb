"""Each person's inbox: comments on their conversations, mentions of them, and status changes
where they commented; newest first, paged in SQL. Only entries of conversations the person may
read now are shown or counted (a conversation made private again, or trashed, drops out)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.sql import Select

from core.storage.database import Database
from core.storage.schema import CommentRow, ConversationRow, InboxRow, utcnow
from core.team import access
from core.team.people import User


@dataclass(frozen=True, kw_only=True)
class InboxEntry:
    id: int
    kind: str  # "comment" on my conversation, "mention" of me, "status" where I commented
    conversation_id: str
    title: str
    reply_id: int
    actor: str
    actor_name: str
    detail: str  # the comment's words as they are now, or "v2: approved"
    at: dt.datetime
    read: bool


class Inbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _readable(self, user: User, query: Select) -> Select:
        query = query.join(ConversationRow, ConversationRow.id == InboxRow.conversation_id).where(
            InboxRow.person == user.key, ConversationRow.deleted_at.is_(None)
        )
        if not user.is_admin:
            query = query.where(or_(ConversationRow.owner == user.key, ConversationRow.visibility == access.TEAM))
        return query

    def entries(self, user: User, *, limit: int = 50, offset: int = 0, unread_only: bool = False) -> list[InboxEntry]:
        query = self._readable(
            user,
            select(
                InboxRow.id,
                InboxRow.kind,
                InboxRow.conversation_id,
                ConversationRow.title,
                InboxRow.reply_id,
                InboxRow.actor,
                InboxRow.actor_name,
                func.coalesce(CommentRow.body, InboxRow.detail),
                InboxRow.at,
                InboxRow.read_at,
            ).outerjoin(CommentRow, CommentRow.id == InboxRow.comment_id),
        )
        if unread_only:
            query = query.where(InboxRow.read_at.is_(None))
        query = query.order_by(InboxRow.at.desc(), InboxRow.id.desc()).limit(limit).offset(offset)
        with self.db.read() as db:
            return [
                InboxEntry(
                    id=row[0],
                    kind=row[1],
                    conversation_id=row[2],
                    title=row[3],
                    reply_id=row[4],
                    actor=row[5],
                    actor_name=row[6],
                    detail=row[7] or "",
                    at=row[8],
                    read=row[9] is not None,
                )
                for row in db.execute(query)
            ]

    def unread(self, user: User) -> int:
        query = self._readable(user, select(func.count()).select_from(InboxRow)).where(InboxRow.read_at.is_(None))
        with self.db.read() as db:
            return int(db.scalar(query) or 0)

    def mark_read(self, user: User, entry_ids: list[int] | None = None) -> int:
        """These entries (or all of them) read; only the person's own."""
        query = update(InboxRow).where(InboxRow.person == user.key, InboxRow.read_at.is_(None))
        if entry_ids is not None:
            if not entry_ids:
                return 0
            query = query.where(InboxRow.id.in_(entry_ids))
        with self.db.write() as db:
            return int(db.execute(query.values(read_at=utcnow())).rowcount)  # type: ignore[attr-defined]
