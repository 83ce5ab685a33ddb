"""The studio's front door: conversations, and the turn service and runner behind them.

`StudioService.from_settings` builds one per process: the store, the HTTP client, the turn
service and its runner (workers plus the lease heartbeat). Building one never touches turns
held by another process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from core.config import Settings
from core.errors import InvalidInput
from core.media.library import ImageLibrary
from core.money.limits import limits_from
from core.provider.catalog import ModelCatalog, ModelSpec, load_catalog
from core.provider.client import GeminiClient
from core.review.desk import Review
from core.storage.schema import utcnow
from core.storage.store import Store
from core.team.addresses import Visitors
from core.team.featured import Featured
from core.team.gallery import Gallery
from core.team.housekeeping import Housekeeper
from core.team.people import LOCAL_EMAIL, User
from core.team.sharing import SharingStore
from core.turns.costs import TurnCosts
from core.turns.lifecycle import INTERRUPTED_MESSAGE, TurnLife
from core.turns.queue import TurnQueue
from core.turns.rules import NEW_TITLE, clean_title
from core.turns.run import TurnOutcome
from core.turns.runner import Drained, TurnRunner, process_identity
from core.turns.service import TurnService
from core.turns.wakeup import Waker
from core.values import (
    Conversation,
    ConversationSummary,
    GenerationSettings,
    Seed,
    Seen,
    Turn,
    TurnStatus,
    WaitingMessage,
)
from core.workspace import Workspace

log = logging.getLogger("studio")


class StudioService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: GeminiClient,
        catalog: ModelCatalog,
        *,
        workers: int = 8,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.catalog = catalog
        self.images = ImageLibrary(store.images, settings.max_upload_bytes, settings.upload_long_side)
        self.life = TurnLife(store.db, settings.lease_s, limits_from(settings))
        self.costs = TurnCosts(store.db, catalog, offline=client.offline)
        owner = owner or process_identity()
        self.turns = TurnService(
            settings=settings,
            store=store,
            life=self.life,
            client=client,
            catalog=catalog,
            library=self.images,
            owner=owner,
            costs=self.costs,
        )
        self.sharing = SharingStore(store.db)
        self.featured = Featured(store.db)
        self.visitors = Visitors(store.db)
        self._examples: list[str] | None = None
        self.gallery = Gallery(store.db)
        self.review = Review(store.db)
        self.shared_queue = TurnQueue(store.db, settings.lease_s)
        self.runner = TurnRunner(
            self.life,
            self._work,
            owner=owner,
            workers=workers,
            lease_s=settings.lease_s,
            queue=self.shared_queue,
            waker=Waker(settings.database_url, settings.worker_poll_s) if settings.run_turns else None,
            health=self.turns.health,
            landing=self.turns.land_spooled,
            rescue=self._rescue,
        )
        # The trash's 30 days and unused images, on a thread of its own (never the heartbeat's).
        # On a public demo, also the retention of visitors' unused work (STUDIO_DEMO_RETENTION_DAYS).
        self.housekeeper = Housekeeper(
            store.db, self.sharing, retention_days=settings.demo_retention_days if settings.demo else None
        )

    def _work(self, turn_id: int) -> TurnOutcome:
        """A worker's job: run the turn, then send on the message typed ahead behind it (if any),
        from this process, the one that holds the turn before it."""
        outcome = self.turns.execute(turn_id)
        self._submit(self.turns.follow(turn_id))
        return outcome

    def _rescue(self) -> None:
        # A process that stopped between landing a turn and sending the message typed ahead
        # behind it: any heartbeat sends it on (claiming it in one transaction: it goes once).
        for turn_id in self.turns.waiting.ready(dt.timedelta(seconds=self.settings.lease_s)):
            self._submit(self.turns.follow(turn_id))

    @classmethod
    def from_settings(cls, settings: Settings, *, workers: int = 8, **client_options: Any) -> StudioService:
        store = Store(settings.database_url, run_migrations=settings.migrate_on_start)
        client = GeminiClient(settings, **client_options)
        return cls(settings, store, client, load_catalog(settings.models_file, settings.default_model), workers=workers)

    def example_ids(self) -> list[str]:
        """The demo's examples: those an admin featured and the operator's chosen ones; with
        neither, on the offline model only, three it draws once (a real key shows ideas instead)."""
        chosen = list(dict.fromkeys([*self.featured.ids(), *self.settings.demo_examples]))
        if chosen or not self.offline:
            return chosen
        if self._examples is None:
            from core.demo import build_offline_examples

            self._examples = build_offline_examples(self)
        return self._examples

    def as_user(self, user: User) -> Workspace:
        """The studio as this person sees it: what entries (pages, a CLI, an API) talk to."""
        return Workspace(self, user)

    @property
    def settings(self) -> Settings:
        return self.turns.settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        # One source of truth: the turn service plans with these (a bench or test may change the budget).
        self.turns.settings = value
        self.life.limits = limits_from(value)

    def close(self) -> None:
        self.housekeeper.close()
        self.runner.close()

    @property
    def offline(self) -> bool:
        return self.client.offline

    # Conversations ------------------------------------------------------------------------

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
        allowed = self.settings.allowed_sizes
        return tuple(s for s in spec.image_sizes if not allowed or s in allowed)

    def offered_models(self) -> list[ModelSpec]:
        allowed = self.settings.allowed_models
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

    # Turns, queued for this process's runner: what a page (or an API) does.

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
        turns = self.turns.start_takes(conversation_id, text, image_hashes, seen=seen, takes=takes, marks=marks)
        return self._submit(turns)

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
        made = self.turns.start_or_wait(conversation_id, text, image_hashes, seen=seen, takes=takes)
        return made if isinstance(made, WaitingMessage) else self._submit(made)[0]

    def send_waiting(self, waiting_id: int, *, seen: Seen | int | bool | None) -> Turn | None:
        made = self._submit(self.turns.send_waiting(waiting_id, seen=seen))
        return made[0] if made else None

    def _submit(self, turns: list[Turn]) -> list[Turn]:
        if not self.settings.run_turns:
            self.shared_queue.wake()  # queued with no holder: a worker takes them
            return turns
        for turn in turns:
            self.runner.submit(turn.id)
        return turns

    @property
    def draining(self) -> bool:
        return self.runner.draining

    def drain(self) -> Drained:
        """A SIGTERM: take no more turns, finish the calls out (up to STUDIO_DRAIN_S), then stop."""
        return self.runner.drain(self.settings.drain_s)

    def queue_retry(self, request_id: int, *, seen: Seen | int | bool | None = False) -> Turn:
        return self._submit([self.turns.retry(request_id, seen=seen)])[0]

    def queue_resend(self, request_id: int, text: str, *, seen: Seen | int | bool | None = False) -> Turn:
        return self._submit([self.turns.resend(request_id, text, seen=seen)])[0]

    def queue_regenerate(self, reply_id: int, *, seen: Seen | int | bool | None = False, takes: int = 1) -> Turn:
        return self._submit(self.turns.regenerate(reply_id, seen=seen, takes=takes))[0]

    # Turns, synchronously: for tests, a CLI or a script.

    def send(self, conversation_id: str, text: str, image_hashes: list[str] | None = None) -> TurnOutcome:
        return self.runner.submit(self.turns.start(conversation_id, text, image_hashes).id).result()

    def retry(self, request_id: int) -> TurnOutcome:
        return self.runner.submit(self.turns.retry(request_id).id).result()

    def regenerate(self, reply_id: int) -> TurnOutcome:
        return self.runner.submit(self.turns.regenerate(reply_id)[0].id).result()


def shown_status(turn: Turn, now: dt.datetime) -> Turn:
    """A turn as a person should see it: in flight with a lapsed lease means its process died."""
    if not turn.lapsed(now):
        return turn
    return dataclasses.replace(
        turn, status=TurnStatus.INTERRUPTED, error_kind="interrupted", error_message=INTERRUPTED_MESSAGE
    )
