"""A conversation's own verbs: made with settings its model offers, renamed, its settings and
model changed, a fresh start (a seed) from one of its images, and read for display (a turn whose
process died shown as interrupted). Every entry (a person's workspace, or one without a person)
calls these; the rules are here once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from core.config import Settings
from core.errors import InvalidInput
from core.provider.catalog import ModelCatalog, ModelSpec
from core.storage.schema import utcnow
from core.storage.store import Store
from core.team.people import LOCAL_EMAIL
from core.turns import progress
from core.turns.flight import interrupted_message
from core.turns.rules import NEW_TITLE, clean_title
from core.turns.runner import TurnRunner
from core.values import (
    Conversation,
    ConversationSummary,
    GenerationSettings,
    LiveProgress,
    Seed,
    Turn,
    TurnStatus,
)


class Chats:
    def __init__(
        self, *, store: Store, catalog: ModelCatalog, settings: Callable[[], Settings], runner: TurnRunner
    ) -> None:
        self.store = store
        self.catalog = catalog
        # The studio's settings now (a bench or test may change them on the running service).
        self._settings = settings
        self.runner = runner

    def new_conversation(
        self,
        model: str | None = None,
        settings: GenerationSettings | None = None,
        *,
        title: str = NEW_TITLE,
        owner: str | None = None,
    ) -> Conversation:
        spec = self.catalog.get(model) if model else self.catalog.default
        chosen = self.fit_settings(spec, settings or GenerationSettings())
        # Made without a person (a script, a test): it belongs to the embedded studio's one person.
        return self.store.create_conversation(title, spec.id, chosen, owner or LOCAL_EMAIL)

    def from_seed(self, seed: Seed, owner: str | None = None) -> Conversation:
        """The seeded conversation, created when its first message is sent."""
        return self.new_conversation(seed.model, seed.settings, title=seed.title, owner=owner)

    def fit_settings(self, spec: ModelSpec, settings: GenerationSettings) -> GenerationSettings:
        """The nearest settings this model offers (so a model switch never carries a bad value)."""
        changes: dict[str, Any] = {}
        if settings.aspect_ratio not in spec.aspect_ratios:
            changes["aspect_ratio"] = spec.aspect_ratios[0]
        sizes = self.image_sizes(spec)
        if not spec.image_sizes:
            changes["image_size"] = None
        elif settings.image_size not in sizes:
            changes["image_size"] = "1K" if "1K" in sizes else (sizes or spec.image_sizes)[0]
        if settings.thinking_level and settings.thinking_level not in spec.thinking_levels:
            changes["thinking_level"] = None
        if settings.grounding and not spec.search_grounding:
            changes["grounding"] = False
        return GenerationSettings(**{**settings.to_dict(), **changes}) if changes else settings

    def image_sizes(self, spec: ModelSpec) -> tuple[str, ...]:
        """The sizes this model offers that this studio allows (STUDIO_ALLOWED_SIZES)."""
        allowed = self._settings().allowed_sizes
        return tuple(s for s in spec.image_sizes if not allowed or s in allowed)

    def offered_models(self) -> list[ModelSpec]:
        allowed = self._settings().allowed_models
        return [m for m in self.catalog.offered() if not allowed or m.id in allowed]

    def conversations(self, owner: str | None = None, limit: int = 200) -> list[ConversationSummary]:
        return self.store.conversations(owner, limit)

    def conversation(self, conversation_id: str, visible: int | None = None) -> Conversation:
        """The conversation for display: no signatures, a lapsed turn shown as interrupted
        (its process died) even before a heartbeat somewhere has marked it, and with `visible`,
        parts only for that many of the newest exchanges."""
        if visible is None:
            conversation = self.store.conversation(conversation_id, signatures=False)
        else:
            conversation = self.store.conversation_window(conversation_id, visible)
        now = utcnow()
        if not self.runner.trusts_leases or not any(t.lapsed(now) for t in conversation.turns):
            return conversation
        turns = [shown_status(t, now) for t in conversation.turns]
        return dataclasses.replace(conversation, turns=turns)

    def watch(self, conversation_id: str, turn_ids: set[int]) -> tuple[tuple[int | None, int | None], dict[int, Turn]]:
        """What a tab polls: the conversation's newest turn id and current version, and the state
        of its turns in flight."""
        now = utcnow()
        trusted = self.runner.trusts_leases  # just after an outage, a lapse may be a live holder's
        states = {i: shown_status(t, now) if trusted else t for i, t in self.store.outlines(turn_ids).items()}
        return (self.store.version(conversation_id), self.store.tip(conversation_id)), states

    def queue_places(self, turns: list[Turn]) -> dict[int, int]:
        return self.store.queue_places(turns)

    def progress(self, conversation_id: str, turn_ids: set[int]) -> dict[int, LiveProgress]:
        """What these running turns have shown so far while streaming (nothing is read when the
        studio does not stream): polled on the tab's existing tick, only while a turn runs."""
        if not turn_ids or not self._settings().stream:
            return {}
        with self.store.read() as db:
            return progress.read(db, conversation_id, turn_ids)

    def rename(self, conversation_id: str, title: str) -> None:
        title = clean_title(title)
        if not title:
            raise InvalidInput("A title cannot be empty.")
        self.store.rename(conversation_id, title)

    def update_settings(self, conversation_id: str, settings: GenerationSettings) -> GenerationSettings:
        conversation = self.store.conversation(conversation_id, with_turns=False)
        fitted = self.fit_settings(self.catalog.get(conversation.model), settings)
        self.store.update_settings(conversation_id, fitted)
        return fitted

    def change_settings(self, conversation_id: str, **changes: Any) -> GenerationSettings:
        """One person's change of some fields, over whatever is stored now."""
        current = self.store.conversation(conversation_id, with_turns=False).settings
        return self.update_settings(conversation_id, dataclasses.replace(current, **changes))

    def switch_model(self, conversation_id: str, model: str) -> Conversation | Seed:
        """A conversation's model is fixed once it has turns (signatures belong to one model):
        switching then gives a seed for a new conversation with the current image."""
        conversation = self.store.conversation(conversation_id, signatures=False)
        spec = self.catalog.get(model)
        if not conversation.turns:
            self.store.set_model(conversation_id, spec.id)
            self.update_settings(conversation_id, conversation.settings)
            return self.store.conversation(conversation_id)
        latest = conversation.latest_image
        return Seed(
            model=spec.id,
            settings=self.fit_settings(spec, conversation.settings),
            title=f"{conversation.title} ({spec.label})"[:200],
            image_hash=latest.image_hash if latest else None,
            source_id=conversation.id,
        )

    def continue_from(self, conversation_id: str, image_hash: str) -> Seed:
        """A fresh start from this image; nothing is created until a message is sent."""
        source = self.store.conversation(conversation_id, with_turns=False)
        return Seed(
            model=source.model,
            settings=source.settings,
            title=f"From: {source.title}"[:200],
            image_hash=image_hash,
            source_id=source.id,
        )


def shown_status(turn: Turn, now: dt.datetime) -> Turn:
    """A turn as a person should see it: in flight with a lapsed lease means its process died
    (before sending it, if it was still queued)."""
    if not turn.lapsed(now):
        return turn
    return dataclasses.replace(
        turn, status=TurnStatus.INTERRUPTED, error_kind="interrupted", error_message=interrupted_message(turn.status)
    )
