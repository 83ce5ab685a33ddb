"""The one service the pages talk to: it joins the store, the replay builder and the client.

A turn, end to end: the user's words and images are stored first (pending); the request is
built from the curated history; the call runs with no DB session open; the answer and the
turn's status are stored in one short transaction. Whatever fails, the user's input stays.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from core import images
from core.catalog import ModelCatalog, ModelSpec, load_catalog, settings_in_text
from core.client import GeminiClient
from core.config import Settings
from core.errors import InvalidInput, RequestTooLarge, StudioError
from core.library import ImageLibrary
from core.replay import ReplayPlan, build_contents, carried_images, curated, part_size, plan_replay, turn_size
from core.store import Store
from core.values import (
    Conversation,
    ConversationSummary,
    Exchange,
    GenerationSettings,
    Part,
    Turn,
    TurnStatus,
)
from core.wire import ModelReply, parse_response, part_from_wire, request_body

log = logging.getLogger("studio")
MAX_PROMPT_CHARS = 32_000
NEW_TITLE = "New conversation"


@dataclass
class TurnOutcome:
    request: Turn
    reply: Turn | None = None
    error: StudioError | None = None
    plan: ReplayPlan | None = None
    dropped_positions: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class StudioService:
    def __init__(self, settings: Settings, store: Store, client: GeminiClient, catalog: ModelCatalog) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.catalog = catalog
        self._in_flight: set[int] = set()
        self._turn_weights: dict[int, int] = {}
        self.images = ImageLibrary(store, settings.max_upload_bytes)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> StudioService:
        store = Store(settings.database_url)
        service = cls(settings, store, GeminiClient(settings, **client_options), load_catalog(settings.models_file))
        # A new process: nothing is in flight, so any pending turn was cut off by a crash.
        store.mark_interrupted()
        return service

    @property
    def offline(self) -> bool:
        return self.client.offline

    def _scrub(self, text: str) -> str:
        key = self.settings.api_key.reveal()
        return text.replace(key, "***") if key else text

    # Conversations ------------------------------------------------------------------------

    def new_conversation(
        self,
        model: str | None = None,
        settings: GenerationSettings | None = None,
        *,
        seed_image: str | None = None,
        title: str = NEW_TITLE,
        owner: str | None = None,
    ) -> Conversation:
        spec = self.catalog.get(model) if model else self.catalog.default
        chosen = self.fit_settings(spec, settings or GenerationSettings())
        conversation = self.store.create_conversation(title, spec.id, chosen, owner)
        if seed_image:
            self.store.set_drafts(conversation.id, [seed_image])
        return conversation

    def fit_settings(self, spec: ModelSpec, settings: GenerationSettings) -> GenerationSettings:
        """The nearest settings this model offers (so a model switch never carries a bad value)."""
        changes: dict[str, Any] = {}
        if settings.aspect_ratio not in spec.aspect_ratios:
            changes["aspect_ratio"] = spec.aspect_ratios[0]
        if not spec.image_sizes:
            changes["image_size"] = None
        elif settings.image_size not in spec.image_sizes:
            changes["image_size"] = "1K" if "1K" in spec.image_sizes else spec.image_sizes[0]
        if settings.thinking_level and settings.thinking_level not in spec.thinking_levels:
            changes["thinking_level"] = None
        if settings.grounding and not spec.search_grounding:
            changes["grounding"] = False
        return GenerationSettings(**{**settings.to_dict(), **changes}) if changes else settings

    def conversations(self, owner: str | None = None, limit: int = 200) -> list[ConversationSummary]:
        return self.store.conversations(owner, limit)

    def conversation(self, conversation_id: str, visible: int | None = None) -> Conversation:
        """The conversation for display: statuses as a person should see them, no signatures,
        and with `visible`, parts only for that many of the newest exchanges."""
        if visible is None:
            conversation = self.store.conversation(conversation_id, signatures=False)
        else:
            conversation = self.store.conversation_window(conversation_id, visible)
        with self._lock:
            live = set(self._in_flight)
        for turn in conversation.turns:
            # Pending but nobody in this process works on it: it was cut off.
            if turn.status == TurnStatus.PENDING and turn.role == "user" and turn.id not in live:
                turn.status = TurnStatus.INTERRUPTED
        return conversation

    def statuses(self, turn_ids: set[int]) -> dict[int, TurnStatus]:
        return self.store.statuses(turn_ids)

    def drafts(self, conversation_id: str) -> list[str]:
        return self.store.drafts(conversation_id)

    def set_drafts(self, conversation_id: str, hashes: list[str]) -> None:
        self.store.set_drafts(conversation_id, hashes)

    def rename(self, conversation_id: str, title: str) -> None:
        title = " ".join(title.split())
        if not title:
            raise InvalidInput("A title cannot be empty.")
        self.store.rename(conversation_id, title)

    def delete(self, conversation_id: str) -> None:
        self.store.delete(conversation_id)

    def update_settings(self, conversation_id: str, settings: GenerationSettings) -> GenerationSettings:
        conversation = self.store.conversation(conversation_id, with_turns=False)
        fitted = self.fit_settings(self.catalog.get(conversation.model), settings)
        self.store.update_settings(conversation_id, fitted)
        return fitted

    def switch_model(self, conversation_id: str, model: str) -> Conversation:
        """A conversation's model is fixed once it has turns (signatures belong to one model):
        switching then starts a new conversation seeded with the current image."""
        conversation = self.store.conversation(conversation_id, signatures=False)
        spec = self.catalog.get(model)
        if not conversation.turns:
            self.store.set_model(conversation_id, spec.id)
            self.update_settings(conversation_id, conversation.settings)
            return self.store.conversation(conversation_id)
        latest = conversation.latest_image
        return self.new_conversation(
            spec.id,
            conversation.settings,
            seed_image=latest.image_hash if latest else None,
            title=f"{conversation.title} ({spec.label})",
            owner=conversation.owner,
        )

    def continue_from(self, conversation_id: str, image_hash: str) -> Conversation:
        source = self.store.conversation(conversation_id, with_turns=False)
        return self.new_conversation(
            source.model,
            source.settings,
            seed_image=image_hash,
            title=f"From: {source.title}"[:200],
            owner=source.owner,
        )

    # Turns --------------------------------------------------------------------------------

    def start_turn(self, conversation_id: str, text: str, image_hashes: list[str] | None = None) -> Turn:
        """Check the input and store it as a pending user turn; nothing typed is lost after this."""
        hashes = list(dict.fromkeys(image_hashes or []))
        text = text.strip()
        if not text and not hashes:
            raise InvalidInput("Type a prompt or attach an image.")
        if len(text) > MAX_PROMPT_CHARS:
            raise InvalidInput(
                f"The prompt is {len(text):,} characters; the studio sends at most {MAX_PROMPT_CHARS:,}. Shorten it."
            )
        conversation = self.store.conversation(conversation_id, with_turns=False)
        spec = self.catalog.get(conversation.model)
        if len(hashes) > spec.max_input_images:
            raise InvalidInput(f"{spec.label} accepts at most {spec.max_input_images} images in one message.")
        parts = self._user_parts(text, hashes, strict=True)
        settings = conversation.settings
        typed = settings_in_text(spec, text)
        if typed:
            # "4K, 16:9" in a message sets the conversation's output from this turn on.
            settings = dataclasses.replace(
                settings,
                aspect_ratio=typed.get("aspect_ratio", settings.aspect_ratio),
                image_size=typed.get("image_size", settings.image_size),
            )
        return self.store.add_user_turn(conversation_id, parts, settings, title=_new_title(conversation, text))

    def reject_turn(self, conversation_id: str, text: str, image_hashes: list[str], reason: StudioError) -> Turn:
        """Keep a message that cannot be sent as it is (a bad attachment, an over-long prompt) as a
        failed turn, so the words and the good images stay in the conversation, ready to retry."""
        conversation = self.store.conversation(conversation_id, with_turns=False)
        text = text.strip()
        parts = self._user_parts(text, image_hashes, strict=False)
        turn = self.store.add_user_turn(
            conversation_id, parts, conversation.settings, title=_new_title(conversation, text)
        )
        self.store.finish_turn(turn.id, status=TurnStatus.FAILED, error_kind=reason.kind, error_message=reason.message)
        return self.store.turn(turn.id)

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

    def plan(self, conversation: Conversation, request: Turn) -> ReplayPlan:
        history = curated(conversation.exchanges, before_position=request.position)
        if any(not e.request.parts_loaded for e in history):
            # A display copy: its off-screen requests need their images, which may be carried.
            images = self.store.user_images(conversation.id)
            history = [
                e
                if e.request.parts_loaded
                else Exchange(dataclasses.replace(e.request, parts=images.get(e.request.id, [])), e.reply)
                for e in history
            ]
        stored = self._weights(conversation.id, {t.id for e in history for t in (e.request, e.reply) if t})
        hashes = {p.image_hash for e in history for p in e.request.parts if p.image_hash}
        sizes = self.store.image_sizes(hashes | {p.image_hash for p in request.parts if p.image_hash})

        def weigh(turn: Turn) -> int:
            if turn.id in stored:
                return stored[turn.id]
            return turn_size(turn, lambda h: sizes.get(h, 0))

        return plan_replay(
            history,
            request,
            weigh,
            self.settings.max_request_bytes,
            weigh_part=lambda p: part_size(p, lambda h: sizes.get(h, 0)),
        )

    def _weights(self, conversation_id: str, turn_ids: set[int]) -> dict[int, int]:
        """Stored turns never change, so their weights are measured once per process."""
        with self._lock:
            missing = turn_ids - self._turn_weights.keys()
        if missing:
            found = self.store.turn_weights(conversation_id, missing)
            with self._lock:
                if len(self._turn_weights) > 100_000:
                    self._turn_weights.clear()
                self._turn_weights.update(found)
        with self._lock:
            return {i: self._turn_weights[i] for i in turn_ids if i in self._turn_weights}

    def meter(self, conversation: Conversation, text: str = "", image_hashes: list[str] | None = None) -> ReplayPlan:
        """What the next request would weigh, for the size meter, without sending anything."""
        parts = [Part("text", text)] + [
            Part("image", image_hash=h, mime_type="image/png") for h in (image_hashes or [])
        ]
        probe = Turn(-1, conversation.id, "user", 1 << 30, TurnStatus.PENDING, parts)
        return self.plan(conversation, probe)

    def run_turn(self, request_id: int) -> TurnOutcome:
        request = self.store.turn(request_id)
        with self._lock:
            self._in_flight.add(request_id)
        try:
            return self._run(request)
        except StudioError as error:
            return self._fail(request, error)
        except Exception as exc:
            log.exception("turn %s failed unexpectedly", request_id)
            return self._fail(request, StudioError(f"Something went wrong in the studio ({exc.__class__.__name__})."))
        finally:
            with self._lock:
                self._in_flight.discard(request_id)

    def send(self, conversation_id: str, text: str, image_hashes: list[str] | None = None) -> TurnOutcome:
        return self.run_turn(self.start_turn(conversation_id, text, image_hashes).id)

    def retry(self, request_id: int) -> TurnOutcome:
        """Send a failed or interrupted turn's words and images again, as a new turn."""
        old = self.store.turn(request_id)
        text = "\n\n".join(p.text or "" for p in old.parts if p.kind == "text")
        images = [p.image_hash for p in old.parts if p.image_hash]
        request = self.start_turn(old.conversation_id, text, images)
        if old.status != TurnStatus.OK:
            # The failed attempt stays visible, marked as retried, and is never replayed.
            self.store.set_status([old.id], TurnStatus.REPLACED)
        return self.run_turn(request.id)

    def regenerate_last(self, conversation_id: str) -> TurnOutcome:
        """Ask again for the newest answered exchange; the old answer stays visible but is no
        longer part of what the model sees."""
        exchanges = self.store.conversation_window(conversation_id, 1).exchanges
        last = next((e for e in reversed(exchanges) if e.request.status != TurnStatus.REPLACED), None)
        if last is None:
            raise InvalidInput("There is nothing to regenerate yet.")
        if last.replayable:
            assert last.reply is not None
            self.store.set_status([last.request.id, last.reply.id], TurnStatus.REPLACED)
        return self.retry(last.request.id)

    def _run(self, request: Turn) -> TurnOutcome:
        # Plan on the outline; read parts and signatures only for the exchanges that are sent.
        conversation = self.store.conversation_window(request.conversation_id, 0)
        spec = self.catalog.get(conversation.model)
        plan = self.plan(conversation, request)
        whole = self.store.turns({t.id for e in plan.kept for t in (e.request, e.reply) if t})
        plan.kept = [Exchange(whole[e.request.id], whole[e.reply.id]) for e in plan.kept if e.reply]
        body = self._encode(plan, request, spec, conversation.settings)
        # The plan is an estimate; the encoded body is the truth. Cut more whole exchanges if needed.
        while len(body) > plan.limit_bytes and (plan.kept or plan.carried):
            if plan.carried:  # references give way before any exchange does
                plan.carried.pop(0)
            else:
                plan.dropped.append(plan.kept.pop(0))
                plan.carried = carried_images(plan.dropped, plan.kept, request)
            body = self._encode(plan, request, spec, conversation.settings)
        if len(body) > plan.limit_bytes:
            raise RequestTooLarge(
                f"This message alone is {len(body) / 1_048_576:.1f} MB, over the "
                f"{self.settings.max_request_mb:g} MB request limit. Attach fewer or smaller images."
            )
        # No DB session is open here: the call may take minutes.
        payload = self.client.generate(spec.id, body)
        reply = parse_response(payload)
        stored = self.store.finish_turn(
            request.id,
            status=TurnStatus.OK,
            reply_parts=self._store_parts(reply),
            meta=_meta(reply),
        )
        return TurnOutcome(
            self.store.turn(request.id),
            stored,
            plan=plan,
            dropped_positions=[e.request.position for e in plan.dropped],
        )

    def _encode(self, plan: ReplayPlan, request: Turn, spec: ModelSpec, settings: GenerationSettings) -> bytes:
        kept = plan.kept
        hashes = {p.image_hash for e in kept for t in (e.request, e.reply) if t for p in t.parts if p.image_hash}
        hashes |= {p.image_hash for p in [*request.parts, *plan.carried] if p.image_hash}
        blobs = self.store.images_bytes(hashes)
        encoded: dict[str, str] = {}

        def image_b64(image_hash: str) -> str:
            if image_hash not in encoded:
                encoded[image_hash] = base64.b64encode(blobs[image_hash]).decode("ascii")
            return encoded[image_hash]

        body = request_body(build_contents(kept, request, image_b64, plan.carried), spec, settings)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    def _store_parts(self, reply: ModelReply) -> list[Part]:
        parts = []
        for raw in reply.parts:
            part, data = part_from_wire(raw)
            if data is not None:
                info = self.images.put(data, images.sniff_mime(data) or part.mime_type or "")
                assert info.hash
                part = Part(part.kind, part.text, info.hash, part.mime_type, part.thought, part.signature, part.extra)
            parts.append(part)
        return parts

    def _fail(self, request: Turn, error: StudioError) -> TurnOutcome:
        message = self._scrub(error.message)
        reply_parts = None
        meta: dict[str, Any] = {}
        stored = None
        try:
            if isinstance(error.reply, ModelReply):
                reply_parts = self._store_parts(error.reply)
                meta = _meta(error.reply)
            stored = self.store.finish_turn(
                request.id,
                status=TurnStatus.FAILED,
                reply_parts=reply_parts,
                meta=meta,
                error_kind=error.kind,
                error_message=message,
            )
        except Exception:
            # The store itself failed: the turn stays pending and shows as interrupted, words kept.
            log.exception("could not record the failure of turn %s", request.id)
        error.message = message
        return TurnOutcome(request, stored, error)


def _meta(reply: ModelReply) -> dict[str, Any]:
    return {
        "finish_reason": reply.finish_reason,
        "usage": reply.usage,
        "model_version": reply.model_version,
        "response_id": reply.response_id,
        "grounding": reply.grounding,
    }


def _new_title(conversation: Conversation, text: str) -> str | None:
    """A new conversation takes its title from its first words."""
    return _title_from(text) if conversation.title == NEW_TITLE and text else None


def _title_from(text: str) -> str:
    words = " ".join(text.split())
    return words if len(words) <= 60 else words[:57].rsplit(" ", 1)[0] + "…"
