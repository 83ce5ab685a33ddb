"""Comments and statuses on versions, in the database. Each change writes, in its own
transaction, the inbox entries it causes (and for a status, its audit row), so what a person is
told and what happened land together. Who may do which is decided by the desk (core/review/desk.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.review.rules import Status
from core.storage.database import Database
from core.storage.schema import (
    AuditRow,
    CommentRow,
    ConversationRow,
    InboxRow,
    PersonRow,
    TurnRow,
    VersionStatusRow,
    utcnow,
)
from core.team.people import User
from core.values import TurnStatus

NO_COMMENT = "That comment no longer exists."
NO_VERSION = "That version is not part of this conversation."


@dataclass(frozen=True, kw_only=True)
class Comment:
    id: int
    conversation_id: str
    reply_id: int
    author: str
    author_name: str
    body: str
    mentions: tuple[str, ...]
    created_at: dt.datetime
    edited_at: dt.datetime | None


def _comment(row: CommentRow) -> Comment:
    return Comment(
        id=row.id,
        conversation_id=row.conversation_id,
        reply_id=row.reply_id,
        author=row.author,
        author_name=row.author_name,
        body=row.body,
        mentions=tuple(row.mentions or ()),
        created_at=row.created_at,
        edited_at=row.edited_at,
    )


class ReviewStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # People -------------------------------------------------------------------------------

    def remember(self, user: User) -> None:
        """Someone signed in: their email and name, for the mention picker."""
        with self.db.write() as db:
            row = db.get(PersonRow, user.key)
            if row is None:
                db.add(PersonRow(email=user.key, name=user.name, seen_at=utcnow()))
            elif row.name != user.name:
                row.name = user.name

    def people(self) -> dict[str, str]:
        """Everyone the studio has seen signed in, and every conversation's owner: email -> name."""
        with self.db.read() as db:
            owners = db.scalars(select(ConversationRow.owner).where(ConversationRow.owner.is_not(None)).distinct())
            found = {email.lower(): email.split("@", 1)[0] for email in owners if email}
            found.update({row.email: row.name for row in db.scalars(select(PersonRow))})
        return found

    # Comments -----------------------------------------------------------------------------

    def comments(self, conversation_id: str, reply_ids: list[int] | None = None) -> dict[int, list[Comment]]:
        """The comments of this conversation (or of these versions of it) by version, oldest first."""
        columns = [getattr(CommentRow, c) for c in Comment.__dataclass_fields__]
        query = select(*columns).where(CommentRow.conversation_id == conversation_id)
        if reply_ids is not None:
            if not reply_ids:
                return {}
            query = query.where(CommentRow.reply_id.in_(reply_ids))
        found: dict[int, list[Comment]] = {}
        with self.db.read() as db:
            for row in db.execute(query.order_by(CommentRow.created_at, CommentRow.id)):
                values = row._asdict()
                values["mentions"] = tuple(values["mentions"] or ())
                found.setdefault(row.reply_id, []).append(Comment(**values))
        return found

    def counts(self, conversation_id: str) -> dict[int, int]:
        """How many comments each version has (one grouped read of the index)."""
        with self.db.read() as db:
            rows = db.execute(
                select(CommentRow.reply_id, func.count())
                .where(CommentRow.conversation_id == conversation_id)
                .group_by(CommentRow.reply_id)
            )
            return {reply_id: int(n) for reply_id, n in rows}

    def comment(self, comment_id: int) -> Comment:
        with self.db.read() as db:
            row = db.get(CommentRow, comment_id)
            if row is None:
                raise NotFound(NO_COMMENT)
            return _comment(row)

    def add(self, conversation_id: str, reply_id: int, author: User, body: str, mentions: list[str]) -> Comment:
        with self.db.write() as db:
            owner = _check_version(db, conversation_id, reply_id)
            row = CommentRow(
                conversation_id=conversation_id,
                reply_id=reply_id,
                author=author.key,
                author_name=author.name,
                body=body,
                mentions=mentions,
                created_at=utcnow(),
            )
            db.add(row)
            db.flush()
            told = {author.key}
            for person in mentions:
                if person not in told:
                    told.add(person)
                    _tell(db, person, "mention", row, author)
            if owner and owner not in told:
                _tell(db, owner, "comment", row, author)
            return _comment(row)

    def edit(self, comment_id: int, author: User, body: str, mentions: list[str]) -> Comment:
        """Only by its author: a conditional update on (id, author)."""
        with self.db.write() as db:
            before = db.get(CommentRow, comment_id)
            if before is None:
                raise NotFound(NO_COMMENT)
            was = set(before.mentions or ())
            changed = db.execute(
                update(CommentRow)
                .where(CommentRow.id == comment_id, CommentRow.author == author.key)
                .values(body=body, mentions=mentions, edited_at=utcnow())
            ).rowcount  # type: ignore[attr-defined]
            if not changed:
                raise InvalidInput("Only its author can change a comment.")
            db.refresh(before)
            for person in mentions:
                if person not in was and person != author.key:
                    _tell(db, person, "mention", before, author)
            return _comment(before)

    def delete(self, comment_id: int, author: User) -> None:
        with self.db.write() as db:
            gone = db.execute(
                delete(CommentRow).where(CommentRow.id == comment_id, CommentRow.author == author.key)
            ).rowcount  # type: ignore[attr-defined]
            if not gone:
                raise InvalidInput("Only its author can delete a comment.")

    # Status -------------------------------------------------------------------------------

    def statuses(self, conversation_id: str) -> dict[int, Status]:
        """Versions that are not drafts, by answer id."""
        with self.db.read() as db:
            rows = db.execute(
                select(VersionStatusRow.reply_id, VersionStatusRow.status).where(
                    VersionStatusRow.conversation_id == conversation_id
                )
            )
            return {reply_id: Status(status) for reply_id, status in rows}

    def set_status(self, conversation_id: str, reply_id: int, status: Status, actor: User, number: int) -> bool:
        """Set it, tell everyone who commented here, and log it; False when it already was."""
        with self.db.write() as db:
            _check_version(db, conversation_id, reply_id)
            row = db.get(VersionStatusRow, reply_id)
            if (row.status if row else Status.DRAFT.value) == status.value:
                return False
            if status == Status.DRAFT:
                db.execute(delete(VersionStatusRow).where(VersionStatusRow.reply_id == reply_id))
            elif row is None:
                db.add(
                    VersionStatusRow(
                        reply_id=reply_id,
                        conversation_id=conversation_id,
                        status=status.value,
                        set_by=actor.key,
                        set_at=utcnow(),
                    )
                )
            else:
                row.status, row.set_by, row.set_at = status.value, actor.key, utcnow()
            detail = f"v{number}: {status.value}"
            db.add(
                AuditRow(at=utcnow(), actor=actor.key, action="status", conversation_id=conversation_id, detail=detail)
            )
            commenters = db.scalars(
                select(CommentRow.author).where(CommentRow.conversation_id == conversation_id).distinct()
            )
            for person in commenters:
                if person != actor.key:
                    db.add(
                        InboxRow(
                            person=person,
                            kind="status",
                            conversation_id=conversation_id,
                            reply_id=reply_id,
                            comment_id=None,
                            actor=actor.key,
                            actor_name=actor.name,
                            detail=detail,
                            at=utcnow(),
                        )
                    )
            return True


def _check_version(db: Session, conversation_id: str, reply_id: int) -> str | None:
    """The conversation's owner, if this answer is one of its versions (an answered result)."""
    found = db.execute(
        select(TurnRow.role, TurnRow.status, ConversationRow.owner)
        .join(ConversationRow, ConversationRow.id == TurnRow.conversation_id)
        .where(TurnRow.id == reply_id, TurnRow.conversation_id == conversation_id)
    ).first()
    if found is None or found.role != "model" or found.status != TurnStatus.OK.value:
        raise NotFound(NO_VERSION)
    return (found.owner or "").lower() or None


def _tell(db: Session, person: str, kind: str, comment: CommentRow, actor: User) -> None:
    db.add(
        InboxRow(
            person=person,
            kind=kind,
            conversation_id=comment.conversation_id,
            reply_id=comment.reply_id,
            comment_id=comment.id,
            actor=actor.key,
            actor_name=actor.name,
            detail=comment.body[:300],
            at=utcnow(),
        )
    )
