"""The gallery: every result image a person may see, newest first, with the prompt that made it,
and each person's favourites. Aggregated in SQL and paged, so it stays quick at thousands."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, literal, or_, select
from sqlalchemy.orm import aliased

from core.storage.database import Database
from core.storage.schema import ConversationRow, FavouriteRow, PartRow, TurnRow, VersionStatusRow, utcnow
from core.team.people import User
from core.values import TurnStatus


@dataclass(frozen=True, kw_only=True)
class GalleryItem:
    reply_id: int
    conversation_id: str
    title: str
    # Who made it (kept by a copy), not whose conversation it is in.
    owner: str | None
    model: str
    created_at: dt.datetime
    image_hash: str
    prompt: str
    favourite: bool
    # The version's review status (core/review): draft unless someone set it.
    status: str = "draft"


class Gallery:
    def __init__(self, db: Database) -> None:
        self.db = db

    def items(
        self,
        user: User,
        *,
        limit: int = 48,
        offset: int = 0,
        search: str | None = None,
        model: str | None = None,
        person: str | None = None,
        favourites_only: bool = False,
        approved_only: bool = False,
        since: dt.datetime | None = None,
    ) -> list[GalleryItem]:
        image = aliased(PartRow)
        later = aliased(PartRow)
        words = aliased(PartRow)
        # The result is the last non-thought image of the answer.
        result = (
            select(func.max(later.position))
            .where(later.turn_id == TurnRow.id, later.kind == "image", later.thought.is_not(True))
            .scalar_subquery()
        )
        prompt = (
            select(words.text)
            .where(words.turn_id == TurnRow.reply_to_id, words.kind == "text")
            .order_by(words.position)
            .limit(1)
            .scalar_subquery()
        )
        status = select(VersionStatusRow.status).where(VersionStatusRow.reply_id == TurnRow.id).scalar_subquery()
        # Who made it: a copy keeps its maker (rows from before revision tip_0011: the owner).
        author = func.coalesce(TurnRow.author, ConversationRow.owner)
        starred = select(literal(1)).where(FavouriteRow.turn_id == TurnRow.id, FavouriteRow.person == user.key).exists()
        query = (
            select(
                TurnRow.id,
                TurnRow.conversation_id,
                ConversationRow.title,
                author,
                ConversationRow.model,
                TurnRow.created_at,
                image.image_hash,
                prompt,
                starred,
                status,
            )
            .join(ConversationRow, ConversationRow.id == TurnRow.conversation_id)
            .join(image, and_(image.turn_id == TurnRow.id, image.position == result))
            .where(
                TurnRow.role == "model",
                TurnRow.status == TurnStatus.OK.value,
                ConversationRow.deleted_at.is_(None),
            )
        )
        if user.is_visitor:
            query = query.where(ConversationRow.owner == user.key)
        elif not user.is_admin:
            query = query.where(or_(ConversationRow.owner == user.key, ConversationRow.visibility == "team"))
        if model:
            query = query.where(ConversationRow.model == model)
        if since is not None:
            query = query.where(TurnRow.created_at >= since)
        if person:
            query = query.where(author == person.lower())
        if favourites_only:
            query = query.where(starred)
        if approved_only:
            query = query.where(status == "approved")
        if search and search.strip():
            pattern = f"%{search.strip().lower()}%"
            query = query.where(or_(func.lower(prompt).like(pattern), func.lower(ConversationRow.title).like(pattern)))
        query = query.order_by(TurnRow.created_at.desc(), TurnRow.id.desc()).limit(limit).offset(offset)
        with self.db.read() as db:
            return [
                GalleryItem(
                    reply_id=row[0],
                    conversation_id=row[1],
                    title=row[2],
                    owner=row[3],
                    model=row[4],
                    created_at=row[5],
                    image_hash=row[6],
                    prompt=row[7] or "",
                    favourite=bool(row[8]),
                    status=row[9] or "draft",
                )
                for row in db.execute(query)
            ]

    def starred(self, user: User, reply_ids: list[int]) -> set[int]:
        """Which of these results the person starred."""
        if not reply_ids:
            return set()
        with self.db.read() as db:
            query = select(FavouriteRow.turn_id).where(
                FavouriteRow.person == user.key, FavouriteRow.turn_id.in_(reply_ids)
            )
            return set(db.scalars(query))

    def toggle(self, user: User, reply_id: int) -> bool:
        """Star or unstar a result; whether it is starred now."""
        with self.db.write() as db:
            gone = db.execute(
                delete(FavouriteRow).where(FavouriteRow.person == user.key, FavouriteRow.turn_id == reply_id)
            ).rowcount  # type: ignore[attr-defined]
            if gone:
                return False
            db.add(FavouriteRow(person=user.key, turn_id=reply_id, created_at=utcnow()))
            return True
