"""The studio as one person sees it, and the one front door a person's words pass: every verb
applies the rules of core/team/access.py (through the person's guard) and then calls a capability
service directly (turns, conversations, sharing, gallery, costs). Pages use this, never the
service's verbs, so nobody can read, change or spend through another person's work."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from core.demo import DemoDesk
from core.errors import Forbidden, InvalidInput, NotFound, StudioError
from core.money.desk import Spending
from core.provider.catalog import Retirement
from core.review.desk import ReviewDesk
from core.storage.outage import DatabaseUnreachable
from core.team import access, housekeeping
from core.team.guard import Guard
from core.team.people import User
from core.turns.replay import ReplayPlan
from core.values import Conversation, ConversationSummary, GenerationSettings, Seed, Seen, Turn, WaitingMessage
from core.versions.desk import VersionDesk

if TYPE_CHECKING:
    from core.media.library import Upload
    from core.service import StudioService
    from core.team.audit import AuditEntry
    from core.team.gallery import GalleryItem
    from core.turns.costs import TurnCosts


NOT_YOURS = "An attached image is not one you can use here; attach it again from your computer."


class Workspace(Spending):
    user: User
    guard: Guard
    costs: TurnCosts

    def __init__(self, service: StudioService, user: User) -> None:
        # The process's wiring: its capability services, called directly (never its own verbs,
        # which are for entries with no person at them: core/unattended.py).
        self.user = user
        self.store, self.catalog, self.images = service.store, service.catalog, service.images
        self.costs, self.sharing, self.gallery_store = service.costs, service.sharing, service.gallery
        self.chats, self.turns, self.dispatch = service.chats, service.turns, service.dispatch
        self.runner = service.runner
        self.featured, self.example_ids = service.featured, service.example_ids  # the demo's
        self.settings = service.settings
        self.offline = service.offline
        self.workers = self.runner.workers
        self.fit_settings = self.chats.fit_settings
        self.image_sizes = self.chats.image_sizes
        self.offered_models = self.chats.offered_models
        self.guard = Guard(user=user, store=service.store, sharing=service.sharing)
        # A public demo's verbs: examples, featuring, and what a visitor may keep (core/demo.py).
        self.demo = DemoDesk(self)
        self.versions = VersionDesk(self.guard, service, submit=self.submit)
        self.review = ReviewDesk(self.guard, service.review, service.images)

    @property
    def draining(self) -> bool:
        """This process is stopping for a deploy: it takes no new turns (another process will)."""
        return self.runner.draining

    # Reading ------------------------------------------------------------------------------

    def can_change(self, conversation: Conversation) -> bool:
        return access.can_own(self.user, conversation)

    def can_send(self, conversation: Conversation) -> bool:
        """The owner, on a model that still answers: a conversation on a retired model is
        read-only (its owner may still rename, share or delete it)."""
        return self.can_change(conversation) and self.retired(conversation) is None

    def retired(self, conversation: Conversation) -> Retirement | None:
        """A conversation whose model was retired: which, when, and where it goes on."""
        spec = self.catalog.models.get(conversation.model)
        if spec is None or not spec.is_retired():
            return None
        return Retirement(model=spec, successor=self.catalog.successor(spec))

    def conversation(
        self, conversation_id: str, visible: int | None = None, *, token: str | None = None
    ) -> Conversation:
        self.guard.head(conversation_id, token)
        return self.chats.conversation(conversation_id, visible)

    def by_link(self, token: str) -> str:
        found = self.sharing.by_token(token)
        if found is None:
            raise NotFound("That share link does not work any more (it may have been revoked).")
        return found

    def watch(self, conversation_id: str, turn_ids: set[int], token: str | None = None) -> tuple[tuple, dict]:
        self.guard.head(conversation_id, token)
        return self.chats.watch(conversation_id, turn_ids)

    def queue_places(self, turns: list[Turn]) -> dict[int, int]:
        return self.chats.queue_places(turns)

    def live_progress(self, conversation_id: str, turn_ids: set[int], token: str | None = None) -> dict[int, Any]:
        """Running turns' latest thought summary and draft (LiveProgress) while they stream."""
        self.guard.head(conversation_id, token)
        return self.chats.progress(conversation_id, turn_ids)

    def conversations(
        self,
        tab: str = "mine",
        *,
        limit: int = 200,
        offset: int = 0,
        search: str | None = None,
        model: str | None = None,
        person: str | None = None,
        since: dt.datetime | None = None,
    ) -> list[ConversationSummary]:
        """Mine, shared with the team (others' only; `person` narrows to one owner), or the trash."""
        store = self.store
        filters: dict[str, Any] = {"search": search, "model": model, "offset": offset, "since": since}
        if tab == "team" and not self.publishing:
            return []  # a demo's visitors see no one's work but their own
        if tab == "team":
            owner = person.strip().lower() if person and person.strip() else None
            found = store.conversations(owner, limit + 1, visibility=access.TEAM, **filters)
            found = [s for s in found if not access.is_owner(self.user, s)][:limit]
        elif tab == "trash":
            found = store.conversations(None if self.user.is_admin else self.user.key, limit, deleted=True, **filters)
        else:
            found = store.conversations(self.user.key, limit, **filters)
        # A share link is its owner's to hand out: nobody else's listing carries it.
        return [s if access.is_owner(self.user, s) else dataclasses.replace(s, share_token=None) for s in found]

    def meter(self, conversation: Conversation, text: str = "", image_hashes: list[str] | None = None) -> ReplayPlan:
        return self.turns.meter(conversation, text, image_hashes)

    def can_retry(self, turn: Turn, conversation: Conversation) -> bool:
        spec = self.catalog.get(conversation.model)
        return access.can_own(self.user, conversation) and self.turns.can_retry(turn, spec)

    def download(self, conversation_id: str, image_hash: str, token: str | None = None) -> tuple[bytes, str]:
        """An image, only through a conversation this person may read that holds it."""
        self.guard.head(conversation_id, token)
        if not self.sharing.image_in(conversation_id, image_hash):
            raise NotFound("That image is not part of this conversation.")
        return self.images.download(image_hash)

    def gallery(self, **filters: Any) -> list[GalleryItem]:
        """Every result this person may see, newest first (search, model, person, favourites)."""
        return self.gallery_store.items(self.user, **filters)

    def favourite(self, reply_id: int) -> bool:
        turn = self.store.turn(reply_id)
        self.guard.head(turn.conversation_id)
        return self.gallery_store.toggle(self.user, reply_id)

    # Conversations ------------------------------------------------------------------------

    def new_conversation(self, model: str | None = None, settings: GenerationSettings | None = None) -> Conversation:
        self.demo.may_add_conversation()
        return self.chats.new_conversation(model, settings, owner=self.user.key)

    def from_seed(self, seed: Seed) -> Conversation:
        self.guard.head(seed.source_id)
        self.demo.may_add_conversation()
        return self.chats.from_seed(seed, owner=self.user.key)

    def continue_from(self, conversation_id: str, image_hash: str, token: str | None = None) -> Seed:
        self.guard.head(conversation_id, token)
        if not self.sharing.image_in(conversation_id, image_hash):
            raise NotFound("That image is not part of this conversation.")
        return self.chats.continue_from(conversation_id, image_hash)

    def switch_model(self, conversation_id: str, model: str) -> Conversation | Seed:
        self.guard.owned(conversation_id)
        return self.chats.switch_model(conversation_id, model)

    def rename(self, conversation_id: str, title: str) -> None:
        self.guard.owned(conversation_id)
        self.chats.rename(conversation_id, title)

    def update_settings(self, conversation_id: str, settings: GenerationSettings) -> GenerationSettings:
        self.guard.owned(conversation_id)
        return self.chats.update_settings(conversation_id, settings)

    def change_settings(self, conversation_id: str, **changes: Any) -> GenerationSettings:
        self.guard.owned(conversation_id)
        return self.chats.change_settings(conversation_id, **changes)

    def share(self, conversation_id: str, team: bool) -> None:
        self._may_publish()
        self.guard.owned(conversation_id)
        self.sharing.set_visibility(conversation_id, access.TEAM if team else access.PRIVATE, self.user.key)

    def create_link(self, conversation_id: str) -> str:
        self._may_publish()
        self.guard.owned(conversation_id)
        return self.sharing.create_link(conversation_id, self.user.key)

    def revoke_link(self, conversation_id: str) -> None:
        self.guard.owned(conversation_id)
        self.sharing.revoke_link(conversation_id, self.user.key)

    def copy(self, conversation_id: str, token: str | None = None) -> str:
        """Make a copy of your own, from which you go on: the same history, replayed exactly."""
        self.guard.head(conversation_id, token)
        self.demo.may_add_conversation(self.demo.copy_bytes(conversation_id))
        return self.sharing.copy(conversation_id, self.user.key, self.user.key)

    def delete(self, conversation_id: str) -> None:
        """To the trash: kept for 30 days, restorable."""
        self.guard.owned(conversation_id)
        self.sharing.trash(conversation_id, self.user.key)

    def restore(self, conversation_id: str) -> None:
        head = self.guard.head(conversation_id)
        if not access.can_restore(self.user, head):
            raise Forbidden("Only its owner or an admin can restore this conversation.")
        self.sharing.restore(conversation_id, self.user.key)

    def purge_expired(self) -> int:
        """The trash keeps 30 days; older ones go, except while a turn in them still runs."""
        return housekeeping.purge_expired(self.sharing)

    def delete_forever(self, conversation_id: str) -> None:
        head = self.guard.head(conversation_id)
        if not access.can_restore(self.user, head) or head.deleted_at is None:
            raise Forbidden("Only a conversation in the trash can be deleted forever, by its owner or an admin.")
        self.sharing.purge(conversation_id, self.user.key)

    def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        if not self.user.is_admin:
            raise Forbidden("Only admins can see the audit log.")
        from core.team.audit import entries

        return entries(self.sharing.log(limit))

    # Demo ---------------------------------------------------------------------------------

    @property
    def publishing(self) -> bool:
        """Whether this person may share with the team and make links: everyone but a public
        demo's visitors, who see and keep their own work only."""
        return not self.user.is_visitor

    def _may_publish(self) -> None:
        if not self.publishing:
            raise Forbidden("On this demo your work is your own: it cannot be shared.")

    def takes_offered(self, conversation: Conversation | None, most: int = 4) -> int:
        """How many takes the limits let through now (at least 1: a refusal then says why). For
        a conversation not yet made, the count limits only (its cost is not known yet)."""
        from core.money.ledger import Charge
        from core.money.limits import headroom

        if conversation is not None and not self.can_change(conversation):
            return 1
        if conversation is None:
            charge = Charge(person=self.user.key, model=self.catalog.default.id, image_size=None, estimate_micro=0)
        else:
            charge = self.costs.charge(conversation, "", 0, conversation.settings, conversation.tip_id)
        with self.store.read() as db:
            return max(1, headroom(db, self.turns.life.limits, charge, most))

    # Turns --------------------------------------------------------------------------------

    def submit(
        self,
        conversation_id: str,
        text: str,
        image_hashes: list[str],
        *,
        problems: list[str] | None = None,
        seen: Seen | int | bool | None = False,
        takes: int = 1,
        marks: list[dict[str, Any]] | None = None,
    ) -> tuple[Turn, StudioError | None]:
        """Queue a message; or, when it cannot be sent (a bad attachment, a limit, a stale tab),
        keep its words and good images as a failed turn that says why. Nothing typed is lost."""
        self.guard.owned(conversation_id)
        image_hashes, refused = self._attachable(image_hashes)
        problems = [*(problems or []), *([NOT_YOURS] if refused else [])]
        try:
            if problems:
                raise InvalidInput(" ".join(problems))
            turns = self.turns.start_takes(conversation_id, text, image_hashes, seen=seen, takes=takes, marks=marks)
            return self.dispatch.go(turns)[0], None
        except (NotFound, Forbidden, DatabaseUnreachable):
            raise  # unreachable or refusing writes: nothing was written; the page keeps the words
        except StudioError as error:
            return self.turns.reject(conversation_id, text, image_hashes, error), error

    def type_ahead(
        self,
        conversation_id: str,
        text: str,
        image_hashes: list[str],
        *,
        problems: list[str] | None = None,
        seen: Seen | int | bool | None = False,
        takes: int = 1,
    ) -> tuple[Turn | WaitingMessage, StudioError | None]:
        """The chat input's message: queued, or typed ahead while this tab's own turn is being
        made (it goes when that lands). A tab behind someone else's change, a limit, a bad
        attachment: kept as a failed turn that says why, as `submit` does."""
        self.guard.owned(conversation_id)
        image_hashes, refused = self._attachable(image_hashes)
        problems = [*(problems or []), *([NOT_YOURS] if refused else [])]
        try:
            if problems:
                raise InvalidInput(" ".join(problems))
            made = self.turns.start_or_wait(conversation_id, text, image_hashes, seen=seen, takes=takes)
            return self.dispatch.first(made), None
        except (NotFound, Forbidden, DatabaseUnreachable):
            raise  # unreachable or refusing writes: nothing was written; the page keeps the words
        except StudioError as error:
            return self.turns.reject(conversation_id, text, image_hashes, error), error

    def waiting(self, conversation_id: str, token: str | None = None) -> list[WaitingMessage]:
        self.guard.head(conversation_id, token)
        return self.turns.waiting.of(conversation_id)

    def _owned_waiting(self, waiting_id: int) -> WaitingMessage:
        message = self.turns.waiting.get(waiting_id)
        self.guard.owned(message.conversation_id)
        return message

    def edit_waiting(self, waiting_id: int, text: str) -> None:
        message = self._owned_waiting(waiting_id)
        if not text.strip() and not message.image_hashes:
            raise InvalidInput("A message needs words or an image; remove it instead.")
        self.turns.waiting.edit(waiting_id, text.strip())

    def remove_waiting(self, waiting_id: int) -> bool:
        self._owned_waiting(waiting_id)
        return self.turns.waiting.remove(waiting_id)

    def send_waiting(self, waiting_id: int, *, seen: Seen | int | bool | None = False) -> Turn | None:
        """Send a message whose turn before it did not land, against the current version."""
        self._owned_waiting(waiting_id)
        return self.dispatch.one(self.turns.send_waiting(waiting_id, seen=seen))

    def queue(
        self,
        conversation_id: str,
        text: str,
        image_hashes: list[str] | None = None,
        *,
        seen: Seen | int | bool | None = False,
    ) -> Turn:
        self.guard.owned(conversation_id)
        if self._attachable(image_hashes or [])[1]:
            raise InvalidInput(NOT_YOURS)
        return self.dispatch.go(self.turns.start_takes(conversation_id, text, image_hashes, seen=seen))[0]

    def upload(self, data: bytes, filename: str = "image") -> Upload:
        """Check and store an upload; it is this person's to attach."""
        return self.images.add_upload(data, filename, person=self.user.key)

    def _attachable(self, image_hashes: list[str]) -> tuple[list[str], list[str]]:
        """The attachments this person may send, and those refused: a stored image hash alone
        gives nothing. Theirs are what they uploaded (or the studio made for them: a marked copy,
        a demo example's image), what a conversation they may read holds, and the brand kit."""
        key = self.user.key
        kit = self.review.kit_hashes(list(image_hashes)) if image_hashes else set()
        ok: list[str] = []
        refused: list[str] = []
        for image_hash in image_hashes:
            mine = self.images.granted(key, image_hash) or image_hash in kit
            (ok if mine or self.guard.may_read_image(image_hash) else refused).append(image_hash)
        return ok, refused

    def queue_retry(self, turn_id: int, *, seen: Seen | int | bool | None = False) -> Turn:
        self.guard.owned_turn(turn_id)
        return self.dispatch.go([self.turns.retry(turn_id, seen=seen)])[0]

    def queue_resend(self, turn_id: int, text: str, *, seen: Seen | int | bool | None = False) -> Turn:
        self.guard.owned_turn(turn_id)
        return self.dispatch.go([self.turns.resend(turn_id, text, seen=seen)])[0]

    def queue_regenerate(self, reply_id: int, *, seen: Seen | int | bool | None = False) -> Turn:
        self.guard.owned_turn(reply_id)
        return self.dispatch.go(self.turns.regenerate(reply_id, seen=seen))[0]

    def cancel(self, turn_id: int) -> Any:
        self.guard.owned_turn(turn_id)
        return self.turns.cancel(turn_id)

    def remove(self, turn_id: int) -> bool:
        self.guard.owned_turn(turn_id)
        if not self.turns.remove(turn_id):
            raise InvalidInput("Only a turn that did not go through can be removed.")
        return True
