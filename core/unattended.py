"""The studio's verbs for entries with no person at them: the worker, a CLI, the bench, tests.

Mixed into `StudioService` (core/service.py), so a script writes `service.send(...)`. Each verb is
one call into a capability service (core/turns/chats.py, service.py, dispatch.py): no rule lives
here, and a person's workspace (core/workspace.py) calls the same services, never these verbs.
Pages and ui/ never call them (tests/test_front_door.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.turns.rules import NEW_TITLE

if TYPE_CHECKING:
    from core.provider.catalog import ModelSpec
    from core.turns.chats import Chats
    from core.turns.dispatch import Dispatch
    from core.turns.run import TurnOutcome
    from core.turns.service import TurnService
    from core.values import Conversation, ConversationSummary, GenerationSettings, Seed, Seen, Turn, WaitingMessage


class Unattended:
    """The wiring provides these three."""

    chats: Chats
    turns: TurnService
    dispatch: Dispatch

    # Conversations ------------------------------------------------------------------------

    def new_conversation(
        self,
        model: str | None = None,
        settings: GenerationSettings | None = None,
        *,
        title: str = NEW_TITLE,
        owner: str | None = None,
    ) -> Conversation:
        return self.chats.new_conversation(model, settings, title=title, owner=owner)

    def from_seed(self, seed: Seed, owner: str | None = None) -> Conversation:
        return self.chats.from_seed(seed, owner)

    def fit_settings(self, spec: ModelSpec, settings: GenerationSettings) -> GenerationSettings:
        return self.chats.fit_settings(spec, settings)

    def image_sizes(self, spec: ModelSpec) -> tuple[str, ...]:
        return self.chats.image_sizes(spec)

    def offered_models(self) -> list[ModelSpec]:
        return self.chats.offered_models()

    def conversations(self, owner: str | None = None, limit: int = 200) -> list[ConversationSummary]:
        return self.chats.conversations(owner, limit)

    def conversation(self, conversation_id: str, visible: int | None = None) -> Conversation:
        return self.chats.conversation(conversation_id, visible)

    def watch(self, conversation_id: str, turn_ids: set[int]) -> tuple[tuple[int | None, int | None], dict[int, Turn]]:
        return self.chats.watch(conversation_id, turn_ids)

    def queue_places(self, turns: list[Turn]) -> dict[int, int]:
        return self.chats.queue_places(turns)

    def rename(self, conversation_id: str, title: str) -> None:
        self.chats.rename(conversation_id, title)

    def update_settings(self, conversation_id: str, settings: GenerationSettings) -> GenerationSettings:
        return self.chats.update_settings(conversation_id, settings)

    def change_settings(self, conversation_id: str, **changes: Any) -> GenerationSettings:
        return self.chats.change_settings(conversation_id, **changes)

    def switch_model(self, conversation_id: str, model: str) -> Conversation | Seed:
        return self.chats.switch_model(conversation_id, model)

    def continue_from(self, conversation_id: str, image_hash: str) -> Seed:
        return self.chats.continue_from(conversation_id, image_hash)

    # Turns, queued for this process's runner (or the shared queue) -----------------------

    def queue(
        self,
        conversation_id: str,
        text: str,
        image_hashes: list[str] | None = None,
        *,
        seen: Seen | int | bool | None = False,
        takes: int = 1,
        marks: list[dict[str, Any]] | None = None,
    ) -> Turn:
        """Queue a message (or `takes` variations of it); the first turn is returned."""
        return self.queue_takes(conversation_id, text, image_hashes, seen=seen, takes=takes, marks=marks)[0]

    def queue_takes(
        self,
        conversation_id: str,
        text: str,
        image_hashes: list[str] | None = None,
        *,
        seen: Seen | int | bool | None = False,
        takes: int = 1,
        marks: list[dict[str, Any]] | None = None,
    ) -> list[Turn]:
        return self.dispatch.go(
            self.turns.start_takes(conversation_id, text, image_hashes, seen=seen, takes=takes, marks=marks)
        )

    def queue_or_wait(
        self,
        conversation_id: str,
        text: str,
        image_hashes: list[str] | None = None,
        *,
        seen: Seen | int | bool | None,
        takes: int = 1,
    ) -> Turn | WaitingMessage:
        """The chat input's message: queued now (the first take returned), or typed ahead."""
        return self.dispatch.first(
            self.turns.start_or_wait(conversation_id, text, image_hashes, seen=seen, takes=takes)
        )

    def send_waiting(self, waiting_id: int, *, seen: Seen | int | bool | None) -> Turn | None:
        return self.dispatch.one(self.turns.send_waiting(waiting_id, seen=seen))

    def queue_retry(self, request_id: int, *, seen: Seen | int | bool | None = False) -> Turn:
        return self.dispatch.go([self.turns.retry(request_id, seen=seen)])[0]

    def queue_resend(self, request_id: int, text: str, *, seen: Seen | int | bool | None = False) -> Turn:
        return self.dispatch.go([self.turns.resend(request_id, text, seen=seen)])[0]

    def queue_regenerate(self, reply_id: int, *, seen: Seen | int | bool | None = False, takes: int = 1) -> Turn:
        return self.dispatch.go(self.turns.regenerate(reply_id, seen=seen, takes=takes))[0]

    # Turns, synchronously: the answer is returned -----------------------------------------

    def send(self, conversation_id: str, text: str, image_hashes: list[str] | None = None) -> TurnOutcome:
        return self.dispatch.run(self.turns.start(conversation_id, text, image_hashes))

    def retry(self, request_id: int) -> TurnOutcome:
        return self.dispatch.run(self.turns.retry(request_id))

    def regenerate(self, reply_id: int) -> TurnOutcome:
        return self.dispatch.run(self.turns.regenerate(reply_id)[0])
