"""The wiring a process builds once: the store, the HTTP client, the capability services (turns,
conversations, sharing, gallery, review, costs) and the runner (workers plus the lease heartbeat).

`StudioService.from_settings` builds one per process; building one never touches turns held by
another process. A person's words go through their workspace (`as_user`), which calls the
capability services directly; entries with no person at them (the worker, a CLI, the bench,
tests) use the verbs mixed in from core/unattended.py, which call the same services.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from core.config import Settings
from core.media.library import ImageLibrary
from core.money.limits import limits_from
from core.provider.catalog import ModelCatalog, load_catalog
from core.provider.client import GeminiClient
from core.review.desk import Review
from core.storage.outage import unreachable
from core.storage.store import Store
from core.team.addresses import Visitors
from core.team.featured import Featured
from core.team.gallery import Gallery
from core.team.housekeeping import Housekeeper
from core.team.people import User
from core.team.sharing import SharingStore
from core.turns.chats import Chats
from core.turns.costs import TurnCosts
from core.turns.dispatch import Dispatch
from core.turns.lifecycle import TurnLife
from core.turns.queue import TurnQueue
from core.turns.run import TurnOutcome
from core.turns.runner import Drained, TurnRunner, process_identity
from core.turns.service import TurnService
from core.turns.wakeup import Waker
from core.unattended import Unattended
from core.workspace import Workspace

log = logging.getLogger("studio")


class StudioService(Unattended):
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
        self.dispatch = Dispatch(runner=self.runner, shared_queue=self.shared_queue, settings=lambda: self.settings)
        self.chats = Chats(store=store, catalog=catalog, settings=lambda: self.settings, runner=self.runner)
        # The trash's 30 days and unused images, on a thread of its own (never the heartbeat's).
        # On a public demo, also the retention of visitors' unused work (STUDIO_DEMO_RETENTION_DAYS).
        self.housekeeper = Housekeeper(
            store.db, self.sharing, retention_days=settings.demo_retention_days if settings.demo else None
        )

    def _work(self, turn_id: int) -> TurnOutcome:
        """A worker's job: run the turn, then send on the message typed ahead behind it (if any),
        from this process, the one that holds the turn before it."""
        outcome = self.turns.execute(turn_id)
        self.dispatch.go(self.turns.follow(turn_id))
        return outcome

    def _rescue(self) -> None:
        # A process that stopped between landing a turn and sending the message typed ahead
        # behind it: any heartbeat sends it on (claiming it in one transaction: it goes once).
        for turn_id in self.turns.waiting.ready(dt.timedelta(seconds=self.settings.lease_s)):
            self.dispatch.go(self.turns.follow(turn_id))

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

    def reachable(self) -> bool:
        """Whether the database answers now (a page waiting out an outage asks)."""
        try:
            self.store.db.ping(writes=True)
        except Exception as exc:
            if not unreachable(exc):
                raise
            return False
        return True

    def close(self) -> None:
        self.housekeeper.close()
        self.runner.close()

    @property
    def offline(self) -> bool:
        return self.client.offline

    @property
    def draining(self) -> bool:
        return self.runner.draining

    def drain(self) -> Drained:
        """A SIGTERM: take no more turns, finish the calls out (up to STUDIO_DRAIN_S), then stop."""
        return self.runner.drain(self.settings.drain_s)
