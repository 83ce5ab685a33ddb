"""Running a queued turn: claim it, plan and encode the request, call the model with no DB
session open, store the answer, its cost and the turn's status in one transaction that checks
the turn is still held; or record the failure with the words kept."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from core.config import Settings
from core.errors import NotFound, RequestTooLarge, StudioError
from core.media import images
from core.media.library import ImageLibrary
from core.money.ledger import Bill
from core.provider.catalog import ModelCatalog
from core.provider.client import Attempt, GeminiClient
from core.provider.wire import ModelReply, parse_response, part_from_wire
from core.storage.outage import DatabaseHealth, DatabaseUnreachable, patiently, unreachable
from core.storage.spool import Spool
from core.storage.store import Store
from core.turns import progress, wording
from core.turns.lifecycle import TurnLife
from core.turns.plan import TurnPlanner
from core.turns.replay import ReplayPlan, carried_images
from core.turns.rules import meta_of
from core.values import Conversation, Exchange, Part, Turn, TurnStatus

if TYPE_CHECKING:
    from core.turns.costs import TurnCosts

log = logging.getLogger("studio")
T = TypeVar("T")


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
    health: DatabaseHealth
    spool: Spool

    def weigh(self, parts: list[Part], sizes: dict[str, int] | None = None) -> int:
        return self.planner.weigh(parts, sizes)

    def plan(self, conversation: Conversation, request: Turn) -> ReplayPlan:
        return self.planner.plan(conversation, request)

    # Running ------------------------------------------------------------------------------

    def execute(self, request_id: int) -> TurnOutcome:
        """Run a queued turn of this process: claim it, call the model, store the answer."""
        # While the database is away the turn stays queued and held here; past the window the
        # worker gives up (nothing was sent) and the lease lapses.
        if not self._patiently(lambda: self.life.claim(request_id, self.owner), "claiming a turn"):
            # Cancelled (or taken over) before it ran: nothing was sent.
            return TurnOutcome(request=self.store.turn(request_id))
        request = self._patiently(lambda: self.store.turn(request_id), "reading a turn")
        call = _Call()
        try:
            return self._run(request, call)
        except DatabaseUnreachable as error:
            # Past the window: an answer waits in the spool; the lease lapses and the turn shows
            # as interrupted until a process lands it (its next heartbeat, or the next start).
            return TurnOutcome(request=request, error=error)
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

    def _patiently(self, work: Callable[[], T], what: str, on_outage: Callable[[], None] | None = None) -> T:
        return patiently(work, window_s=self.settings.db_outage_s, health=self.health, on_outage=on_outage, what=what)

    def _prepare(self, request: Turn) -> tuple[str, ReplayPlan, bytes]:
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
        return spec.id, plan, body

    def _run(self, request: Turn, call: _Call) -> TurnOutcome:
        model, plan, body = self._patiently(lambda: self._prepare(request), "planning a turn")
        call.body_bytes, call.new_bytes = len(body), self.weigh(request.parts)
        # No DB session is open here: the call may take minutes. A streamed answer's thoughts
        # and drafts are shown meanwhile (short writes of their own, about once a second).
        live = progress.Reporter(self.store.db, self.images, request.id, self.owner) if self.settings.stream else None
        try:
            payload = self.client.generate(model, body, call.attempts, live)
        finally:
            if live is not None:
                live.close()
        return self._land(request, model, payload, call, plan)

    def _land(self, request: Turn, model: str, payload: Any, call: _Call, plan: ReplayPlan) -> TurnOutcome:
        """Store what the service answered (and billed). While the database is unreachable the
        answer is kept in memory and in the spool on disk, and storing it is retried; it is
        never dropped."""
        kept: list[Any] = []

        def spool() -> None:
            record = {
                "turn_id": request.id,
                "owner": self.owner,
                "model": model,
                "attempts": [dataclasses.asdict(a) for a in call.attempts],
                "body_bytes": call.body_bytes,
                "new_bytes": call.new_bytes,
                "payload": payload,
            }
            try:
                kept.append(self.spool.keep(f"turn-{request.id}", record))
            except OSError:
                log.exception("turn %s: could not put its answer in the spool; it is kept in memory", request.id)

        try:
            outcome = self._patiently(
                lambda: self._record(request, model, payload, call, plan, self.owner), "storing an answer", spool
            )
        except NotFound:
            for entry in kept:
                entry.done()  # the turn is gone (its cost is recorded by finish)
            raise
        except BaseException:
            for entry in kept:
                entry.release()  # the file stays: the next heartbeat or start lands it
            raise
        for entry in kept:
            entry.done()
        return outcome

    def _record(
        self, request: Turn, model: str, payload: Any, call: _Call, plan: ReplayPlan | None, owner: str
    ) -> TurnOutcome:
        """One attempt at storing an answer, as one unit of work (run again after a failure)."""
        try:
            reply = parse_response(payload)
        except StudioError as error:
            return self._record_failure(request, error, call, owner)
        parts, sizes = self._store_parts(reply)
        finished = self.life.finish(
            request.id,
            owner,
            status=TurnStatus.OK,
            reply_parts=parts,
            reply_weight=self.weigh(parts, sizes),
            meta=meta_of(reply),
            bill=self._bill(model, request, reply, call, "ok"),
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
            dropped_positions=[e.request.position for e in plan.dropped] if plan else [],
            late=not finished.held,
        )

    def land_spooled(self) -> int:
        """Answers in the spool that nobody is landing (their process stopped, or gave up after
        the window): stored now, as their holder would have. How many landed."""
        landed = 0
        for entry in self.spool.pending():
            record = entry.record
            try:
                request = self.store.turn(int(record["turn_id"]))
                call = _Call(
                    attempts=[Attempt(**a) for a in record["attempts"]],
                    body_bytes=record["body_bytes"],
                    new_bytes=record["new_bytes"],
                )
                self._record(request, record["model"], record["payload"], call, None, str(record["owner"]))
            except NotFound:
                log.warning("spooled answer of turn %s: the turn is gone (deleted); dropped", record.get("turn_id"))
                entry.done()
                continue
            except Exception as exc:
                entry.release()
                if unreachable(exc):
                    self.health.failed()
                    break  # the next heartbeat tries again
                log.exception("spooled answer of turn %s could not be stored", record.get("turn_id"))
                continue
            log.info("turn %s: its spooled answer is stored", record["turn_id"])
            entry.done()
            landed += 1
        return landed

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
        try:
            return self._patiently(
                lambda: self._record_failure(request, error, call, self.owner), "recording a failed turn"
            )
        except NotFound:
            # The conversation was deleted while its turn ran: nothing is left to record.
            raise
        except Exception:
            # The store itself failed: the lease lapses and the turn shows as interrupted, words kept.
            log.exception("could not record the failure of turn %s", request.id)
            return TurnOutcome(request=request, error=error)

    def _record_failure(self, request: Turn, error: StudioError, call: _Call, owner: str) -> TurnOutcome:
        message = self._scrub(error.message)
        if self.settings.demo:
            # Visitors of a public demo never see the service's own words (base URL, project,
            # account): a sentence of ours and a reference; the log keeps the detail under it.
            message = wording.for_visitor(error.kind, message, turn_id=request.id)
        reply_parts = None
        weight = 0
        meta: dict[str, object] = {}
        answer = error.reply if isinstance(error.reply, ModelReply) else None
        model = self.costs.model_of(request)
        if isinstance(error.reply, ModelReply):
            reply_parts, sizes = self._store_parts(error.reply)
            weight = self.weigh(reply_parts, sizes)
            meta = meta_of(error.reply)
        finished = self.life.finish(
            request.id,
            owner,
            status=TurnStatus.FAILED,
            reply_parts=reply_parts,
            reply_weight=weight,
            meta=meta,
            error_kind=error.kind,
            error_message=message,
            bill=self._bill(model, request, answer, call, error.kind),
        )
        error.message = message
        return TurnOutcome(request=finished.request, reply=finished.reply, error=error, late=not finished.held)

    def _scrub(self, text: str) -> str:
        key = self.settings.api_key.reveal()
        return text.replace(key, "***") if key else text
