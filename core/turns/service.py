"""Turns, end to end: check the input and queue it (one, or several takes, each editing a
version); retry, resend, another take and cancel; running it is core/turns/run.py, planning the
request core/turns/plan.py. Every rule about a turn is here, so any entry (the pages, a CLI, an
API) gets the same behaviour.

The user's words and images are stored first (queued); the request is built from the branch the
turn edits and the settings stored on the turn itself.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.errors import InvalidInput, ModelRetired, StudioError
from core.media.library import ImageLibrary
from core.provider.catalog import ModelCatalog, ModelSpec, settings_in_text
from core.provider.client import GeminiClient
from core.storage.outage import DatabaseHealth
from core.storage.schema import utcnow
from core.storage.spool import Spool, spool_dir
from core.storage.store import Store
from core.turns.lifecycle import NewTurn, TurnLife
from core.turns.plan import TurnPlanner
from core.turns.replay import (
    ReplayPlan,
)
from core.turns.rules import check_message, kept_text, new_title, whole_text
from core.turns.run import TurnRunning
from core.turns.waiting import AlreadyGone, WaitingQueue
from core.values import Conversation, Part, Seen, Turn, TurnStatus, WaitingMessage

if TYPE_CHECKING:
    from core.turns.costs import TurnCosts

MAX_TAKES = 4


class TurnService(TurnRunning):
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        life: TurnLife,
        client: GeminiClient,
        catalog: ModelCatalog,
        library: ImageLibrary,
        owner: str,
        costs: TurnCosts,
    ) -> None:
        self.settings = settings
        self.store = store
        self.life = life
        self.client = client
        self.catalog = catalog
        self.images = library
        self.owner = owner
        self.costs = costs
        self.planner = TurnPlanner(store, lambda: self.settings)
        self.health = DatabaseHealth()
        self.spool = Spool(spool_dir(Path(settings.spool_dir), settings.database_url))
        self.waiting = WaitingQueue(store.db)

    # Queueing -----------------------------------------------------------------------------

    def start(
        self,
        conversation_id: str,
        text: str,
        image_hashes: list[str] | None = None,
        *,
        seen: Seen | int | bool | None = False,
    ) -> Turn:
        return self.start_takes(conversation_id, text, image_hashes, seen=seen)[0]

    def start_takes(
        self,
        conversation_id: str,
        text: str,
        image_hashes: list[str] | None = None,
        *,
        seen: Seen | int | bool | None = False,
        takes: int = 1,
        marks: list[dict[str, Any]] | None = None,
    ) -> list[Turn]:
        """Check the input and store it as queued user turns (one, or `takes` variations with the
        same history); nothing typed is lost after this. Each edits the current version. `seen`
        is the newest turn the person saw: if another arrived since, nothing is queued."""
        hashes = list(dict.fromkeys(image_hashes or []))
        text = whole_text(text).strip()
        conversation = self.store.conversation(conversation_id, with_turns=False)
        spec = self.catalog.get(conversation.model)
        check_message(spec, text, hashes)
        _check_takes(takes)
        parts = self._user_parts(text, hashes, strict=True)
        self._check_size(parts)
        return self._add(
            conversation, spec, text, parts, seen=seen, parent=conversation.tip_id, takes=takes, marks=marks
        )

    def start_or_wait(
        self,
        conversation_id: str,
        text: str,
        image_hashes: list[str] | None = None,
        *,
        seen: Seen | int | bool | None,
        takes: int = 1,
    ) -> list[Turn] | WaitingMessage:
        """A message from the chat input: queued now, or, while this conversation's turn is being
        made, kept waiting to go when it lands (typed ahead). Checked now either way, so a
        message that could never go says so at once."""
        hashes = list(dict.fromkeys(image_hashes or []))
        text = whole_text(text).strip()
        conversation = self.store.conversation(conversation_id, with_turns=False)
        spec = self.catalog.get(conversation.model)
        check_message(spec, text, hashes)
        _check_takes(takes)
        parts = self._user_parts(text, hashes, strict=True)
        self._check_size(parts)
        new = self._new_turn(conversation, spec, text, parts, parent=conversation.tip_id)
        return self.life.add_or_wait(new, seen=seen, takes=takes, text=text, hashes=hashes)

    def follow(self, request_id: int) -> list[Turn]:
        """The turn `request_id` has landed: the first message waiting for it goes now, editing
        its answer. Nothing goes if it did not land; a message that cannot go (a limit reached, an
        image gone) is kept as a failed turn that says why, and the rest wait behind that."""
        head = self.waiting.first_after(request_id)
        if head is None:
            return []
        request = self.store.turn(request_id)
        reply = self.store.reply_to(request_id)
        if request.status != TurnStatus.OK or reply is None or reply.status != TurnStatus.OK:
            return []
        return self._send_waiting(head, parent=reply.id, seen=False, busy_ok=True)

    def send_waiting(self, waiting_id: int, *, seen: Seen | int | bool | None) -> list[Turn]:
        """A message whose turn before it did not land, sent now against the current version."""
        head = self.waiting.get(waiting_id)
        conversation = self.store.conversation(head.conversation_id, with_turns=False)
        return self._send_waiting(head, parent=conversation.tip_id, seen=seen, busy_ok=False)

    def _send_waiting(
        self, head: WaitingMessage, *, parent: int | None, seen: Seen | int | bool | None, busy_ok: bool
    ) -> list[Turn]:
        conversation = self.store.conversation(head.conversation_id, with_turns=False)
        spec = self.catalog.get(conversation.model)
        try:
            check_message(spec, head.text, head.image_hashes)
            parts = self._user_parts(head.text, head.image_hashes, strict=True)
            self._check_size(parts)
            # Going by itself it edits the answer of the turn before it; sent by the person, the
            # current version (read under the lock).
            new = self._new_turn(conversation, spec, head.text, parts, parent=parent, edits_tip=not busy_ok)
            return self.life.add_takes(new, seen=seen, takes=head.takes, claim=head.id, busy_ok=busy_ok)
        except AlreadyGone:
            return []
        except StudioError as error:
            if not busy_ok:
                raise  # the person is looking: say why, the message stays waiting
            # Going by itself: kept as a failed turn that says why; nothing typed is lost.
            parts = self._user_parts(head.text, head.image_hashes, strict=False)
            failed = NewTurn(
                conversation_id=conversation.id,
                parts=parts,
                settings=conversation.settings,
                weight=self.weigh(parts),
                status=TurnStatus.FAILED,
                error_kind=error.kind,
                error_message=error.message,
                parent_id=parent,
                edits_tip=False,
            )
            try:
                self.life.add(failed, claim=head.id)
            except AlreadyGone:
                pass
            return []

    def _check_size(self, parts: list[Part]) -> None:
        # History gives way for size; the new message itself cannot, so say so before sending.
        weight = self.weigh(parts) + 1024
        if weight > self.settings.max_request_bytes:
            raise InvalidInput(
                f"This message is {weight / 1_048_576:.1f} MB once encoded; one request carries at most "
                f"{self.settings.max_request_mb:g} MB. Remove some images or attach smaller ones."
            )

    def _add(
        self,
        conversation: Conversation,
        spec: ModelSpec,
        text: str,
        parts: list[Part],
        *,
        seen: Seen | int | bool | None,
        parent: int | None,
        replace: list[int] | None = None,
        takes: int = 1,
        marks: list[dict[str, Any]] | None = None,
        edits_tip: bool = True,
    ) -> list[Turn]:
        new = self._new_turn(conversation, spec, text, parts, parent=parent, marks=marks, edits_tip=edits_tip)
        _check_takes(takes)  # every way of queueing (a message, Another take, Retry) passes here
        return self.life.add_takes(new, seen=seen, replace=replace, takes=takes)

    def _new_turn(
        self,
        conversation: Conversation,
        spec: ModelSpec,
        text: str,
        parts: list[Part],
        *,
        parent: int | None,
        marks: list[dict[str, Any]] | None = None,
        edits_tip: bool = True,
    ) -> NewTurn:
        """`parent` is the version it edits as read now; with `edits_tip` the turn edits whatever
        is current when it is written (read again under the lock), else `parent` itself."""
        self.refuse_if_retired(spec)
        settings = conversation.settings
        typed = settings_in_text(spec, text)
        if typed:
            # "4K, 16:9" in a message sets the conversation's output from this turn on.
            settings = dataclasses.replace(
                settings,
                aspect_ratio=typed.get("aspect_ratio", settings.aspect_ratio),
                image_size=typed.get("image_size", settings.image_size),
            )
        images = sum(1 for p in parts if p.image_hash)
        return NewTurn(
            conversation_id=conversation.id,
            parts=parts,
            settings=settings,
            weight=self.weigh(parts),
            # A queue-only process holds nothing: the shared queue's workers take it.
            lease_owner=self.owner if self.settings.run_turns else None,
            title=new_title(conversation, text),
            charge=self.costs.charge(conversation, text, images, settings, parent),
            parent_id=parent,
            edits_tip=edits_tip,
            marks=marks,
        )

    def refuse_if_retired(self, spec: ModelSpec) -> None:
        """A retired model answers nobody: its conversations are read-only and go on, as new
        conversations from their latest image, on its successor."""
        if not spec.is_retired():
            return
        successor = self.catalog.successor(spec)
        where = f"Continue on {successor.label} starts" if successor else "Use another model (in the sidebar) starts"
        raise ModelRetired(
            f"Not sent: {spec.label} ({spec.id}) was retired on {spec.retired:%d %B %Y} and no longer answers. "
            f"This conversation stays here to look at; {where} a new conversation from its latest image. "
            "Your words are kept."
        )

    def reject(
        self,
        conversation_id: str,
        text: str,
        image_hashes: list[str],
        reason: StudioError,
        *,
        seen: Seen | int | bool | None = False,
    ) -> Turn:
        """Keep a message that cannot be sent as it is (a bad attachment, an over-long prompt) as a
        failed turn, so the words and the good images stay in the conversation, ready to retry."""
        conversation = self.store.conversation(conversation_id, with_turns=False)
        text = kept_text(text).strip()
        parts = self._user_parts(text, image_hashes, strict=False)
        new = NewTurn(
            conversation_id=conversation_id,
            parts=parts,
            settings=conversation.settings,
            weight=self.weigh(parts),
            status=TurnStatus.FAILED,
            title=new_title(conversation, text),
            error_kind=reason.kind,
            error_message=reason.message,
            parent_id=conversation.tip_id,
        )
        return self.life.add(new, seen=seen)

    def retry(self, request_id: int, *, seen: Seen | int | bool | None = False) -> Turn:
        """Queue a failed, cancelled or interrupted turn's words and images again, as a new turn;
        the old one stays visible, marked as retried, and is never replayed."""
        old = self.store.turn(request_id)
        if old.role != "user" or not (old.status.retryable or old.lapsed(utcnow())):
            raise InvalidInput("Only a turn that failed, was cancelled or was interrupted can be retried.")
        # A turn that never went through is sent now, against the current version.
        return self._again(old, seen=seen, replace=[old.id], from_tip=True)[0]

    def resend(self, request_id: int, text: str, *, seen: Seen | int | bool | None = False) -> Turn:
        """Edit a prompt and send it again, with its images, from the version before it. A turn
        that did not go through is marked as retried; an answered one stays, and the new one is a
        sibling branch beside it."""
        old = self.store.turn(request_id)
        failed = old.status.retryable or old.lapsed(utcnow())
        if old.role != "user" or not (failed or old.status == TurnStatus.OK):
            raise InvalidInput("Only a prompt that was answered, failed, was cancelled or interrupted can be resent.")
        hashes = [p.image_hash for p in old.parts if p.image_hash]
        conversation = self.store.conversation(old.conversation_id, with_turns=False)
        spec = self.catalog.get(conversation.model)
        text = whole_text(text)
        check_message(spec, text.strip(), hashes)
        parts = self._user_parts(text.strip(), hashes, strict=True)
        self._check_size(parts)
        # Not sent before: it goes now, against the current version. Answered: a sibling branch.
        replace, parent = ([old.id], conversation.tip_id) if failed else ([], old.parent_id)
        return self._add(
            conversation,
            spec,
            text.strip(),
            parts,
            seen=seen,
            parent=parent,
            replace=replace,
            marks=old.marks,
            edits_tip=failed,
        )[0]

    def remove(self, request_id: int) -> bool:
        """Remove a turn that never became part of the conversation (a failed or cancelled one)."""
        return self.life.remove(request_id)

    def regenerate(self, reply_id: int, *, seen: Seen | int | bool | None = False, takes: int = 1) -> list[Turn]:
        """Another take of this answer (by its id): the same words from the same version. The
        old answer stays a version of its own, beside the new one."""
        reply = self.store.turn(reply_id)
        if reply.role != "model" or reply.reply_to is None:
            raise InvalidInput("Only an answer can be made again.")
        request = self.store.turn(reply.reply_to)
        if request.status != TurnStatus.OK or reply.status != TurnStatus.OK:
            raise InvalidInput("That answer is not a result.")
        return self._again(request, seen=seen, replace=[], takes=takes)

    def branch(self, reply_id: int) -> int:
        return self.life.branch(reply_id)

    def _again(
        self, old: Turn, *, seen: Seen | int | bool | None, replace: list[int], takes: int = 1, from_tip: bool = False
    ) -> list[Turn]:
        text = "\n\n".join(p.text or "" for p in old.parts if p.kind == "text")
        hashes = [p.image_hash for p in old.parts if p.image_hash]
        conversation = self.store.conversation(old.conversation_id, with_turns=False)
        spec = self.catalog.get(conversation.model)
        check_message(spec, text.strip(), hashes)
        parts = self._user_parts(text.strip(), hashes, strict=True)
        return self._add(
            conversation,
            spec,
            text.strip(),
            parts,
            seen=seen,
            parent=conversation.tip_id if from_tip else old.parent_id,
            replace=replace,
            takes=takes,
            marks=old.marks,
            edits_tip=from_tip,
        )

    def cancel(self, request_id: int) -> TurnStatus | None:
        """Cancel a queued or running turn. A running call cannot be recalled: its answer may
        still arrive (and be billed); it is then kept and shown, never replayed."""
        return self.life.cancel(request_id)

    def _user_parts(self, text: str, image_hashes: list[str], *, strict: bool) -> list[Part]:
        parts: list[Part] = [Part("text", text)] if text else []
        for image_hash in image_hashes:
            info = self.images.info(image_hash)
            if info is None:
                if strict:
                    raise InvalidInput("An attached image is no longer stored; attach it again.")
                continue
            parts.append(Part("image", image_hash=info.hash, mime_type=info.mime_type))
        return parts

    def meter(self, conversation: Conversation, text: str = "", image_hashes: list[str] | None = None) -> ReplayPlan:
        """What the next request would weigh, for the size meter, without sending anything."""
        return self.planner.meter(conversation, text, image_hashes)

    def can_retry(self, turn: Turn, spec: ModelSpec) -> bool:
        """Retry is offered only where it can succeed: the turn as stored (its words and the
        images that could be read) passes every check; otherwise Edit and resend, or Remove."""
        if not turn.status.retryable or not turn.parts_loaded or turn.error_kind in ("too_large", "bad_settings"):
            return False
        hashes = [p.image_hash for p in turn.parts if p.image_hash]
        try:
            check_message(spec, turn.text.strip(), hashes)
        except InvalidInput:
            return False
        return True


def _check_takes(takes: int) -> None:
    # Each take is a billed call: a page offers 1 to 4, and no other entry may ask for more.
    if isinstance(takes, bool) or not isinstance(takes, int) or not 1 <= takes <= MAX_TAKES:
        raise InvalidInput(f"Make between 1 and {MAX_TAKES} takes at once.")
