"""Crashes and concurrency: nothing lost, nothing half-written, nothing reordered."""

from __future__ import annotations

import dataclasses
import datetime
import threading
import time
from collections import defaultdict

import pytest
from sqlalchemy import text

import core.turns.flight
from core.errors import ConversationBusy
from core.service import StudioService
from core.values import TurnStatus
from tests import fake_gemini


@pytest.fixture
def db_url(both_db_url):
    """These tests run on SQLite and on a real PostgreSQL server."""
    return both_db_url


def test_a_write_cut_off_half_way_leaves_no_half_turn(service, fake, monkeypatch):
    conversation = service.new_conversation()
    assert service.send(conversation.id, "first").ok
    real = core.turns.flight.part_rows

    def crash_on_model_parts(parts):
        if any(p.signature for p in parts):
            raise OSError("disk pulled out mid-write")
        return real(parts)

    monkeypatch.setattr(core.turns.flight, "part_rows", crash_on_model_parts)
    outcome = service.send(conversation.id, "second")
    monkeypatch.setattr(core.turns.flight, "part_rows", real)
    assert outcome.error is not None
    turns = service.conversation(conversation.id).turns
    # The reply's transaction rolled back whole: no model turn, no parts; the request is failed, words kept.
    assert [(t.role, t.status) for t in turns] == [
        ("user", TurnStatus.OK),
        ("model", TurnStatus.OK),
        ("user", TurnStatus.FAILED),
    ]
    assert turns[-1].parts[0].text == "second"
    with service.store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        orphans = conn.execute(text("SELECT count(*) FROM parts WHERE turn_id NOT IN (SELECT id FROM turns)"))
        assert orphans.scalar() == 0
    assert service.send(conversation.id, "third").ok
    assert [c["role"] for c in fake.requests[-1]["contents"]] == ["user", "model", "user"]


def test_many_turns_at_once_on_one_database(settings, fake):
    """14 sessions send at once: 12 on their own conversations, 2 tabs sharing one. On the shared
    one a message sent while the other tab's turn runs is refused and kept (never a silent fork)."""
    fake.during_call = lambda body: time.sleep(0.05)  # keep calls overlapping
    service = StudioService.from_settings(settings, backoff_factor=0.01)
    own = [service.new_conversation().id for _ in range(12)]
    shared = service.new_conversation().id
    errors: list[BaseException] = []
    sent: dict[str, list[str]] = defaultdict(list)
    refused: list[str] = []
    start = threading.Barrier(14)

    def session(conversation_id: str, name: str) -> None:
        try:
            start.wait()
            for n in range(3):
                prompt = f"{name}-{n}"
                try:
                    outcome = service.send(conversation_id, prompt)
                except ConversationBusy as busy:
                    service.turns.reject(conversation_id, prompt, [], busy)  # what the page does
                    refused.append(prompt)
                    continue
                assert outcome.ok, outcome.error
                sent[conversation_id].append(prompt)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(cid, f"s{i}")) for i, cid in enumerate(own)]
    threads += [threading.Thread(target=session, args=(shared, f"tab{t}")) for t in "AB"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(fake.requests) == 14 * 3 - len(refused)
    for conversation_id in [*own, shared]:
        conversation = service.conversation(conversation_id)
        positions = [t.position for t in conversation.turns]
        assert len(positions) == len(set(positions))  # no duplicate positions
        exchanges = [e for e in conversation.exchanges if e.request.status != TurnStatus.FAILED]
        kept = [e.request.parts[0].text for e in conversation.exchanges if e.request.status == TurnStatus.FAILED]
        assert all(e.replayable for e in exchanges)
        prompts = [e.request.parts[0].text for e in exchanges]
        if conversation_id == shared:
            assert sorted(prompts) == sorted(sent[shared]) and sorted(kept) == sorted(refused)
            assert len(prompts) + len(kept) == 6
            for tab in "AB":  # each tab's turns keep their order
                mine = [p for p in prompts if p.startswith(f"tab{tab}")]
                assert mine == [p for p in [f"tab{tab}-{n}" for n in range(3)] if p not in refused]
        else:
            assert prompts == sent[conversation_id] and not kept
        for e in exchanges:  # each reply sits after its own request
            assert e.reply.reply_to == e.request.id and e.reply.position > e.request.position


@pytest.mark.parametrize("restarts", [1, 2])
def test_the_database_survives_restarts_and_replays(settings, fake, restarts):
    service = StudioService.from_settings(settings)
    conversation = service.new_conversation()
    service.send(conversation.id, "one")
    for _ in range(restarts):
        service.store.engine.dispose()
        service = StudioService.from_settings(settings)
    assert service.send(conversation.id, "two").ok
    assert fake.requests[-1]["contents"][1] == fake.issued[0]


def test_a_database_failure_while_recording_a_failure_still_returns_a_clear_outcome(service, fake, monkeypatch):
    from sqlalchemy.exc import OperationalError

    conversation = service.new_conversation()
    fake.then(fake_gemini.html_response(503), *[fake_gemini.html_response(503)] * 3)
    service.life.lease = datetime.timedelta(seconds=1)  # so the test need not wait 30 s
    # The database stays unwritable past the window in which the holder keeps retrying.
    service.settings = dataclasses.replace(service.settings, db_outage_s=1)
    real = service.life.finish

    def disk_full(*args, **kwargs):
        raise OperationalError("UPDATE turns", {}, Exception("database or disk is full"))

    monkeypatch.setattr(service.life, "finish", disk_full)
    outcome = service.send(conversation.id, "keep my words")
    monkeypatch.setattr(service.life, "finish", real)
    assert outcome.error is not None and outcome.error.kind == "service_down"
    time.sleep(1.3)  # the worker let go; nobody renews the lease
    # This process saw the database fail: it trusts a lapse only once it has been back in touch
    # for a whole lease (a heartbeat, then a lease).
    service.runner.lease_s = 1
    service.runner.beat()
    time.sleep(1.1)
    shown = service.conversation(conversation.id).turns[0]
    assert shown.status == TurnStatus.INTERRUPTED and shown.parts[0].text == "keep my words"
    assert service.retry(shown.id).ok
