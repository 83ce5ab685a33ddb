"""Prompt presets: named snippets the team shares ("our packshot look: soft top light, white
sweep, {ratio}"), inserted into the chat input with their {placeholders} filled in. Anyone
signed in adds and uses them; the person who added one, or an admin, retires it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import func, select, update

from core.errors import InvalidInput, NotFound
from core.storage.database import Database
from core.storage.schema import AuditRow, PresetRow, utcnow
from core.team.people import User

MAX_PRESET_CHARS = 4_000
_PLACEHOLDER = re.compile(r"\{([^{}\n]{1,40})\}")


@dataclass(frozen=True, kw_only=True)
class Preset:
    id: int
    name: str
    body: str
    owner: str
    created_at: dt.datetime

    @property
    def placeholders(self) -> list[str]:
        return placeholders(self.body)


def placeholders(body: str) -> list[str]:
    """The {names} in the words, each once, in order."""
    return list(dict.fromkeys(m.group(1).strip() for m in _PLACEHOLDER.finditer(body) if m.group(1).strip()))


def fill(body: str, values: dict[str, str]) -> str:
    """The words with every {placeholder} filled; a missing one is refused by name."""
    missing = [name for name in placeholders(body) if not (values.get(name) or "").strip()]
    if missing:
        raise InvalidInput("Fill in " + ", ".join(f"{{{name}}}" for name in missing) + " first.")
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1).strip(), m.group(0)).strip() or m.group(0), body)


class Presets:
    def __init__(self, db: Database) -> None:
        self.db = db

    def items(self) -> list[Preset]:
        with self.db.read() as db:
            rows = db.scalars(
                select(PresetRow).where(PresetRow.retired_at.is_(None)).order_by(func.lower(PresetRow.name))
            )
            return [Preset(id=r.id, name=r.name, body=r.body, owner=r.owner, created_at=r.created_at) for r in rows]

    def owner_of(self, preset_id: int) -> str:
        with self.db.read() as db:
            row = db.get(PresetRow, preset_id)
            if row is None or row.retired_at is not None:
                raise NotFound("That preset does not exist.")
            return row.owner

    def add(self, owner: User, name: str, body: str) -> Preset:
        words = body.strip()
        if not words:
            raise InvalidInput("A preset needs some words.")
        if len(words) > MAX_PRESET_CHARS:
            raise InvalidInput(f"A preset is at most {MAX_PRESET_CHARS:,} characters.")
        with self.db.write() as db:
            row = PresetRow(name=name, body=words, owner=owner.key, created_at=utcnow())
            db.add(row)
            db.flush()
            db.add(AuditRow(at=utcnow(), actor=owner.key, action="preset added", conversation_id=None, detail=name))
            return Preset(id=row.id, name=row.name, body=row.body, owner=row.owner, created_at=row.created_at)

    def retire(self, preset_id: int, actor: User) -> None:
        with self.db.write() as db:
            done = db.execute(
                update(PresetRow)
                .where(PresetRow.id == preset_id, PresetRow.retired_at.is_(None))
                .values(retired_at=utcnow())
            ).rowcount  # type: ignore[attr-defined]
            if not done:
                raise InvalidInput("That preset is already retired.")
            db.add(
                AuditRow(
                    at=utcnow(), actor=actor.key, action="preset retired", conversation_id=None, detail=str(preset_id)
                )
            )
