"""A database outage with turns in flight: every answer the service gave (and billed) is stored
when the database returns, once, by the process that holds it or, if that process had to stop,
from the spool on disk by the next one."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import select

from core.config import load_settings
from core.service import StudioService
from core.storage.schema import LedgerRow, TurnRow
from core.values import TurnStatus
from tests.conftest import API_KEY
from tests.postgres_server import PostgresMissing, PostgresServer, create_database


@pytest.fixture
def private_postgres():
    """A PostgreSQL server of this test's own, which it may stop and start."""
    try:
        server = PostgresServer()
    except PostgresMissing:
        pytest.skip("PostgreSQL is not installed")
    server.start()
    url = create_database(server.url, f"t_{uuid.uuid4().hex[:12]}")
    yield server, url
    server.remove()


def outage_settings(httpserver, url, tmp_path, **extra):
    return load_settings(
        {
            "COMETAPI_KEY": API_KEY,
            "COMETAPI_BASE_URL": httpserver.url_for("/").rstrip("/"),
            "DATABASE_URL": url,
            "STUDIO_READ_TIMEOUT_S": "30",
            "STUDIO_LEASE_S": "2",
            "STUDIO_SPOOL_DIR": str(tmp_path / "spool"),
            **extra,
        }
    )


def hold_answers(fake, count):
    """The fake answers only once `release` is set; `out` is set when `count` calls are in."""
    out, release = threading.Event(), threading.Event()
    arrived: list[int] = []
    lock = threading.Lock()

    def during_call(_body):
        with lock:
            arrived.append(1)
            if len(arrived) == count:
                out.set()
        assert release.wait(60)

    fake.during_call = during_call
    return out, release


def wait_for(check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


def settled(service, turn_ids):
    with service.store.read() as db:
        rows = db.execute(select(TurnRow.id, TurnRow.status).where(TurnRow.id.in_(turn_ids))).all()
    return all(status not in ("queued", "running") for _, status in rows) and rows


def money(service, turn_ids):
    """Per turn: its model turns and its ledger rows (attempt rows aside)."""
    with service.store.read() as db:
        replies = db.execute(select(TurnRow.reply_to_id).where(TurnRow.reply_to_id.in_(turn_ids))).scalars().all()
        rows = db.execute(
            select(LedgerRow.turn_id, LedgerRow.outcome, LedgerRow.cost_micro).where(
                LedgerRow.turn_id.in_(turn_ids), LedgerRow.outcome != "retried"
            )
        ).all()
    return sorted(replies), sorted((r.turn_id, r.outcome, r.cost_micro is not None) for r in rows)


def test_answers_that_arrive_while_the_database_is_down_land_when_it_returns(
    private_postgres, httpserver, fake, tmp_path
):
    """Two processes, four turns out; the database stops for longer than a lease while the
    service answers all four. None becomes interrupted, none is lost or billed twice."""
    server, url = private_postgres
    settings = outage_settings(httpserver, url, tmp_path)
    one, two = StudioService.from_settings(settings), StudioService.from_settings(settings)
    out, release = hold_answers(fake, 4)
    turns = []
    for svc in (one, one, two, two):
        conversation = svc.new_conversation()
        turns.append(svc.queue(conversation.id, f"a lighthouse {len(turns)}").id)
    assert out.wait(30)
    server.stop()
    release.set()  # the service answers (and bills) all four while the database is down
    time.sleep(3 * settings.lease_s)  # every lease lapses meanwhile; nobody can renew or sweep
    server.start()
    rows = wait_for(lambda: settled(two, turns))
    assert sorted(status for _, status in rows) == ["ok"] * 4
    time.sleep(2 * settings.lease_s)  # the sweeps after the outage leave them alone
    assert all(t.status == TurnStatus.OK for t in (one.store.turn(i) for i in turns))
    replies, ledger = money(one, turns)
    assert replies == sorted(turns)  # one answer each
    assert ledger == sorted((t, "ok", True) for t in turns)  # one row each, with its real cost
    assert len(fake.requests) == 4  # nothing was sent twice
    for svc in (one, two):
        assert len(svc.turns.spool) == 0
        conversation = svc.conversation(svc.store.turn(turns[-1 if svc is two else 0]).conversation_id)
        assert conversation.latest_image is not None


def test_a_process_that_must_stop_leaves_the_answer_on_disk_and_the_next_start_lands_it(
    private_postgres, httpserver, fake, tmp_path
):
    """Past the window the holder lets go (the turn may then show as interrupted); its answer is
    in the spool, and the next process on this machine stores it when the database is back."""
    server, url = private_postgres
    settings = outage_settings(httpserver, url, tmp_path, STUDIO_DB_OUTAGE_S="1")
    first = StudioService.from_settings(settings)
    out, release = hold_answers(fake, 1)
    conversation = first.new_conversation()
    turn = first.queue(conversation.id, "a red bicycle").id
    assert out.wait(30)
    server.stop()
    release.set()
    wait_for(lambda: len(first.turns.spool) == 1 and not first.runner.held, timeout=30)
    first.close()  # this process stops; the answer is only on disk now
    first.store.engine.dispose()
    time.sleep(2 * settings.lease_s)
    server.start()
    second = StudioService.from_settings(settings)
    wait_for(lambda: second.store.turn(turn).status == TurnStatus.OK, timeout=30)
    replies, ledger = money(second, [turn])
    assert replies == [turn] and ledger == [(turn, "ok", True)]
    assert len(second.turns.spool) == 0 and len(fake.requests) == 1
    assert second.conversation(conversation.id).latest_image is not None


def test_storing_an_answer_twice_stores_it_once(service, fake):
    """The database may commit and then drop the connection before saying so: the holder tries
    again, and the second finish must change nothing."""
    conversation = service.new_conversation()
    outcome = service.send(conversation.id, "one")
    assert outcome.ok
    again = service.life.finish(
        outcome.request.id,
        service.turns.owner,
        status=TurnStatus.OK,
        reply_parts=outcome.reply.parts,
        bill=None,
    )
    assert again.reply.id == outcome.reply.id and again.held
    replies, ledger = money(service, [outcome.request.id])
    assert replies == [outcome.request.id] and ledger == [(outcome.request.id, "ok", True)]
