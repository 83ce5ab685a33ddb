"""The audit log as values, for the admins' view."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    at: dt.datetime
    actor: str
    action: str
    conversation_id: str | None
    detail: str


def entries(rows: list[Any]) -> list[AuditEntry]:
    return [
        AuditEntry(
            at=row.at, actor=row.actor, action=row.action, conversation_id=row.conversation_id, detail=row.detail or ""
        )
        for row in rows
    ]
