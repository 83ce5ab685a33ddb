"""The team's brand kit: reference images (product shots, logos, characters, styles) with a
name and tags. An item's image is an upload like any other (checked, converted, sized for the
model, stored once by content hash); retiring an item hides it from the picker, and
conversations that used it keep their copy, since their parts name the image itself."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Text, cast, func, or_, select, update

from core.errors import InvalidInput, NotFound
from core.storage.database import Database
from core.storage.schema import AuditRow, ConversationRow, KitItemRow, PartRow, TurnRow, utcnow
from core.team import access
from core.team.people import User

NO_ITEM = "That brand kit item does not exist."


@dataclass(frozen=True, kw_only=True)
class KitItem:
    id: int
    name: str
    tags: tuple[str, ...]
    image_hash: str
    owner: str
    created_at: dt.datetime
    retired_at: dt.datetime | None


@dataclass(frozen=True, kw_only=True)
class KitUse:
    """A conversation that used the item, as far as the person may read it."""

    conversation_id: str
    title: str
    owner: str | None
    turns: int
    last_at: dt.datetime


def _item(row: KitItemRow) -> KitItem:
    return KitItem(
        id=row.id,
        name=row.name,
        tags=tuple(row.tags or ()),
        image_hash=row.image_hash,
        owner=row.owner,
        created_at=row.created_at,
        retired_at=row.retired_at,
    )


class Kit:
    def __init__(self, db: Database) -> None:
        self.db = db

    def items(self, *, search: str | None = None, retired: bool = False) -> list[KitItem]:
        query = select(KitItemRow).where(
            KitItemRow.retired_at.is_not(None) if retired else KitItemRow.retired_at.is_(None)
        )
        if search and search.strip():
            pattern = f"%{search.strip().lower()}%"
            query = query.where(
                or_(func.lower(KitItemRow.name).like(pattern), func.lower(cast(KitItemRow.tags, Text)).like(pattern))
            )
        with self.db.read() as db:
            return [_item(r) for r in db.scalars(query.order_by(func.lower(KitItemRow.name), KitItemRow.id))]

    def item(self, item_id: int) -> KitItem:
        with self.db.read() as db:
            row = db.get(KitItemRow, item_id)
            if row is None:
                raise NotFound(NO_ITEM)
            return _item(row)

    def add(self, owner: User, image_hash: str, name: str, tags: list[str]) -> KitItem:
        """One item per image: the same picture added again names the item it already is."""
        with self.db.write() as db:
            same = db.scalar(
                select(KitItemRow).where(KitItemRow.image_hash == image_hash, KitItemRow.retired_at.is_(None))
            )
            if same is not None:
                raise InvalidInput(f"This image is already in the brand kit, as “{same.name}”.")
            row = KitItemRow(name=name, tags=tags, image_hash=image_hash, owner=owner.key, created_at=utcnow())
            db.add(row)
            db.flush()
            db.add(AuditRow(at=utcnow(), actor=owner.key, action="kit added", conversation_id=None, detail=name))
            return _item(row)

    def retire(self, item_id: int, actor: User) -> None:
        """A conditional update: only an item still in use is retired, once."""
        with self.db.write() as db:
            row = db.get(KitItemRow, item_id)
            if row is None:
                raise NotFound(NO_ITEM)
            done = db.execute(
                update(KitItemRow)
                .where(KitItemRow.id == item_id, KitItemRow.retired_at.is_(None))
                .values(retired_at=utcnow(), retired_by=actor.key)
            ).rowcount  # type: ignore[attr-defined]
            if not done:
                raise InvalidInput("That item is already retired.")
            db.add(AuditRow(at=utcnow(), actor=actor.key, action="kit retired", conversation_id=None, detail=row.name))

    def active_hashes(self, hashes: list[str]) -> set[str]:
        """Which of these images are items of the kit now (anyone signed in may attach them)."""
        if not hashes:
            return set()
        with self.db.read() as db:
            return set(
                db.scalars(
                    select(KitItemRow.image_hash).where(
                        KitItemRow.image_hash.in_(hashes), KitItemRow.retired_at.is_(None)
                    )
                )
            )

    def uses(self, user: User, item_id: int) -> list[KitUse]:
        """Where the item's image went: conversations whose messages carry it, those the person
        may read, most recent first (derived from the parts themselves, so always true)."""
        item = self.item(item_id)
        query = (
            select(
                ConversationRow.id,
                ConversationRow.title,
                ConversationRow.owner,
                func.count(func.distinct(TurnRow.id)),
                func.max(TurnRow.created_at),
            )
            .select_from(PartRow)
            .join(TurnRow, TurnRow.id == PartRow.turn_id)
            .join(ConversationRow, ConversationRow.id == TurnRow.conversation_id)
            .where(PartRow.image_hash == item.image_hash, TurnRow.role == "user", ConversationRow.deleted_at.is_(None))
            .group_by(ConversationRow.id, ConversationRow.title, ConversationRow.owner)
            .order_by(func.max(TurnRow.created_at).desc())
        )
        if not user.is_admin:
            query = query.where(or_(ConversationRow.owner == user.key, ConversationRow.visibility == access.TEAM))
        with self.db.read() as db:
            return [
                KitUse(conversation_id=r[0], title=r[1], owner=r[2], turns=int(r[3]), last_at=r[4])
                for r in db.execute(query)
            ]
