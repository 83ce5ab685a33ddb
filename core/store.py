"""The store: conversations, turns, parts and images behind short units of work.

A DB session lives for one unit of work (`with store.write() as db:`) and is never held across
the model call. On SQLite, write units start with BEGIN IMMEDIATE so concurrent writers queue
on busy_timeout instead of failing with "database is locked" on a lock upgrade.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, LargeBinary, String, cast, delete, func, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from core.database import make_engine, migrate
from core.errors import NotFound
from core.replay import CONTENT_OVERHEAD, PART_OVERHEAD
from core.rows import (
    CONVERSATION_COLUMNS,
    DISPLAY_PART_COLUMNS,
    OUTLINE_COLUMNS,
    TURN_COLUMNS,
    conversation_value,
    outline_value,
    part_rows,
    turn_value,
)
from core.schema import ConversationRow, ImageRow, PartRow, TurnRow, utcnow
from core.values import (
    Conversation,
    ConversationSummary,
    GenerationSettings,
    Part,
    StoredImage,
    Turn,
    TurnStatus,
)

NO_CONVERSATION = "That conversation does not exist (it may have been deleted)."
INTERRUPTED_MESSAGE = "The studio stopped while this turn was being made. Your words and images are kept; retry it."


class Store:
    def __init__(self, database_url: str, *, engine: Engine | None = None, run_migrations: bool = True) -> None:
        self.engine = engine or make_engine(database_url)
        if run_migrations:
            migrate(self.engine)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as db:
            yield db

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._writer.begin() as db:
            yield db

    # Images -------------------------------------------------------------------------------

    def put_image(self, image: StoredImage, data: bytes, preview: tuple[bytes, str] | None = None) -> str:
        with self.write() as db:
            if db.get(ImageRow, image.hash) is None:
                db.add(
                    ImageRow(
                        hash=image.hash,
                        mime_type=image.mime_type,
                        width=image.width,
                        height=image.height,
                        size_bytes=image.size_bytes,
                        data=data,
                        preview=preview[0] if preview else None,
                        preview_mime=preview[1] if preview else None,
                    )
                )
        return image.hash

    def has_image(self, image_hash: str) -> bool:
        with self.read() as db:
            return db.scalar(select(func.count()).where(ImageRow.hash == image_hash)) == 1

    def image_bytes(self, image_hash: str) -> bytes:
        with self.read() as db:
            data = db.scalar(select(ImageRow.data).where(ImageRow.hash == image_hash))
        if data is None:
            raise NotFound(f"Image {image_hash[:12]} is not in the store.")
        return data

    def _by_hash(self, column: Any, hashes: set[str]) -> dict[str, Any]:
        if not hashes:
            return {}
        with self.read() as db:
            return {h: v for h, v in db.execute(select(ImageRow.hash, column).where(ImageRow.hash.in_(hashes)))}

    def images_bytes(self, hashes: set[str]) -> dict[str, bytes]:
        return self._by_hash(ImageRow.data, hashes)

    def image_sizes(self, hashes: set[str]) -> dict[str, int]:
        return self._by_hash(ImageRow.size_bytes, hashes)

    def image_info(self, image_hash: str) -> StoredImage | None:
        with self.read() as db:
            row = db.get(ImageRow, image_hash)
            if row is None:
                return None
            return StoredImage(row.hash, row.mime_type, row.width, row.height, row.size_bytes)

    def image_preview(self, image_hash: str) -> tuple[bytes, str] | None:
        with self.read() as db:
            row = db.execute(select(ImageRow.preview, ImageRow.preview_mime).where(ImageRow.hash == image_hash)).first()
        if row is None or row[0] is None:
            return None
        return row[0], row[1] or "image/png"

    def set_image_preview(self, image_hash: str, preview: bytes, mime: str) -> None:
        with self.write() as db:
            db.execute(update(ImageRow).where(ImageRow.hash == image_hash).values(preview=preview, preview_mime=mime))

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
        return Conversation(row.id, row.title, model, settings, now, now, owner)

    def conversation(self, conversation_id: str, *, with_turns: bool = True, signatures: bool = True) -> Conversation:
        """The conversation and its turns. `signatures=False` is for display: signatures can
        weigh hundreds of KB a part and only a request needs them, so they stay in the database
        (such a copy must never be replayed)."""
        with self.read() as db:
            query = select(ConversationRow).where(ConversationRow.id == conversation_id)
            if with_turns:
                parts = selectinload(ConversationRow.turns).selectinload(TurnRow.parts)
                if not signatures:
                    parts = parts.defer(PartRow.signature, raiseload=True)
                query = query.options(parts)
            row = db.scalar(query)
            if row is None:
                raise NotFound(NO_CONVERSATION)
            turns = [turn_value(t, signatures) for t in row.turns] if with_turns else []
            return conversation_value(row, turns)

    def turn_weights(self, conversation_id: str, turn_ids: set[int] | None = None) -> dict[int, int]:
        """Bytes each turn adds to a request body, summed in the database without loading any
        signature or image: the size meter's input."""
        weight = func.sum(
            PART_OVERHEAD
            + func.coalesce(func.length(cast(PartRow.text, LargeBinary)), 0)
            + func.coalesce(func.length(PartRow.signature), 0)
            + func.coalesce(4 * ((ImageRow.size_bytes + 2) / 3), 0)
            + func.coalesce(func.length(cast(PartRow.extra, String)), 0)
        )
        query = (
            select(TurnRow.id, weight)
            .join(PartRow, PartRow.turn_id == TurnRow.id)
            .outerjoin(ImageRow, ImageRow.hash == PartRow.image_hash)
            .where(TurnRow.conversation_id == conversation_id)
            .group_by(TurnRow.id)
        )
        if turn_ids is not None:
            query = query.where(TurnRow.id.in_(turn_ids))
        with self.read() as db:
            return {turn_id: CONTENT_OVERHEAD + int(total or 0) for turn_id, total in db.execute(query)}

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
            requests = [t for t in outline if t.role == "user"][-visible:] if visible > 0 else []
            wanted = {t.id for t in requests}
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

    def conversations(self, owner: str | None = None, limit: int = 200) -> list[ConversationSummary]:
        turn_count = (
            select(func.count()).where(TurnRow.conversation_id == ConversationRow.id, TurnRow.role == "user")
        ).scalar_subquery()
        # The newest image of the conversation, model results first, for the thumbnail.
        thumbnail = (
            select(PartRow.image_hash)
            .join(TurnRow, PartRow.turn_id == TurnRow.id)
            .where(TurnRow.conversation_id == ConversationRow.id, PartRow.kind == "image", PartRow.thought.is_not(True))
            .order_by(TurnRow.position.desc(), PartRow.position.desc())
            .limit(1)
        ).scalar_subquery()
        query = select(
            ConversationRow.id,
            ConversationRow.title,
            ConversationRow.model,
            ConversationRow.updated_at,
            turn_count,
            thumbnail,
        )
        if owner is not None:
            query = query.where(ConversationRow.owner == owner)
        query = query.order_by(ConversationRow.updated_at.desc()).limit(limit)
        with self.read() as db:
            return [ConversationSummary(*row) for row in db.execute(query)]

    def rename(self, conversation_id: str, title: str) -> None:
        with self.write() as db:
            self._touch(db, conversation_id, title=title[:200])

    def update_settings(self, conversation_id: str, settings: GenerationSettings) -> None:
        with self.write() as db:
            self._touch(db, conversation_id, settings=settings.to_dict(), stamp=False)

    def set_model(self, conversation_id: str, model: str) -> None:
        with self.write() as db:
            self._touch(db, conversation_id, model=model, stamp=False)

    def drafts(self, conversation_id: str) -> list[str]:
        with self.read() as db:
            found = db.execute(
                select(ConversationRow.draft_images).where(ConversationRow.id == conversation_id)
            ).first()
        if found is None:
            raise NotFound(NO_CONVERSATION)
        return list(found[0] or [])

    def set_drafts(self, conversation_id: str, hashes: list[str]) -> None:
        with self.write() as db:
            self._touch(db, conversation_id, draft_images=list(hashes), stamp=False)

    def delete(self, conversation_id: str) -> None:
        with self.write() as db:
            db.execute(delete(ConversationRow).where(ConversationRow.id == conversation_id))
            # Images no part refers to any more, leaving recent uploads not yet sent alone.
            cutoff = utcnow() - dt.timedelta(days=1)
            used = select(PartRow.image_hash).where(PartRow.image_hash.is_not(None))
            drafts = {h for row in db.scalars(select(ConversationRow.draft_images)) for h in (row or [])}
            db.execute(
                delete(ImageRow).where(
                    ImageRow.hash.not_in(used), ImageRow.hash.not_in(drafts), ImageRow.created_at < cutoff
                )
            )

    def _touch(self, db: Session, conversation_id: str, *, stamp: bool = True, **values: Any) -> None:
        if stamp:
            values["updated_at"] = utcnow()
        result = db.execute(update(ConversationRow).where(ConversationRow.id == conversation_id).values(**values))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound(NO_CONVERSATION)

    # Turns --------------------------------------------------------------------------------

    def _next_position(self, db: Session, conversation_id: str) -> int:
        # Safe under concurrency: callers first update the conversation row (_touch), which on
        # SQLite sits inside BEGIN IMMEDIATE and on other databases takes that row's lock.
        current = db.scalar(select(func.max(TurnRow.position)).where(TurnRow.conversation_id == conversation_id))
        return 0 if current is None else current + 1

    def add_user_turn(
        self, conversation_id: str, parts: list[Part], settings: GenerationSettings, *, title: str | None = None
    ) -> Turn:
        """A pending user turn; in the same transaction the conversation takes these settings
        (and `title`, if given) and its draft attachments are cleared: they are in the turn now."""
        with self.write() as db:
            values: dict[str, Any] = {"settings": settings.to_dict(), "draft_images": []}
            if title:
                values["title"] = title[:200]
            self._touch(db, conversation_id, **values)
            row = TurnRow(
                conversation_id=conversation_id,
                role="user",
                position=self._next_position(db, conversation_id),
                status=TurnStatus.PENDING.value,
                settings=settings.to_dict(),
                parts=part_rows(parts),
            )
            db.add(row)
            db.flush()
            return turn_value(row)

    def finish_turn(
        self,
        request_id: int,
        *,
        status: TurnStatus,
        reply_parts: list[Part] | None = None,
        meta: dict[str, Any] | None = None,
        error_kind: str | None = None,
        error_message: str | None = None,
    ) -> Turn | None:
        """Close a pending user turn in one transaction: its status, and the model turn (if
        the service answered with content) at the next position."""
        with self.write() as db:
            request = db.get(TurnRow, request_id)
            if request is None:
                raise NotFound("That turn no longer exists (its conversation may have been deleted).")
            request.status = status.value
            request.error_kind = error_kind
            request.error_message = error_message
            self._touch(db, request.conversation_id)
            if reply_parts is None:
                return None
            reply = TurnRow(
                conversation_id=request.conversation_id,
                role="model",
                position=self._next_position(db, request.conversation_id),
                status=status.value,
                reply_to_id=request.id,
                settings=request.settings,
                parts=part_rows(reply_parts),
                error_kind=error_kind,
                error_message=error_message,
                **(meta or {}),
            )
            db.add(reply)
            db.flush()
            return turn_value(reply)

    def mark_interrupted(self) -> int:
        """Pending user turns no live call is working on: the process died mid-call."""
        with self.write() as db:
            query = update(TurnRow).where(TurnRow.status == TurnStatus.PENDING.value, TurnRow.role == "user")
            result = db.execute(
                query.values(
                    status=TurnStatus.INTERRUPTED.value,
                    error_kind="interrupted",
                    error_message=INTERRUPTED_MESSAGE,
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def set_status(self, turn_ids: list[int], status: TurnStatus) -> None:
        with self.write() as db:
            db.execute(update(TurnRow).where(TurnRow.id.in_(turn_ids)).values(status=status.value))

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

    def statuses(self, turn_ids: set[int]) -> dict[int, TurnStatus]:
        with self.read() as db:
            rows = db.execute(select(TurnRow.id, TurnRow.status).where(TurnRow.id.in_(turn_ids)))
            return {turn_id: TurnStatus(status) for turn_id, status in rows}

    def turns(self, turn_ids: set[int]) -> dict[int, Turn]:
        """Whole turns, signatures included: what a request replays."""
        if not turn_ids:
            return {}
        with self.read() as db:
            rows = db.scalars(select(TurnRow).where(TurnRow.id.in_(turn_ids)).options(selectinload(TurnRow.parts)))
            return {row.id: turn_value(row) for row in rows}

    def turn(self, turn_id: int) -> Turn:
        with self.read() as db:
            row = db.get(TurnRow, turn_id)
            if row is None:
                raise NotFound("That turn no longer exists.")
            return turn_value(row)
