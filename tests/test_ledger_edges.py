"""The ledger at the edges, on SQLite and PostgreSQL: every way a turn leaves flight closes its
row in the same transaction (Retry and Resend of a lapsed turn, cancel, the sweep), and an
answer records its real cost whatever happened to its conversation meanwhile."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, update

from core.money.ledger import OPEN
from core.storage.schema import LedgerRow, TurnRow, utcnow
from core.values import TurnStatus

PRO = "gemini-3-pro-image-preview"
PRO_USAGE = {
    "promptTokenCount": 1569,
    "candidatesTokenCount": 1120,
    "totalTokenCount": 2917,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}, {"modality": "IMAGE", "tokenCount": 1560}],
    "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
    "thoughtsTokenCount": 228,
}
PRO_COST = 9 * 2 + 1560 * 2 + 1120 * 120 + 228 * 12


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def rows(svc) -> list[LedgerRow]:  # type: ignore[no-untyped-def]
    with svc.store.read() as db:
        found = list(db.scalars(select(LedgerRow).order_by(LedgerRow.id)))
        db.expunge_all()
        return found


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def lapse(svc, turn_id: int) -> None:  # type: ignore[no-untyped-def]
    """Its process died: the lease ran out, and no sweep has run yet."""
    with svc.store.write() as db:
        db.execute(update(TurnRow).where(TurnRow.id == turn_id).values(lease_until=TurnRow.created_at))


@pytest.mark.parametrize("how", ["retry", "resend"])
@pytest.mark.parametrize("sent", [False, True])
def test_retry_or_resend_of_a_lapsed_turn_closes_its_reservation(service, fake, how, sent):
    service.runner.close()  # this process dies: nothing renews or runs the turn
    conversation = service.new_conversation()
    lost = service.turns.start(conversation.id, "a lighthouse at dusk")
    if sent:  # it was claimed and the call went out before the process died
        assert service.life.claim(lost.id, service.turns.owner)
    lapse(service, lost.id)
    # The page shows it interrupted with Retry, before any sweep has run anywhere.
    assert service.conversation(conversation.id).turns[0].status == TurnStatus.INTERRUPTED
    if how == "retry":
        again = service.turns.retry(lost.id)
    else:
        again = service.turns.resend(lost.id, "a lighthouse at dawn")
    old, new = rows(service)
    assert old.turn_id == lost.id and new.turn_id == again.id
    if sent:  # it went out: it may have been billed, and still counts at its estimate
        assert (old.outcome, old.may_be_billed) == ("interrupted", True)
    else:  # never sent: released
        assert (old.outcome, old.may_be_billed) == ("not_sent", False)
    assert [r.turn_id for r in rows(service) if r.outcome in OPEN] == [again.id]
    # Usage holds only the new turn's estimate for "turns still being made".
    from core.money import usage

    with service.store.read() as db:
        report = usage.report(db, since=utcnow().replace(hour=0, minute=0, second=0, microsecond=0))
    assert report.in_flight_micro == new.estimate_micro


def test_no_row_stays_open_once_its_turn_has_left_flight(service, fake):
    # A row left "sending" by an older studio (its turn cancelled, then the process died) and a
    # reservation whose turn is gone: the next heartbeat closes both, without waiting an hour.
    conversation = service.new_conversation()
    assert service.send(conversation.id, "a first picture").ok
    with service.store.write() as db:
        for turn_id, outcome in ((1, "sending"), (999_999, "queued")):
            db.add(
                LedgerRow(
                    at=utcnow(), person="you@localhost", conversation_id=conversation.id, turn_id=turn_id,
                    model="m", attempt=0, outcome=outcome, may_be_billed=True, estimate_micro=5,
                )
            )  # fmt: skip
    service.runner.beat()
    outcomes = {(r.turn_id, r.outcome, r.may_be_billed) for r in rows(service)}
    assert (1, "interrupted", True) in outcomes and (999_999, "not_sent", False) in outcomes
    assert not [r for r in rows(service) if r.outcome in OPEN]


def test_cancel_then_delete_forever_still_records_the_real_cost(service, fake):
    fake.usage = PRO_USAGE
    started, release = threading.Event(), threading.Event()

    def slow(body):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(20)

    fake.during_call = slow
    ann = service.as_user(__import__("core.team.people", fromlist=["User"]).User(email="ann@example.com", name="Ann"))
    conversation = ann.new_conversation(PRO)
    turn, problem = ann.submit(conversation.id, "a kite over the dunes", [])
    assert problem is None and started.wait(20)
    assert ann.cancel(turn.id) == TurnStatus.RUNNING
    ann.delete(conversation.id)
    ann.delete_forever(conversation.id)  # nothing of it is left but its ledger row
    release.set()  # the answer arrives anyway, billed
    wait_for(lambda: rows(service)[0].cost_micro is not None)
    [row] = rows(service)
    assert (row.outcome, row.may_be_billed, row.cost_micro) == ("cancelled", True, PRO_COST)
    assert row.output_image_tokens == 1120 and row.conversation_id == conversation.id
