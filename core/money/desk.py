"""Money as one person sees it, mixed into their workspace (core/workspace.py): what the next turn
should cost, what a conversation has cost, how long such a turn usually takes, and the Usage page's
figures (a person sees their own spending; an admin anyone's). Reads only; every verb that names a
conversation asks the person's gate first."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol

from core.money import durations, usage
from core.money.durations import Typical
from core.money.prices import Estimate

if TYPE_CHECKING:
    from core.config import Settings
    from core.money.usage import UsageReport
    from core.storage.store import Store
    from core.values import Conversation


class Person(Protocol):
    """Who is asking (core/team/people.User)."""

    @property
    def key(self) -> str: ...

    @property
    def is_admin(self) -> bool: ...


class Gate(Protocol):
    """The person's gate (core/team/guard.Guard): a conversation's head if they may read it."""

    def head(self, conversation_id: str, token: str | None = None) -> Conversation: ...


class Pricing(Protocol):
    """A turn's estimate before and a conversation's cost after (core/turns/costs.TurnCosts)."""

    def estimate(self, conversation: Conversation, text: str, images: int) -> Estimate: ...

    def conversation_total(self, conversation_id: str) -> tuple[int, int]: ...


class Spending:
    """The workspace's money verbs; the workspace provides these attributes."""

    user: Person
    guard: Gate
    costs: Pricing
    store: Store
    settings: Settings

    def typical(self, model: str, image_size: str | None) -> Typical | None:
        """How long such a turn usually takes (recent measured calls in the ledger)."""
        with self.store.read() as db:
            return durations.typical(db, model, image_size)

    def estimate(self, conversation: Conversation, text: str = "", images: int = 0) -> Estimate:
        """What the next turn here should cost, before anything is sent."""
        self.guard.head(conversation.id)
        return self.costs.estimate(conversation, text, images)

    def spent(self, conversation_id: str, token: str | None = None) -> tuple[int, int]:
        """(known cost, estimate of calls that may be billed at an unknown cost) in this
        conversation, micro-dollars."""
        self.guard.head(conversation_id, token)
        return self.costs.conversation_total(conversation_id)

    def _usage_person(self, person: str | None) -> str | None:
        if self.user.is_admin:
            return person.strip().lower() if person and person.strip() else None
        return self.user.key  # a person sees only their own spending

    def usage(self, since: dt.datetime, until: dt.datetime | None = None, person: str | None = None) -> UsageReport:
        with self.store.read() as db:
            person = self._usage_person(person)
            return usage.report(db, since=since, until=until, person=person, zone=self.settings.timezone)

    def usage_csv(self, since: dt.datetime, until: dt.datetime | None = None, person: str | None = None) -> str:
        with self.store.read() as db:
            return "".join(usage.csv_lines(db, since=since, until=until, person=self._usage_person(person)))
