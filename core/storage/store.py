"""The store: conversations and the reads of their turns, behind short units of work.

Turn writes (queue, claim, heartbeat, finish, cancel) are in core/turns/lifecycle.py; image rows in
core/storage/image_store.py. A DB session lives for one unit of work and is never held across a call.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Engine, case, delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from core.errors import NotFound
from core.storage.database import Database, check_schema, make_engine, migrate
from core.storage.image_store import ImageStore, drop_unused
from core.storage.rows import (
    CONVERSATION_COLUMNS,
    DISPLAY_PART_COLUMNS,
    OUTLINE_COLUMNS,
    TURN_COLUMNS,
    conversation_value,
    outline_value,
    turn_value,
)
from core.storage.schema import ConversationRow, ImageRow, PartRow, TurnRow, utcnow
from core.values import (
    Conversation,
    ConversationSummary,
    GenerationSettings,
    Part,
    Turn,
    TurnStatus,
    pair_exchanges,
    path_to,
    shown_on,
)

NO_CONVERSATION = "That conversation does not exist (it may have been deleted)."
IN_FLIGHT = (TurnStatus.QUEUED.value, TurnStatus.RUNNING.value)


class Store:
    def __init__(self, database_url: str, *, engine: Engine | None = None, run_migrations: bool = True) -> None:
        self.engine = engine or make_engine(database_url)
        if run_migrations:
            migrate(self.engine)
        else:
            check_schema(self.engine)
        self.db = Database(self.engine)
        self.images = ImageStore(self.db)
        self.read = self.db.read
        self.write = self.db.write

    # Conversations ------------------------------------------------------------------------

    def create_conversation(
        self, title: str, model: str, settings: GenerationSettings, owner: str | None = None
    ) -> Conversation:
        now = utcnow()
        row = ConversationRow(
            id=uuid.uuid4().hex,
            title=title[:200],
            model=model,
            settings=settings.to_dict(),
            owner=owner,
            created_at=now,
            updated_at=now,
        )
        with self.write() as db:
            db.add(row)
        return Conversation(
            id=row.id, title=row.title, model=model, settings=settings, created_at=now, updated_at=now, owner=owner
        )

    def conversation(self, conversation_id: str, *, with_turns: bool = True, signatures: bool = True) -> Conversation:
        """The conversation and its turns. `signatures=False` is for display: signatures can
        weigh hundreds of KB a part and only a request needs them, so they stay in the database
        (such a copy must never be replayed)."""
        with self.read() as db:
            query = select(ConversationRow).where(ConversationRow.id == conversation_id)
            if with_turns:
                parts = selectinload(ConversationRow.turns).selectinload(TurnRow.parts)
                if not signatures:
                    parts = parts.defer(PartRow.signature, raiseload=True).defer(PartRow.wire, raiseload=True)
                query = query.options(parts)
            row = db.scalar(query)
            if row is None:
                raise NotFound(NO_CONVERSATION)
            turns = [turn_value(t, signatures) for t in row.turns] if with_turns else []
            return conversation_value(row, turns)

    def turn_weights(self, turn_ids: set[int]) -> dict[int, int]:
        """Bytes each turn adds to a request body, as measured when it was written."""
        if not turn_ids:
            return {}
        with self.read() as db:
            rows = db.execute(select(TurnRow.id, TurnRow.weight).where(TurnRow.id.in_(turn_ids)))
            return {turn_id: weight for turn_id, weight in rows if weight is not None}

    def conversation_window(self, conversation_id: str, visible: int) -> Conversation:
        """A display copy: every turn's status, but parts (without signatures) only for the
        newest `visible` exchanges, so a long conversation reruns as fast as a short one. Plain
        column rows, not ORM objects: this runs on every rerun of the page."""
        with self.read() as db:
            head = db.execute(select(*CONVERSATION_COLUMNS).where(ConversationRow.id == conversation_id)).first()
            if head is None:
                raise NotFound(NO_CONVERSATION)
            outline = db.execute(
                select(*OUTLINE_COLUMNS).where(TurnRow.conversation_id == conversation_id).order_by(TurnRow.position)
            ).all()
            # The newest `visible` exchanges of the current branch (what the chat shows).
            exchanges = pair_exchanges([outline_value(t) for t in outline])
            shown = shown_on(exchanges, head.tip_id)
            wanted = {e.request.id for e in shown[-visible:]} if visible > 0 else set()
            # The current version's siblings too: their words tell takes (shown beside it) from
            # edited prompts (other branches, behind the switcher).
            path = path_to(exchanges, head.tip_id)
            if path and visible > 0:
                wanted |= {e.request.id for e in exchanges if e.request.parent_id == path[-1].request.parent_id}
            wanted |= {t.id for t in outline if t.reply_to_id in wanted}
            parts: dict[int, list[Any]] = {i: [] for i in wanted}
            details = {}
            if wanted:
                details = {t.id: t for t in db.execute(select(*TURN_COLUMNS).where(TurnRow.id.in_(wanted)))}
                found = db.execute(
                    select(*DISPLAY_PART_COLUMNS)
                    .where(PartRow.turn_id.in_(wanted))
                    .order_by(PartRow.turn_id, PartRow.position)
                )
                for part in found:
                    parts[part.turn_id].append(part)
        turns = [turn_value(details[t.id], False, parts[t.id]) if t.id in wanted else outline_value(t) for t in outline]
        return conversation_value(head, turns)

    def conversations(
        self,
        owner: str | None = None,
        limit: int = 200,
        *,
        visibility: str | None = None,
        deleted: bool = False,
        search: str | None = None,
        model: str | None = None,
        offset: int = 0,
        since: dt.datetime | None = None,
    ) -> list[ConversationSummary]:
        """Summaries, newest activity first. `search` looks in titles and in the words of prompts."""
        # Filtered on the conversation alone, the role counted inside: with `role = 'user'` in the
        # WHERE, SQLite (no statistics) searched ix_turns_results by role, every user turn of
        # every conversation for each row listed: a visitor's sidebar took 2x as long with 10,000
        # other visitors' conversations in the database.
        turn_count = (
            select(func.coalesce(func.sum(case((TurnRow.role == "user", 1), else_=0)), 0)).where(
                TurnRow.conversation_id == ConversationRow.id
            )
        ).scalar_subquery()

        # The thumbnail is a result: the newest image the model made, else the newest upload of a
        # turn that was sent; never a refused upload or a draft the model only thought about.
        def newest_image(role: str) -> Any:
            return (
                select(PartRow.image_hash)
                .join(TurnRow, PartRow.turn_id == TurnRow.id)
                .where(
                    TurnRow.conversation_id == ConversationRow.id,
                    TurnRow.role == role,
                    TurnRow.status == TurnStatus.OK.value,
                    PartRow.kind == "image",
                    PartRow.thought.is_not(True),
                )
                .order_by(TurnRow.position.desc(), PartRow.position.desc())
                .limit(1)
                .scalar_subquery()
            )

        thumbnail = func.coalesce(newest_image("model"), newest_image("user"))
        query = select(
            ConversationRow.id,
            ConversationRow.title,
            ConversationRow.model,
            ConversationRow.updated_at,
            turn_count,
            thumbnail,
            ConversationRow.owner,
            ConversationRow.visibility,
            ConversationRow.deleted_at,
            ConversationRow.share_token,
        )
        if owner is not None:
            query = query.where(ConversationRow.owner == owner)
        if visibility is not None:
            query = query.where(ConversationRow.visibility == visibility)
        query = query.where(
            ConversationRow.deleted_at.is_not(None) if deleted else ConversationRow.deleted_at.is_(None)
        )
        if model:
            query = query.where(ConversationRow.model == model)
        if since is not None:
            query = query.where(ConversationRow.updated_at >= since)
        if search and search.strip():
            pattern = f"%{search.strip().lower()}%"
            in_prompts = (
                select(TurnRow.id)
                .join(PartRow, PartRow.turn_id == TurnRow.id)
                .where(
                    TurnRow.conversation_id == ConversationRow.id,
                    TurnRow.role == "user",
                    func.lower(PartRow.text).like(pattern),
                )
                .exists()
            )
            query = query.where(func.lower(ConversationRow.title).like(pattern) | in_prompts)
        query = query.order_by(ConversationRow.updated_at.desc()).limit(limit).offset(offset)
        with self.read() as db:
            return [
                ConversationSummary(
                    id=row[0],
                    title=row[1],
                    model=row[2],
                    updated_at=row[3],
                    turn_count=row[4],
                    thumbnail_hash=row[5],
                    owner=row[6],
                    visibility=row[7] or "private",
                    deleted_at=row[8],
                    share_token=row[9],
                )
                for row in db.execute(query)
            ]

    def rename(self, conversation_id: str, title: str) -> None:
        with self.write() as db:
            touch(db, conversation_id, title=title[:200])

    def update_settings(self, conversation_id: str, settings: GenerationSettings) -> None:
        with self.write() as db:
            touch(db, conversation_id, settings=settings.to_dict(), stamp=False)

    def set_model(self, conversation_id: str, model: str) -> None:
        with self.write() as db:
            touch(db, conversation_id, model=model, stamp=False)

    # Turn reads ---------------------------------------------------------------------------

    def user_images(self, conversation_id: str) -> dict[int, list[Part]]:
        """The images of each user turn, without loading any other part."""
        query = (
            select(PartRow.turn_id, PartRow.image_hash, PartRow.mime_type)
            .join(TurnRow, PartRow.turn_id == TurnRow.id)
            .where(TurnRow.conversation_id == conversation_id, TurnRow.role == "user", PartRow.kind == "image")
            .order_by(PartRow.turn_id, PartRow.position)
        )
        found: dict[int, list[Part]] = {}
        with self.read() as db:
            for turn_id, image_hash, mime in db.execute(query):
                found.setdefault(turn_id, []).append(Part("image", image_hash=image_hash, mime_type=mime))
        return found

    def outlines(self, turn_ids: set[int]) -> dict[int, Turn]:
        """Status and lease of these turns: what a watching tab polls."""
        if not turn_ids:
            return {}
        with self.read() as db:
            rows = db.execute(select(*OUTLINE_COLUMNS).where(TurnRow.id.in_(turn_ids)))
            return {row.id: outline_value(row) for row in rows}

    def version(self, conversation_id: str) -> int | None:
        """The newest turn's id: a tab compares it with the one it shows to see new turns."""
        with self.read() as db:
            return db.scalar(select(func.max(TurnRow.id)).where(TurnRow.conversation_id == conversation_id))

    def tip(self, conversation_id: str) -> int | None:
        """The current version (another tab or a Branch from here may have moved it)."""
        with self.read() as db:
            return db.scalar(select(ConversationRow.tip_id).where(ConversationRow.id == conversation_id))

    def queue_places(self, turns: list[Turn]) -> dict[int, int]:
        """1-based place of each queued turn in its process's line (oldest first)."""
        places: dict[int, int] = {}
        with self.read() as db:
            for turn in turns:
                if turn.status != TurnStatus.QUEUED:
                    continue
                ahead = db.scalar(
                    select(func.count()).where(
                        TurnRow.status == TurnStatus.QUEUED.value,
                        TurnRow.lease_owner == turn.lease_owner,
                        TurnRow.id < turn.id,
                    )
                )
                places[turn.id] = int(ahead or 0) + 1
        return places

    def turns(self, turn_ids: set[int]) -> dict[int, Turn]:
        """Whole turns, signatures included: what a request replays."""
        if not turn_ids:
            return {}
        with self.read() as db:
            rows = db.scalars(select(TurnRow).where(TurnRow.id.in_(turn_ids)).options(selectinload(TurnRow.parts)))
            return {row.id: turn_value(row) for row in rows}

    def turn_stamps(self, turn_ids: set[int]) -> dict[int, dt.datetime]:
        """When each turn was written: with its id, what tells a cached copy is still that turn."""
        if not turn_ids:
            return {}
        with self.read() as db:
            rows = db.execute(select(TurnRow.id, TurnRow.created_at).where(TurnRow.id.in_(turn_ids)))
            return {turn_id: created for turn_id, created in rows}

    def turn(self, turn_id: int) -> Turn:
        with self.read() as db:
            row = db.get(TurnRow, turn_id)
            if row is None:
                raise NotFound("That turn no longer exists (its conversation may have been deleted).")
            return turn_value(row)

    def reply_to(self, request_id: int) -> Turn | None:
        with self.read() as db:
            row = db.scalar(select(TurnRow).where(TurnRow.reply_to_id == request_id))
            return turn_value(row) if row is not None else None


def delete_conversation(db: Session, conversation_id: str) -> None:
    """Delete a conversation for good, and those of its images nothing else keeps (see
    drop_unused: recent ones, and originals a kept image points to, stay). Only its own images
    are looked at, through indexes: the whole table is housekeeping's."""
    own = select(PartRow.image_hash).join(TurnRow, PartRow.turn_id == TurnRow.id)
    own = own.where(TurnRow.conversation_id == conversation_id, PartRow.image_hash.is_not(None))
    hashes: set[str] = {h for h in db.scalars(own) if h}
    if hashes:
        hashes |= {h for h in db.scalars(select(ImageRow.original_hash).where(ImageRow.hash.in_(hashes))) if h}
    db.execute(delete(ConversationRow).where(ConversationRow.id == conversation_id))
    drop_unused(db, hashes)


def touch(db: Session, conversation_id: str, *, stamp: bool = True, **values: Any) -> None:
    """Update the conversation row first in every write unit: on PostgreSQL this takes the row's
    lock, so writers of one conversation queue here and positions stay unique."""
    if stamp:
        values["updated_at"] = utcnow()
    result = db.execute(update(ConversationRow).where(ConversationRow.id == conversation_id).values(**values))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(NO_CONVERSATION)
