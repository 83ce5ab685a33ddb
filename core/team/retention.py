"""A public demo keeps visitors' work for `STUDIO_DEMO_RETENTION_DAYS` of no use: after that a
visitor's conversations go for good, with the images and upload originals nothing else holds
(core/storage/store.py `delete_conversation`). The ledger keeps its rows: what was spent stays
spent, and the per-address limits still count it. A featured conversation is never removed.

Run by each process's housekeeping (the runner's heartbeat, about every ten minutes)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select

from core.errors import InvalidInput, NotFound
from core.storage.database import Database
from core.storage.schema import ConversationRow, FeaturedRow, VisitorRow, utcnow
from core.team.people import VISITOR_DOMAIN
from core.team.sharing import SharingStore


def unused(db: Database, days: float, now: dt.datetime | None = None, limit: int = 500) -> list[str]:
    """Visitors' conversations neither changed nor visited by their owner for `days` days."""
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    with db.read() as session:
        query = (
            select(ConversationRow.id)
            .outerjoin(VisitorRow, VisitorRow.person == ConversationRow.owner)
            .outerjoin(FeaturedRow, FeaturedRow.conversation_id == ConversationRow.id)
            .where(
                ConversationRow.owner.like(f"%@{VISITOR_DOMAIN}"),
                ConversationRow.updated_at < cutoff,
                or_(VisitorRow.person.is_(None), VisitorRow.last_seen < cutoff),
                and_(FeaturedRow.conversation_id.is_(None)),
            )
            .order_by(ConversationRow.updated_at)
            .limit(limit)
        )
        return list(session.scalars(query))


def sweep(db: Database, sharing: SharingStore, days: float, now: dt.datetime | None = None) -> int:
    """Delete what `unused` finds; a conversation with a turn still in flight waits for next time."""
    gone = 0
    for conversation_id in unused(db, days, now):
        try:
            sharing.purge(conversation_id, "retention")
            gone += 1
        except (InvalidInput, NotFound):
            continue
    return gone
