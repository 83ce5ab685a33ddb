"""Tables, as SQLAlchemy 2.0 typed models. Changes to them go through an Alembic revision."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


# PostgreSQL's text cannot hold NUL, but a model's words may (and are replayed exactly), as may
# pasted prompts. Such a value is stored JSON-escaped behind this mark, on either database so a
# copied database reads the same; so is any value that starts with the mark itself, so every
# string reads back as it was written.
NUL_MARK = "\x01json:"


class ExactText(TypeDecorator[str]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return value
        if "\x00" in value or value.startswith(NUL_MARK):
            return NUL_MARK + json.dumps(value)
        return value

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and value.startswith(NUL_MARK):
            decoded: str = json.loads(value[len(NUL_MARK) :])
            return decoded
        return value


class ConversationRow(Base):
    __tablename__ = "conversations"
    # Revision 0006: the team's listing, newest first (tests/test_small_holes.py keeps the models
    # and the migrated schema the same, so autogenerate never drops it).
    __table_args__ = (Index("ix_conversations_visibility", "visibility", "updated_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(100))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    owner: Mapped[str | None] = mapped_column(String(200), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # Revision 0006: who may read it ("private" to its owner, or "team"), the trash, a share link.
    visibility: Mapped[str] = mapped_column(String(10), default="private", server_default="private")
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    share_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Revision 0003; unused since 0004: attachments and seeds belong to the tab, not the row.
    draft_images: Mapped[list[str] | None] = mapped_column(JSON)
    # Revision 0008: the current version, the answer the next message edits (NULL: none yet).
    tip_id: Mapped[int | None] = mapped_column(Integer)

    turns: Mapped[list[TurnRow]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", passive_deletes=True, order_by="TurnRow.position"
    )


class TurnRow(Base):
    __tablename__ = "turns"
    __table_args__ = (
        # Also the index for "turns of a conversation": its first column is conversation_id.
        UniqueConstraint("conversation_id", "position", name="uq_turn_position"),
        Index("ix_turns_in_flight", "status", "lease_until"),
        Index("ix_turns_results", "role", "status", "created_at"),
        # Ids are never reused after a delete (revision 0004), so caches keyed by id stay true.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_kind: Mapped[str | None] = mapped_column(String(30))
    error_message: Mapped[str | None] = mapped_column(ExactText)
    finish_reason: Mapped[str | None] = mapped_column(String(40))
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_version: Mapped[str | None] = mapped_column(String(100))
    response_id: Mapped[str | None] = mapped_column(String(100))
    grounding: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Revision 0004: who holds a queued or running turn and until when; when it ran.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Bytes the turn adds to a request body, measured once when written (core/replay.turn_size).
    weight: Mapped[int | None] = mapped_column(Integer)
    # Revision 0007: an answer's cost in micro-dollars, from its usageMetadata (NULL: unknown).
    cost_micro: Mapped[int | None] = mapped_column(BigInteger)
    # Revision 0008: the answer this request edits (NULL: from the start), and marks drawn on it.
    parent_id: Mapped[int | None] = mapped_column(Integer, index=True)
    marks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Revision tip_0011: who made it (a person's key); a copy keeps it, so Ann's turns in Bob's
    # copy stay Ann's. NULL only on rows written before it and not yet migrated.
    author: Mapped[str | None] = mapped_column(String(200))
    # Revision 0009: it was typed ahead (waited for the turn before it, then went by itself).
    typed_ahead: Mapped[bool | None] = mapped_column(Boolean)

    conversation: Mapped[ConversationRow] = relationship(back_populates="turns")
    parts: Mapped[list[PartRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="PartRow.position", lazy="selectin"
    )


class PartRow(Base):
    __tablename__ = "parts"
    __table_args__ = (UniqueConstraint("turn_id", "position", name="uq_part_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Indexed through uq_part_position, whose first column it is.
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    text: Mapped[str | None] = mapped_column(ExactText)
    thought: Mapped[bool | None] = mapped_column(Boolean)
    signature: Mapped[str | None] = mapped_column(Text)
    mime_type: Mapped[str | None] = mapped_column(String(50))
    image_hash: Mapped[str | None] = mapped_column(ForeignKey("images.hash"), index=True)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Revision 0004: received in snake_case (`inline_data`, `thought_signature`).
    snake: Mapped[bool | None] = mapped_column(Boolean)
    # Revision 0009: the part as received when the columns above cannot give it back exactly.
    wire: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ImageRow(Base):
    __tablename__ = "images"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    mime_type: Mapped[str] = mapped_column(String(50))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Added in revision 0002: a display copy made once on arrival.
    preview: Mapped[bytes | None] = mapped_column(LargeBinary)
    preview_mime: Mapped[str | None] = mapped_column(String(50))
    # Revision 0005: an upload sent smaller than it came; this is the full-size one, for Download.
    # Indexed (edges_0009): clean-up asks whether a kept image points to an original.
    original_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # What was done to an upload on its way in, without the file's name (revision links_0014).
    upload_note: Mapped[str | None] = mapped_column(ExactText)


class AuditRow(Base):
    """Who shared, unshared, copied, deleted, restored what, and when (revision 0006)."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(30))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class FavouriteRow(Base):
    """A result a person starred in the gallery ("the one we chose"), revision 0006."""

    __tablename__ = "favourites"

    person: Mapped[str] = mapped_column(String(200), primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


REPORT_COLUMNS = (
    "person",
    "at",
    "model",
    "conversation_id",
    "cost_micro",
    "estimate_micro",
    "history_micro",
    "may_be_billed",
    "outcome",
    "attempt",
)


class LedgerRow(Base):
    """One HTTP attempt to the image service (revision 0007), or the reservation of one not yet
    sent. Written when the turn is queued (outcome "queued", its estimate held against the
    limits), then "sending", then what happened. Retried attempts are rows of their own. Kept
    when a conversation is deleted: what was spent stays spent."""

    __tablename__ = "ledger"
    __table_args__ = (
        Index("ix_ledger_open", "outcome"),
        # One person's calls by time (limits, their Usage page), and covering the Usage page's
        # grouped scans over everyone, so those read the index alone.
        Index("ix_ledger_report", *REPORT_COLUMNS),
        # The same, led by time (the team's month, spend by day) and by conversation (its total).
        Index("ix_ledger_time", "at", *(c for c in REPORT_COLUMNS if c != "at")),
        Index("ix_ledger_conversation", "conversation_id", *(c for c in REPORT_COLUMNS if c != "conversation_id")),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    person: Mapped[str] = mapped_column(String(200))
    conversation_id: Mapped[str] = mapped_column(String(32))
    turn_id: Mapped[int] = mapped_column(Integer, index=True)
    model: Mapped[str] = mapped_column(String(100))
    image_size: Mapped[str | None] = mapped_column(String(10))
    # 0 while reserved; then which attempt of the call this was (1, 2, ...).
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(20))
    http_status: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    # The service may have charged for it: answered, timed out after sending, 504/524, or unknown.
    may_be_billed: Mapped[bool] = mapped_column(Boolean, default=True)
    estimate_micro: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micro: Mapped[int | None] = mapped_column(BigInteger)
    history_micro: Mapped[int | None] = mapped_column(BigInteger)
    prompt_text_tokens: Mapped[int | None] = mapped_column(Integer)
    prompt_image_tokens: Mapped[int | None] = mapped_column(Integer)
    output_text_tokens: Mapped[int | None] = mapped_column(Integer)
    output_image_tokens: Mapped[int | None] = mapped_column(Integer)
    thinking_tokens: Mapped[int | None] = mapped_column(Integer)
    # Request bytes that re-sent earlier turns, and bytes of the new message itself.
    history_bytes: Mapped[int | None] = mapped_column(Integer)
    new_bytes: Mapped[int | None] = mapped_column(Integer)
    offline: Mapped[bool] = mapped_column(Boolean, default=False)


class FeaturedRow(Base):
    """A conversation an admin chose to show on the demo's start page (revision demo_0013)."""

    __tablename__ = "featured"

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    featured_by: Mapped[str] = mapped_column(String(200))
    featured_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class VisitorRow(Base):
    """A demo visitor (a digest, never the browser's key) and the network address they last came
    from (revision demo_0013): the per-address limits count visitors and their turns by it."""

    __tablename__ = "visitors"
    __table_args__ = (Index("ix_visitors_address", "address", "first_seen"),)

    person: Mapped[str] = mapped_column(String(200), primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


# Revision review_0010: a team's review (core/review/): comments and status on versions, each
# person's inbox, and the shared brand kit.


class CommentRow(Base):
    """Words on one version (an answer) of a conversation; its author may edit or delete them."""

    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_conversation", "conversation_id", "reply_id", "created_at"),
        Index("ix_comments_author", "author", "conversation_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    reply_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    author_name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(ExactText)
    # The people it mentions (lower-cased emails), resolved when written.
    mentions: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    edited_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class VersionStatusRow(Base):
    """A version's review status when it is not a draft (no row: draft)."""

    __tablename__ = "version_status"

    reply_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class InboxRow(Base):
    """One thing for one person to see: a comment on their conversation, a mention of them, a
    status change where they commented. Written with what caused it, in its transaction."""

    __tablename__ = "inbox"
    __table_args__ = (
        Index("ix_inbox_person", "person", "at"),
        Index("ix_inbox_unread", "person", "read_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(ExactText)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class KitItemRow(Base):
    """A reference image in the team's brand kit. Retiring it hides it from the picker;
    conversations that used it keep their copy (their parts name the image by hash)."""

    __tablename__ = "kit_items"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120))
    tags: Mapped[list[str] | None] = mapped_column(JSON)
    image_hash: Mapped[str] = mapped_column(ForeignKey("images.hash"), index=True)
    owner: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    retired_by: Mapped[str | None] = mapped_column(String(200))


class PersonRow(Base):
    """People the studio has seen signed in, for the @mention picker (email and name)."""

    __tablename__ = "people"

    email: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class WaitingRow(Base):
    """A message typed ahead (revision 0009): sent from a tab while that tab's own turn was being
    made, it waits here, in order, and goes as a turn when the turn before it lands (its parent
    being the answer that turn made). Nothing is reserved in the ledger until it goes."""

    __tablename__ = "waiting_messages"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    # The turn it waits for. No foreign key: a removed turn must not take the words with it.
    after_turn_id: Mapped[int | None] = mapped_column(Integer, index=True)
    text: Mapped[str] = mapped_column(ExactText, default="")
    image_hashes: Mapped[list[str]] = mapped_column(JSON, default=list)
    takes: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PresetRow(Base):
    """A prompt preset shared with the team (revision review_0015): words with {placeholders}."""

    __tablename__ = "presets"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(ExactText)
    owner: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class TurnProgressRow(Base):
    """A running turn's latest thought summary and draft image while its answer streams (revision
    stream_0016): one small row per turn, written at most about once a second by the process that
    holds the turn, deleted in the transaction that ends the turn. No foreign key: rows of turns
    no longer in flight (a deleted conversation) are swept like stray ledger rows."""

    __tablename__ = "turn_progress"

    turn_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    thought: Mapped[str | None] = mapped_column(ExactText)
    draft_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
