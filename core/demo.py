"""Demo mode (STUDIO_DEMO=1): example conversations a visitor can take up in one click.

The examples are the conversations an admin featured and the operator's chosen ones
(STUDIO_DEMO_EXAMPLES, by id). Taking one up makes the visitor a copy of their own that replays
exactly. On the offline model with nothing chosen, three are drawn once by the offline model; on
a real key, drawings of the offline model are never shown (their signatures mean nothing to
Gemini, and they show placeholders, not the product): with nothing chosen the start page offers
prompt ideas in words instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from core.config import Secret
from core.errors import Forbidden, InvalidInput, NotFound, StudioError
from core.storage.schema import ConversationRow, LedgerRow
from core.storage.store import NO_CONVERSATION
from core.team import access
from core.values import Conversation, Seed, TurnStatus

if TYPE_CHECKING:
    from core.service import StudioService
    from core.workspace import Workspace

EXAMPLE_OWNER = "examples@studio.local"
OFFLINE_VERSION = "offline-demo"
BUILT = (
    ("A bicycle, refined", ("a red bicycle on a beach at sunset", "make it blue", "add a bell on the handlebar")),
    (
        "A poster for a coffee shop",
        ("a poster for a coffee shop called Banana Beans, flat illustration", "make the title bigger, in yellow"),
    ),
    (
        "A product shot",
        ("a studio photo of a ceramic mug on a wooden table", "soft morning light from the left", "add rising steam"),
    ),
)

# What a visitor on a real key sees when nothing is featured: words to start from.
PROMPT_IDEAS = (
    "a red bicycle on a beach at sunset, then: make it blue",
    "a poster for a coffee shop called Banana Beans, flat illustration",
    "a studio photo of a ceramic mug on a wooden table, soft morning light",
    "a watercolour map of an imaginary island, with a lighthouse",
)


@dataclass(frozen=True, kw_only=True)
class Example:
    conversation_id: str
    title: str
    prompts: tuple[str, ...]
    image_hash: str | None
    # A copy replays exactly here; otherwise trying it starts afresh from its final image.
    exact: bool


def build_offline_examples(service: StudioService) -> list[str]:
    """Draw the built-in examples once with the offline model (they cost nothing, so their
    calls leave nothing in the ledger); later starts find them."""
    store = service.store
    have = {s.title for s in store.conversations(EXAMPLE_OWNER, 50)}
    missing = [(title, prompts) for title, prompts in BUILT if title not in have]
    if not missing:
        return _one_of_each(service)

    offline = dataclasses.replace(
        service.settings,
        api_key=Secret(""),
        demo=False,
        limit_person_day_usd=None,
        limit_person_month_usd=None,
        limit_team_month_usd=None,
        limit_turns_per_minute=None,
        limit_running=None,
        allowed_sizes=(),
        allowed_models=(),
    )
    # Its own offline client on the same database; no limits (nobody pays for these).
    drawer = type(service)(offline, store, type(service.client)(offline), service.catalog, workers=1)
    try:
        for title, prompts in missing:
            conversation = drawer.new_conversation(title=title, owner=EXAMPLE_OWNER)
            try:
                for prompt in prompts:
                    drawer.send(conversation.id, prompt)
                service.sharing.set_visibility(conversation.id, access.TEAM, EXAMPLE_OWNER)
            except NotFound:
                continue  # another replica drew this one first and removed our copy
    finally:
        drawer.close()
    with store.write() as db:
        db.execute(delete(LedgerRow).where(LedgerRow.person == EXAMPLE_OWNER))
    return _one_of_each(service)


def _one_of_each(service: StudioService) -> list[str]:
    """Replicas started together may each have drawn the examples: keep the oldest of each title
    and remove the rest, so every replica ends with the same ones."""
    with service.store.write() as db:
        rows = db.execute(
            select(ConversationRow.id, ConversationRow.title)
            .where(ConversationRow.owner == EXAMPLE_OWNER)
            .order_by(ConversationRow.created_at, ConversationRow.id)
        ).all()
        kept: dict[str, str] = {}
        for conversation_id, title in rows:
            kept.setdefault(title, conversation_id)
        extra = [conversation_id for conversation_id, _title in rows if conversation_id not in kept.values()]
        if extra:
            db.execute(delete(ConversationRow).where(ConversationRow.id.in_(extra)))
    return list(kept.values())


def example_of(conversation: Conversation, *, studio_offline: bool) -> Example:
    answered = [e for e in conversation.exchanges if e.reply is not None and e.request.status == TurnStatus.OK]
    drawn_offline = any(e.reply.model_version == OFFLINE_VERSION for e in answered if e.reply)
    latest = conversation.latest_image
    return Example(
        conversation_id=conversation.id,
        title=conversation.title,
        prompts=tuple(e.request.text for e in answered if e.request.text),
        image_hash=latest.image_hash if latest else None,
        exact=studio_offline or not drawn_offline,
    )


class DemoDesk:
    """A public demo as one person works with it: the examples and taking one up, an admin's
    featuring, and what a visitor may keep. Held by the person's Workspace (`ws.demo`)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def may_add_conversation(self, stored_more: int = 0) -> None:
        """A visitor keeps at most so many conversations and bytes (a copy counts as what it copies)."""
        if not self.ws.user.is_visitor:
            return
        from core.money.limits import LimitReached
        from core.money.visitor_limits import conversation_refusal

        with self.ws.store.read() as db:
            reason = conversation_refusal(db, self.ws.turns.life.limits, self.ws.user.key, stored_more)
        if reason:
            raise LimitReached(reason)

    def copy_bytes(self, conversation_id: str) -> int:
        from core.money.visitor_limits import copy_bytes

        with self.ws.store.read() as db:
            return copy_bytes(db, conversation_id)

    def examples(self) -> list[Example]:
        """The demo's start page: featured and chosen conversations anyone may take up. On a real
        key, none drawn by the offline model (they show placeholders and cannot be replayed)."""
        found = []
        for conversation_id in self.ws.example_ids():
            try:
                conversation = self.ws.chats.conversation(conversation_id)
            except NotFound:
                continue  # an operator's example that was deleted since
            example = example_of(conversation, studio_offline=self.ws.offline)
            if example.exact and example.prompts:
                found.append(example)
        return found

    def prompt_ideas(self) -> tuple[str, ...]:
        """On a real key with no examples: ideas in words (never the offline model's drawings)."""
        return () if self.ws.offline or self.examples() else PROMPT_IDEAS

    def try_example(self, example: Example) -> str | Seed:
        """A copy of your own that replays exactly, from which you go on."""
        if example.conversation_id not in self.ws.example_ids():
            raise NotFound(NO_CONVERSATION)
        if not example.exact:  # not offered any more (examples() keeps exact ones), kept for old tabs
            if example.image_hash is None:
                raise InvalidInput("That example has no image to start from.")
            # The example's image is the visitor's to send.
            self.ws.images.grant(self.ws.user.key, example.image_hash)
            return self.ws.chats.continue_from(example.conversation_id, example.image_hash)
        self.may_add_conversation(self.copy_bytes(example.conversation_id))
        return self.ws.sharing.copy(example.conversation_id, self.ws.user.key, self.ws.user.key)

    def featured(self) -> set[str]:
        return set(self.ws.featured.ids())

    def feature(self, conversation_id: str, on: bool = True) -> None:
        """Show (or stop showing) a conversation as an example on the demo's start page: admins only."""
        if not self.ws.user.is_admin or self.ws.user.is_visitor:
            raise Forbidden("Only admins can feature conversations as examples.")
        self.ws.guard.head(conversation_id)
        if on:
            self.ws.featured.feature(conversation_id, self.ws.user.key)
        else:
            self.ws.featured.unfeature(conversation_id, self.ws.user.key)

    def new_conversation_refusal(self) -> str | None:
        """Why this person may not start another conversation now (a demo visitor at their cap)."""
        try:
            self.may_add_conversation()
        except StudioError as refused:
            return refused.message
        return None
