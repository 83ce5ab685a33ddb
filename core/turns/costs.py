"""What a turn should cost before it is sent, and what it did cost once it came back: the
estimate shown next to the size meter, the charge a queued turn reserves against the limits,
and the bill a finished call leaves in the ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.errors import NotFound
from core.money.ledger import Bill, Charge, conversation_total
from core.money.prices import Estimate, cost_of, estimate, new_input_tokens
from core.provider import fields
from core.provider.catalog import ModelCatalog
from core.provider.client import Attempt
from core.provider.wire import ModelReply, is_image_part
from core.storage.database import Database
from core.storage.schema import ConversationRow, LedgerRow, TurnRow
from core.values import Conversation, GenerationSettings, Turn


class TurnCosts:
    def __init__(self, db: Database, catalog: ModelCatalog, *, offline: bool) -> None:
        self.db = db
        self.catalog = catalog
        self.offline = offline

    def _usage_of(self, reply_id: int | None) -> dict[str, Any] | None:
        # The version being edited: its prompt plus its output is the history the next request
        # re-sends (its branch only), as the service itself counted it.
        if reply_id is None:
            return None
        with self.db.read() as db:
            return db.scalar(select(TurnRow.usage).where(TurnRow.id == reply_id, TurnRow.role == "model"))

    def estimate(self, conversation: Conversation, text: str, images: int) -> Estimate:
        """The next turn's cost, editing the current version, at the conversation's settings."""
        return self.estimate_from(conversation.tip_id, conversation, text, images, conversation.settings)

    def estimate_from(
        self, parent: int | None, conversation: Conversation, text: str, images: int, settings: GenerationSettings
    ) -> Estimate:
        """A turn's cost editing `parent`: the replayed history (usually most of it), the new
        words and images, and the answer expected at this size."""
        spec = self.catalog.get(conversation.model)
        # Stored as the service sent it: read tolerantly (an odd shape counts as unknown, 0).
        usage = fields.obj(self._usage_of(parent), "usageMetadata")
        history = fields.count(usage.get("promptTokenCount"), "promptTokenCount") + fields.count(
            usage.get("candidatesTokenCount"), "candidatesTokenCount"
        )
        return estimate(
            spec.prices,
            history_tokens=history,
            text=text,
            images=images,
            size=settings.image_size,
            thinking_tokens=fields.count(usage.get("thoughtsTokenCount"), "thoughtsTokenCount"),
            image_only=settings.image_only,
        )

    def charge(
        self, conversation: Conversation, text: str, images: int, settings: GenerationSettings, parent: int | None
    ) -> Charge:
        # The offline demo model is never billed: its calls reserve and cost nothing.
        estimate = 0 if self.offline else self.estimate_from(parent, conversation, text, images, settings).micro
        return Charge(
            person=(conversation.owner or "").lower(),
            model=conversation.model,
            image_size=settings.image_size,
            estimate_micro=estimate,
            offline=self.offline,
        )

    def bill(
        self,
        model: str,
        request: Turn,
        reply: ModelReply | None,
        attempts: list[Attempt],
        *,
        outcome: str,
        body_bytes: int | None,
        new_bytes: int | None,
    ) -> Bill:
        spec = self.catalog.get(model)
        images_out = 0 if reply is None else sum(1 for p in reply.parts if is_image_part(p) and not p.get("thought"))
        new_tokens = new_input_tokens(spec.prices, request.text, len(request.images))
        cost = (
            None
            if reply is None
            else cost_of(
                spec.prices, reply.usage, images_out=images_out, size=request.settings.image_size, new_tokens=new_tokens
            )
        )
        return Bill(
            attempts=attempts,
            cost=cost,
            outcome=outcome,
            history_bytes=None if body_bytes is None or new_bytes is None else max(0, body_bytes - new_bytes),
            new_bytes=new_bytes,
        )

    def model_of(self, request: Turn) -> str:
        """The model a turn was sent to: its conversation's, or, when that was deleted forever
        while the call was out, the one its ledger row names (its cost is still recorded)."""
        with self.db.read() as db:
            found = db.scalar(select(ConversationRow.model).where(ConversationRow.id == request.conversation_id))
            found = found or db.scalar(select(LedgerRow.model).where(LedgerRow.turn_id == request.id).limit(1))
        if found is None:
            raise NotFound("That turn no longer exists (its conversation may have been deleted).")
        return str(found)

    def conversation_total(self, conversation_id: str) -> tuple[int, int]:
        with self.db.read() as db:
            return conversation_total(db, conversation_id)
