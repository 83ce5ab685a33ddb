"""Between stored rows and values: the columns each read needs, and the mapping both ways."""

from __future__ import annotations

import dataclasses
from typing import Any

from core.storage.schema import ConversationRow, PartRow, TurnRow
from core.values import Conversation, GenerationSettings, Part, Turn, TurnStatus

CONVERSATION_COLUMNS = (
    ConversationRow.id,
    ConversationRow.title,
    ConversationRow.model,
    ConversationRow.settings,
    ConversationRow.created_at,
    ConversationRow.updated_at,
    ConversationRow.owner,
    ConversationRow.visibility,
    ConversationRow.deleted_at,
    ConversationRow.share_token,
    ConversationRow.tip_id,
)
# What an off-screen turn needs: enough to pair, count and curate it.
OUTLINE_COLUMNS = (
    TurnRow.id,
    TurnRow.conversation_id,
    TurnRow.role,
    TurnRow.position,
    TurnRow.status,
    TurnRow.reply_to_id,
    TurnRow.lease_owner,
    TurnRow.lease_until,
    TurnRow.started_at,
    TurnRow.weight,
    TurnRow.parent_id,
)
TURN_COLUMNS = (
    *OUTLINE_COLUMNS,
    TurnRow.settings,
    TurnRow.error_kind,
    TurnRow.error_message,
    TurnRow.finish_reason,
    TurnRow.usage,
    TurnRow.model_version,
    TurnRow.response_id,
    TurnRow.grounding,
    TurnRow.created_at,
    TurnRow.finished_at,
    TurnRow.cost_micro,
    TurnRow.marks,
    TurnRow.author,
)
DISPLAY_PART_COLUMNS = (
    PartRow.turn_id,
    PartRow.kind,
    PartRow.text,
    PartRow.image_hash,
    PartRow.mime_type,
    PartRow.thought,
    PartRow.extra,
    PartRow.snake,
)


def conversation_value(row: Any, turns: list[Turn]) -> Conversation:
    """A Conversation from an ORM row or a row of CONVERSATION_COLUMNS."""
    return Conversation(
        id=row.id,
        title=row.title,
        model=row.model,
        settings=GenerationSettings.from_dict(row.settings),
        created_at=row.created_at,
        updated_at=row.updated_at,
        owner=row.owner,
        turns=turns,
        visibility=row.visibility or "private",
        deleted_at=row.deleted_at,
        share_token=row.share_token,
        tip_id=row.tip_id,
    )


def outline_value(row: Any) -> Turn:
    """A turn's place and state only: enough to pair, count and curate it."""
    return Turn(
        id=row.id,
        conversation_id=row.conversation_id,
        role="model" if row.role == "model" else "user",
        position=row.position,
        status=TurnStatus(row.status),
        reply_to=row.reply_to_id,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        started_at=row.started_at,
        parent_id=row.parent_id,
        parts_loaded=False,
    )


def turn_value(row: Any, signatures: bool = True, parts: list[Any] | None = None) -> Turn:
    """A whole Turn from an ORM row (parts from its relationship) or a column row (parts given)."""
    return dataclasses.replace(
        outline_value(row),
        parts=[
            Part(
                kind=p.kind,
                text=p.text,
                image_hash=p.image_hash,
                mime_type=p.mime_type,
                thought=p.thought,
                signature=p.signature if signatures else None,
                extra=p.extra,
                snake=bool(p.snake),
                wire=p.wire if signatures else None,
            )
            for p in (parts if parts is not None else row.parts)
        ],
        settings=GenerationSettings.from_dict(row.settings),
        error_kind=row.error_kind,
        error_message=row.error_message,
        finish_reason=row.finish_reason,
        usage=row.usage,
        model_version=row.model_version,
        response_id=row.response_id,
        grounding=row.grounding,
        created_at=row.created_at,
        finished_at=row.finished_at,
        cost_micro=row.cost_micro,
        marks=row.marks,
        author=row.author,
        parts_loaded=True,
    )


def part_rows(parts: list[Part]) -> list[PartRow]:
    return [
        PartRow(
            position=i,
            kind=p.kind,
            text=p.text,
            thought=p.thought,
            signature=p.signature,
            mime_type=p.mime_type,
            image_hash=p.image_hash,
            extra=p.extra,
            snake=p.snake or None,
            wire=p.wire,
        )
        for i, p in enumerate(parts)
    ]
