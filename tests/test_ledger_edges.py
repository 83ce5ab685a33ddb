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

PRO = "gemini-3-pro-image"
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


def test_offline_demo_calls_cost_nothing_are_marked_and_count_against_no_limit(db_url):
    from core.config import load_settings
    from core.money import usage
    from core.service import StudioService

    caps = {"STUDIO_LIMIT_PERSON_DAY_USD": "0.01", "STUDIO_LIMIT_TEAM_MONTH_USD": "0.01"}
    svc = StudioService.from_settings(load_settings({"DATABASE_URL": db_url, **caps}))
    assert svc.offline
    conversation = svc.new_conversation(PRO)  # a real call here would cost about $0.14 each
    for prompt in ("a red bicycle", "make it blue", "add a bell"):
        outcome = svc.send(conversation.id, prompt)
        assert outcome.ok, outcome.error  # never refused by a cap a real call would break
        assert outcome.reply.cost_micro == 0
    found = rows(svc)
    assert len(found) == 3
    assert all(r.offline and r.cost_micro == 0 and r.estimate_micro == 0 and not r.may_be_billed for r in found)
    assert all(r.output_image_tokens for r in found)  # the tokens are still recorded
    with svc.store.read() as db:
        report = usage.report(db, since=utcnow().replace(hour=0, minute=0, second=0, microsecond=0))
    assert (report.known_micro, report.unknown_micro, report.in_flight_micro) == (0, 0, 0)
    assert report.offline_calls == 3 and report.calls == 3
    assert svc.costs.conversation_total(conversation.id) == (0, 0)


def test_the_migration_marks_and_zeroes_earlier_offline_calls(db_url):
    from sqlalchemy import text

    from core.storage.database import make_engine, migrate

    engine = make_engine(db_url)
    migrate(engine, "0009_wire_part_shapes")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO conversations (id, title, model, settings, owner, created_at, updated_at, visibility) "
                "VALUES ('c1', 't', :m, '{}', 'ann@example.com', :now, :now, 'private')"
            ),
            {"m": PRO, "now": utcnow()},
        )
        turn_sql = (
            "INSERT INTO turns (id, conversation_id, role, position, status, reply_to_id, settings, model_version, "
            "cost_micro, created_at) VALUES (:id, 'c1', :role, :pos, 'ok', :reply_to, '{}', :version, :cost, :now)"
        )
        for turn_id, role, reply_to, version, cost in (
            (1, "user", None, None, None),
            (2, "model", 1, "offline-demo", 140_000),
            (3, "user", None, None, None),
            (4, "model", 3, "gemini-3-pro-image-preview", 140_000),
        ):
            conn.execute(
                text(turn_sql),
                {"id": turn_id, "role": role, "pos": turn_id, "reply_to": reply_to, "version": version,
                 "cost": cost, "now": utcnow()},
            )  # fmt: skip
        for turn_id in (1, 3):
            conn.execute(
                text(
                    "INSERT INTO ledger (at, person, conversation_id, turn_id, model, attempt, outcome, "
                    "may_be_billed, estimate_micro, cost_micro, history_micro, offline) VALUES "
                    "(:now, 'ann@example.com', 'c1', :turn, :m, 1, 'ok', :yes, 150000, 140000, 3000, :no)"
                ),
                {"now": utcnow(), "turn": turn_id, "m": PRO, "yes": True, "no": False},
            )
    migrate(engine)
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT turn_id, offline, may_be_billed, estimate_micro, cost_micro, history_micro FROM ledger")
        ).all()
        replies = dict(conn.execute(text("SELECT id, cost_micro FROM turns WHERE role = 'model'")).all())
    engine.dispose()
    by_turn = {r[0]: tuple(r[1:]) for r in found}
    assert by_turn[1] == (True, False, 0, 0, 0)  # answered by the offline model
    assert by_turn[3] == (False, True, 150_000, 140_000, 3000)  # a real call keeps its cost
    assert replies == {2: 0, 4: 140_000}


class DroppingServer:
    """Accepts connections and drops them with a reset: after reading the request (a load
    balancer's idle timeout during a long render), or at once, before the body is in."""

    def __init__(self, *, read_first: bool) -> None:
        import socket

        self.read_first = read_first
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        import socket

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.read_first:
                received = b""
                while b"\r\n\r\n" not in received or len(received) < received.find(b"\r\n\r\n") + 4 + int(
                    received.split(b"Content-Length: ")[1].split(b"\r\n")[0]
                ):
                    received += conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()


def _settings_for(url: str, db_url: str):  # type: ignore[no-untyped-def]
    from core.config import load_settings

    return load_settings({"COMETAPI_KEY": "test-key-123", "COMETAPI_BASE_URL": url, "DATABASE_URL": db_url})


def test_a_reset_after_the_request_was_sent_may_be_billed_and_says_so(db_url):
    from core.service import StudioService

    server = DroppingServer(read_first=True)
    svc = StudioService.from_settings(_settings_for(server.url, db_url), backoff_factor=0.01)
    conversation = svc.new_conversation()
    outcome = svc.send(conversation.id, "a 4K cathedral, slowly")
    assert outcome.error is not None and outcome.error.kind == "connection_lost"
    assert "may be billed" in outcome.error.message and "Could not reach" not in outcome.error.message
    assert server.accepted == 1  # never blindly sent again
    [row] = rows(svc)
    assert (row.outcome, row.may_be_billed, row.cost_micro) == ("connection_lost", True, None)
    assert svc.costs.conversation_total(conversation.id) == (0, row.estimate_micro)  # held at its estimate
    assert svc.conversation(conversation.id).turns[0].parts[0].text == "a 4K cathedral, slowly"
    server.sock.close()


def test_could_not_reach_is_only_for_failures_to_connect(db_url):
    import socket

    from core.service import StudioService

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    svc = StudioService.from_settings(_settings_for(f"http://127.0.0.1:{port}", db_url), backoff_factor=0.01)
    outcome = svc.send(svc.new_conversation().id, "hello")
    assert outcome.error is not None and outcome.error.kind == "service_down"
    assert "Could not reach" in outcome.error.message and "nothing was sent" in outcome.error.message
    assert all(not r.may_be_billed for r in rows(svc))


def test_a_reset_before_the_body_is_in_is_not_billed(settings):
    import dataclasses

    from core.errors import ServiceDownError
    from core.provider.client import GeminiClient

    server = DroppingServer(read_first=False)
    client = GeminiClient(dataclasses.replace(settings, base_url=server.url, max_retries=0))
    attempts: list = []
    with pytest.raises(ServiceDownError) as raised:
        client.generate("gemini-3-pro-image-preview", b"{" + b" " * 40_000_000 + b"}", attempts)
    # Reset while connecting (could not reach) or while sending (never arrived whole): not billed.
    assert not raised.value.may_be_billed and "nothing was" in raised.value.message
    assert [a.may_be_billed for a in attempts] == [False]
    server.sock.close()


def test_a_spending_cap_holds_when_real_costs_run_over_their_estimates(service, fake):
    import dataclasses
    import math

    fake.usage = {
        "promptTokenCount": 12,
        "candidatesTokenCount": 1120,
        "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
        "totalTokenCount": 1132,
    }
    ann = service.as_user(__import__("core.team.people", fromlist=["User"]).User(email="ann@example.com", name="Ann"))
    probe = ann.new_conversation(PRO)
    turn, _ = ann.submit(probe.id, "a lamp", [])
    wait_for(lambda: not service.store.turn(turn.id).status.in_flight)
    [row] = rows(service)
    estimate, spent = row.estimate_micro, row.cost_micro
    # From here each answer thinks a little more: its real cost runs 1.2% over its estimate, as seen.
    extra = math.ceil((estimate * 1.012 - spent) / 12)
    assert extra > 0
    fake.usage = {**fake.usage, "thoughtsTokenCount": extra}
    cap = spent + 3 * estimate  # room for three more turns at their estimates, exactly
    service.settings = dataclasses.replace(service.settings, limit_person_day_usd=cap / 1_000_000)
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)  # all three are out at once, like takes
    results = [ann.submit(ann.new_conversation(PRO).id, "a lamp", []) for _ in range(3)]
    release.set()
    for turn, _ in results:
        wait_for(lambda: not service.store.turn(turn.id).status.in_flight)
    refused = [error for _, error in results if error is not None]
    assert refused and "margin" in refused[0].message
    real = sum(r.cost_micro or 0 for r in rows(service))
    assert real <= cap, f"spent {real} against a cap of {cap}"
