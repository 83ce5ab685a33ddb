"""Conversations between people in the database: visibility, share links, copies, the trash and
the audit log. Who may do which of these is decided in core/team/access.py, not here."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from core.errors import InvalidInput, NotFound
from core.storage.database import Database
from core.storage.rows import part_rows, turn_value
from core.storage.schema import AuditRow, ConversationRow, PartRow, TurnRow, utcnow
from core.storage.store import IN_FLIGHT, NO_CONVERSATION, delete_conversation, touch

TRASH_DAYS = 30


class SharingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def audit(self, db: Session, actor: str, action: str, conversation_id: str | None, detail: str = "") -> None:
        db.add(AuditRow(at=utcnow(), actor=actor, action=action, conversation_id=conversation_id, detail=detail))

    def set_visibility(self, conversation_id: str, visibility: str, actor: str) -> None:
        with self.db.write() as db:
            touch(db, conversation_id, visibility=visibility, stamp=False)
            self.audit(db, actor, "shared" if visibility == "team" else "unshared", conversation_id, visibility)

    def create_link(self, conversation_id: str, actor: str) -> str:
        token = secrets.token_urlsafe(24)
        with self.db.write() as db:
            touch(db, conversation_id, share_token=token, stamp=False)
            self.audit(db, actor, "link created", conversation_id)
        return token

    def revoke_link(self, conversation_id: str, actor: str) -> None:
        with self.db.write() as db:
            touch(db, conversation_id, share_token=None, stamp=False)
            self.audit(db, actor, "link revoked", conversation_id)

    def by_token(self, token: str) -> str | None:
        with self.db.read() as db:
            return db.scalar(
                select(ConversationRow.id).where(
                    ConversationRow.share_token == token, ConversationRow.deleted_at.is_(None)
                )
            )

    def trash(self, conversation_id: str, actor: str) -> None:
        with self.db.write() as db:
            touch(db, conversation_id, deleted_at=utcnow(), stamp=False)
            self.audit(db, actor, "deleted", conversation_id)

    def restore(self, conversation_id: str, actor: str) -> None:
        with self.db.write() as db:
            touch(db, conversation_id, deleted_at=None)
            self.audit(db, actor, "restored", conversation_id)

    def purge(self, conversation_id: str, actor: str) -> None:
        """Delete forever; never while a turn in it is queued or running."""
        with self.db.write() as db:
            # A no-op update of the row: it takes the row's lock, so no turn is queued meanwhile.
            touch(db, conversation_id, stamp=False, title=ConversationRow.title)
            if _busy(db, conversation_id):
                raise InvalidInput("A turn in this conversation is still being made; delete it when that is done.")
            delete_conversation(db, conversation_id)
            self.audit(db, actor, "deleted forever", conversation_id)

    def expired(self, now: dt.datetime | None = None) -> list[str]:
        """Conversations in the trash for longer than TRASH_DAYS."""
        cutoff = (now or utcnow()) - dt.timedelta(days=TRASH_DAYS)
        with self.db.read() as db:
            return list(db.scalars(select(ConversationRow.id).where(ConversationRow.deleted_at < cutoff)))

    def copy(self, conversation_id: str, owner: str, actor: str) -> str:
        """A new conversation of `owner` with the same history, turn for turn and part for part
        (signatures and all), so it replays exactly; turns still in flight are left out."""
        new_id = uuid.uuid4().hex
        with self.db.write() as db:
            source = db.get(ConversationRow, conversation_id)
            if source is None:
                raise NotFound(NO_CONVERSATION)
            now = utcnow()
            db.add(
                ConversationRow(
                    id=new_id,
                    title=f"Copy of {source.title}"[:200],
                    model=source.model,
                    settings=dict(source.settings or {}),
                    owner=owner,
                    created_at=now,
                    updated_at=now,
                    visibility="private",
                )
            )
            db.flush()
            turns = db.scalars(
                select(TurnRow)
                .where(TurnRow.conversation_id == conversation_id, TurnRow.status.not_in(IN_FLIGHT))
                .order_by(TurnRow.position)
                .options(selectinload(TurnRow.parts))
            ).all()
            ids: dict[int, int] = {}
            for turn in turns:
                if turn.reply_to_id is not None and turn.reply_to_id not in ids:
                    continue  # the answer to a turn that was still in flight
                row = TurnRow(
                    conversation_id=new_id,
                    role=turn.role,
                    position=turn.position,
                    status=turn.status,
                    reply_to_id=ids.get(turn.reply_to_id) if turn.reply_to_id else None,
                    settings=dict(turn.settings or {}),
                    error_kind=turn.error_kind,
                    error_message=turn.error_message,
                    finish_reason=turn.finish_reason,
                    usage=turn.usage,
                    cost_micro=turn.cost_micro,
                    model_version=turn.model_version,
                    response_id=turn.response_id,
                    grounding=turn.grounding,
                    created_at=turn.created_at,
                    started_at=turn.started_at,
                    finished_at=turn.finished_at,
                    weight=turn.weight,
                    parent_id=ids.get(turn.parent_id) if turn.parent_id else None,
                    marks=turn.marks,
                    # Ann's turns in Bob's copy stay Ann's; only what Bob sends there is his.
                    author=turn.author or source.owner,
                    parts=part_rows(turn_value(turn).parts),
                )
                db.add(row)
                db.flush()
                ids[turn.id] = row.id
            copied = db.get(ConversationRow, new_id)
            if copied is not None and source.tip_id is not None:
                copied.tip_id = ids.get(source.tip_id)
            self.audit(db, actor, "copied", conversation_id, f"to {new_id}")
        return new_id

    def log(self, limit: int = 200) -> list[AuditRow]:
        with self.db.read() as db:
            return list(db.scalars(select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)))

    def holders(self, image_hash: str, limit: int = 50) -> list[str]:
        """Conversations that hold this image (a few: hashes are shared across people)."""
        with self.db.read() as db:
            query = (
                select(TurnRow.conversation_id)
                .join(PartRow, PartRow.turn_id == TurnRow.id)
                .where(PartRow.image_hash == image_hash)
                .distinct()
                .limit(limit)
            )
            return list(db.scalars(query))

    def image_in(self, conversation_id: str, image_hash: str) -> bool:
        """Whether this conversation holds this image: hashes are shared across people."""
        with self.db.read() as db:
            found = db.scalar(
                select(func.count())
                .select_from(PartRow)
                .join(TurnRow, PartRow.turn_id == TurnRow.id)
                .where(TurnRow.conversation_id == conversation_id, PartRow.image_hash == image_hash)
            )
        return bool(found)


def _busy(db: Session, conversation_id: str) -> bool:
    count = db.scalar(
        select(func.count()).where(TurnRow.conversation_id == conversation_id, TurnRow.status.in_(IN_FLIGHT))
    )
    return bool(count)
