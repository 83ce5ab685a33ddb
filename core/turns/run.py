"""Running a queued turn: claim it, plan and encode the request, call the model with no DB
session open, store the answer, its cost and the turn's status in one transaction that checks
the turn is still held; or record the failure with the words kept."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.config import Settings
from core.errors import NotFound, RequestTooLarge, StudioError
from core.media import images
from core.media.library import ImageLibrary
from core.money.ledger import Bill
from core.provider.catalog import ModelCatalog
from core.provider.client import Attempt, GeminiClient
from core.provider.wire import ModelReply, parse_response, part_from_wire
from core.storage.store import Store
from core.turns import wording
from core.turns.lifecycle import TurnLife
from core.turns.plan import TurnPlanner
from core.turns.replay import ReplayPlan, carried_images
from core.turns.rules import meta_of
from core.values import Conversation, Exchange, Part, Turn, TurnStatus

if TYPE_CHECKING:
    from core.turns.costs import TurnCosts

log = logging.getLogger("studio")


@dataclass
class _Call:
    """What one run of a turn learns on its way, for the ledger (filled in as it goes)."""

    attempts: list[Attempt] = field(default_factory=list)
    body_bytes: int | None = None
    new_bytes: int | None = None


@dataclass(frozen=True, kw_only=True)
class TurnOutcome:
    request: Turn
    reply: Turn | None = None
    error: StudioError | None = None
    plan: ReplayPlan | None = None
    dropped_positions: list[int] = field(default_factory=list)
    # The answer arrived after the turn was cancelled or replaced: kept and shown, not replayed.
    late: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.request.status == TurnStatus.OK


class TurnRunning:
    """The running half of the turn service (core/turns/service.py), which provides these."""

    settings: Settings
    store: Store
    life: TurnLife
    client: GeminiClient
    catalog: ModelCatalog
    images: ImageLibrary
    owner: str
    costs: TurnCosts
    planner: TurnPlanner

    def weigh(self, parts: list[Part], sizes: dict[str, int] | None = None) -> int:
        return self.planner.weigh(parts, sizes)

    def plan(self, conversation: Conversation, request: Turn) -> ReplayPlan:
        return self.planner.plan(conversation, request)

    # Running ------------------------------------------------------------------------------

    def execute(self, request_id: int) -> TurnOutcome:
        """Run a queued turn of this process: claim it, call the model, store the answer."""
        if not self.life.claim(request_id, self.owner):
            # Cancelled (or taken over) before it ran: nothing was sent.
            return TurnOutcome(request=self.store.turn(request_id))
        request = self.store.turn(request_id)
        call = _Call()
        try:
            return self._run(request, call)
        except NotFound as gone:
            # Deleted forever while the call was out (after a cancel): the answer's cost is in the
            # ledger already (finish records it first); nothing else is left to record.
            log.info("turn %s: its conversation was deleted while the call was out", request_id)
            return TurnOutcome(request=request, error=gone)
        except StudioError as error:
            return self._fail(request, error, call)
        except Exception as exc:
            log.exception("turn %s failed unexpectedly", request_id)
            problem = StudioError(f"Something went wrong in the studio ({exc.__class__.__name__}).")
            return self._fail(request, problem, call)

    def _run(self, request: Turn, call: _Call) -> TurnOutcome:
        # Plan on the outline; read parts and signatures only for the exchanges that are sent.
        conversation = self.store.conversation_window(request.conversation_id, 0)
        spec = self.catalog.get(conversation.model)
        plan = self.plan(conversation, request)
        whole = self.planner.whole({t.id for e in plan.kept for t in (e.request, e.reply) if t})
        plan.kept = [Exchange(request=whole[e.request.id], reply=whole[e.reply.id]) for e in plan.kept if e.reply]
        # The turn's own settings, as recorded on it: never the conversation's current ones.
        body = self.planner.encode(plan, request, spec, request.settings)
        # The plan is an estimate; the encoded body is the truth. Cut more whole exchanges if needed.
        while len(body) > plan.limit_bytes and (plan.kept or plan.carried):
            if plan.carried:  # references give way before any exchange does
                plan.carried.pop(0)
            else:
                plan.dropped.append(plan.kept.pop(0))
                plan.carried = carried_images(plan.dropped, plan.kept, request)
            body = self.planner.encode(plan, request, spec, request.settings)
        if len(body) > plan.limit_bytes:
            raise RequestTooLarge(
                f"This message alone is {len(body) / 1_048_576:.1f} MB, over the "
                f"{self.settings.max_request_mb:g} MB request limit. Attach fewer or smaller images."
            )
        call.body_bytes, call.new_bytes = len(body), self.weigh(request.parts)
        # No DB session is open here: the call may take minutes.
        payload = self.client.generate(spec.id, body, call.attempts)
        reply = parse_response(payload)
        parts, sizes = self._store_parts(reply)
        finished = self.life.finish(
            request.id,
            self.owner,
            status=TurnStatus.OK,
            reply_parts=parts,
            reply_weight=self.weigh(parts, sizes),
            meta=meta_of(reply),
            bill=self._bill(spec.id, request, reply, call, "ok"),
        )
        if finished.held:
            # The next turn on this branch replays this exchange: keep it from a second read.
            for turn in (finished.request, finished.reply):
                if turn is not None:
                    self.planner.sent.keep(turn, turn.created_at)
        return TurnOutcome(
            request=finished.request,
            reply=finished.reply,
            plan=plan,
            dropped_positions=[e.request.position for e in plan.dropped],
            late=not finished.held,
        )

    def _store_parts(self, reply: ModelReply) -> tuple[list[Part], dict[str, int]]:
        parts, sizes = [], {}
        for raw in reply.parts:
            part, data = part_from_wire(raw)
            if data is not None:
                info = self.images.put(data, images.sniff_mime(data) or part.mime_type or "")
                sizes[info.hash] = info.size_bytes
                part = dataclasses.replace(part, image_hash=info.hash)
            parts.append(part)
        return parts, sizes

    def _bill(self, model: str, request: Turn, reply: ModelReply | None, call: _Call, outcome: str) -> Bill:
        return self.costs.bill(
            model,
            request,
            reply,
            call.attempts,
            outcome=outcome,
            body_bytes=call.body_bytes,
            new_bytes=call.new_bytes,
        )

    def _fail(self, request: Turn, error: StudioError, call: _Call) -> TurnOutcome:
        message = self._scrub(error.message)
        if self.settings.demo:
            # Visitors of a public demo never see the service's own words (base URL, project,
            # account): a sentence of ours and a reference; the log keeps the detail under it.
            message = wording.for_visitor(error.kind, message, turn_id=request.id)
        reply_parts = None
        weight = 0
        meta: dict[str, object] = {}
        answer = error.reply if isinstance(error.reply, ModelReply) else None
        try:
            model = self.costs.model_of(request)
            if isinstance(error.reply, ModelReply):
                reply_parts, sizes = self._store_parts(error.reply)
                weight = self.weigh(reply_parts, sizes)
                meta = meta_of(error.reply)
            finished = self.life.finish(
                request.id,
                self.owner,
                status=TurnStatus.FAILED,
                reply_parts=reply_parts,
                reply_weight=weight,
                meta=meta,
                error_kind=error.kind,
                error_message=message,
                bill=self._bill(model, request, answer, call, error.kind),
            )
        except NotFound:
            # The conversation was deleted while its turn ran: nothing is left to record.
            raise
        except Exception:
            # The store itself failed: the lease lapses and the turn shows as interrupted, words kept.
            log.exception("could not record the failure of turn %s", request.id)
            return TurnOutcome(request=request, error=error)
        error.message = message
        return TurnOutcome(request=finished.request, reply=finished.reply, error=error, late=not finished.held)

    def _scrub(self, text: str) -> str:
        key = self.settings.api_key.reveal()
        return text.replace(key, "***") if key else text
