"""A turn's request before it is sent: what each turn weighs, which exchanges the next request
replays within the size budget (the plan), and the encoded body itself."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from core.config import Settings
from core.provider.catalog import ModelSpec
from core.provider.wire import request_body
from core.storage.sent_cache import SentCache
from core.storage.store import Store
from core.turns.replay import CONTENT_OVERHEAD, ReplayPlan, build_contents, part_size, plan_replay, turn_size
from core.values import Conversation, Exchange, GenerationSettings, Part, Turn, TurnStatus, path_to


class TurnPlanner:
    def __init__(self, store: Store, settings: Callable[[], Settings]) -> None:
        self.store = store
        # Read at each use: a bench or test may change the budget on a running service.
        self._settings = settings
        self.sent = SentCache(int(settings().sent_cache_mb * 1024 * 1024))

    def whole(self, turn_ids: set[int]) -> dict[int, Turn]:
        """The turns a request replays, signatures included: from memory where this process
        sent them before, else from the database."""
        return self.sent.turns(turn_ids, self.store.turn_stamps, self.store.turns)

    def weigh(self, parts: list[Part], sizes: dict[str, int] | None = None) -> int:
        if sizes is None:
            sizes = self.store.images.sizes({p.image_hash for p in parts if p.image_hash})
        return CONTENT_OVERHEAD + sum(part_size(p, lambda h: sizes.get(h, 0)) for p in parts)

    # Planning -----------------------------------------------------------------------------

    def plan(self, conversation: Conversation, request: Turn) -> ReplayPlan:
        # Exactly the branch the request edits: from the start to its parent, nothing else.
        history = path_to(conversation.exchanges, request.parent_id)
        if any(not e.request.parts_loaded for e in history):
            # A display copy: its off-screen requests need their images, which may be carried.
            found = self.store.user_images(conversation.id)
            history = [
                e
                if e.request.parts_loaded
                else Exchange(request=dataclasses.replace(e.request, parts=found.get(e.request.id, [])), reply=e.reply)
                for e in history
            ]
        stored = self.store.turn_weights({t.id for e in history for t in (e.request, e.reply) if t})
        hashes = {p.image_hash for e in history for p in e.request.parts if p.image_hash}
        sizes = self.store.images.sizes(hashes | {p.image_hash for p in request.parts if p.image_hash})

        def weigh(turn: Turn) -> int:
            if turn.id in stored:
                return stored[turn.id]
            return turn_size(turn, lambda h: sizes.get(h, 0))

        return plan_replay(
            history,
            request,
            weigh,
            self._settings().max_request_bytes,
            weigh_part=lambda p: part_size(p, lambda h: sizes.get(h, 0)),
        )

    def meter(self, conversation: Conversation, text: str = "", image_hashes: list[str] | None = None) -> ReplayPlan:
        """What the next request would weigh, for the size meter, without sending anything."""
        parts = [Part("text", text)] + [
            Part("image", image_hash=h, mime_type="image/png") for h in (image_hashes or [])
        ]
        probe = Turn(
            id=-1,
            conversation_id=conversation.id,
            role="user",
            position=1 << 30,
            status=TurnStatus.QUEUED,
            parts=parts,
            parent_id=conversation.tip_id,
        )
        return self.plan(conversation, probe)

    def encode(self, plan: ReplayPlan, request: Turn, spec: ModelSpec, settings: GenerationSettings) -> bytes:
        kept = plan.kept
        hashes = {p.image_hash for e in kept for t in (e.request, e.reply) if t for p in t.parts if p.image_hash}
        hashes |= {p.image_hash for p in [*request.parts, *plan.carried] if p.image_hash}
        encoded = self.sent.images_b64(hashes, self.store.images.datas)
        body = request_body(build_contents(kept, request, encoded.__getitem__, plan.carried), spec, settings)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
