"""Typing ahead: a message sent while the tab's own turn is being made waits in the database and
goes when that turn lands, editing its result; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, update

from core.errors import InvalidInput
from core.service import StudioService
from core.storage.schema import LedgerRow, TurnRow, WaitingRow, utcnow
from core.team.people import LOCAL_EMAIL, User
from core.values import TurnStatus, WaitingMessage
from tests.fake_gemini import google_error
from tests.test_lifecycle import user_texts, wait_for


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def ledger_rows(svc: StudioService) -> int:
    with svc.store.read() as db:
        return int(db.scalar(select(func.count()).select_from(LedgerRow)) or 0)


def test_two_messages_typed_ahead_go_in_order_each_editing_the_one_before(settings, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    svc = StudioService.from_settings(settings, backoff_factor=0.01)
    me = svc.as_user(User(email=LOCAL_EMAIL, name="you"))
    conversation = svc.new_conversation()
    first, error = me.type_ahead(conversation.id, "a red bicycle", [], seen=None)
    assert error is None and not isinstance(first, WaitingMessage)
    wait_for(lambda: len(fake.requests) == 1)
    second, error = me.type_ahead(conversation.id, "make it blue", [], seen=first.id)
    assert error is None and isinstance(second, WaitingMessage)
    third, error = me.type_ahead(conversation.id, "add a bell", [], seen=first.id)
    assert error is None and isinstance(third, WaitingMessage)
    waiting = me.waiting(conversation.id)
    assert [w.text for w in waiting] == ["make it blue", "add a bell"] and all(w.held is None for w in waiting)
    me.edit_waiting(third.id, "add a silver bell")
    assert ledger_rows(svc) == 1  # the waiting ones reserve nothing until they go
    release.set()
    wait_for(lambda: len(fake.requests) == 3 and not svc.runner.held and not me.waiting(conversation.id))
    assert [user_texts(r) for r in fake.requests] == [
        ["a red bicycle"],
        ["a red bicycle", "make it blue"],
        ["a red bicycle", "make it blue", "add a silver bell"],
    ]
    # Each replays the answer before it (the strict fake checked the signatures on the way).
    assert [len(r["contents"]) for r in fake.requests] == [1, 3, 5]
    done = svc.conversation(conversation.id)
    requests = [t for t in done.turns if t.role == "user"]
    assert all(t.status == TurnStatus.OK for t in requests)
    replies = {t.reply_to: t.id for t in done.turns if t.role == "model"}
    assert requests[1].parent_id == replies[requests[0].id] and requests[2].parent_id == replies[requests[1].id]
    assert done.tip_id == replies[requests[2].id]
    assert ledger_rows(svc) == 3


def test_when_the_turn_before_fails_the_message_waits_with_its_choice(settings, fake):
    svc = StudioService.from_settings(settings, backoff_factor=0.01)
    me = svc.as_user(User(email=LOCAL_EMAIL, name="you"))
    conversation = svc.new_conversation()
    svc.send(conversation.id, "a lighthouse")
    tip = svc.conversation(conversation.id).tip_id
    version = svc.conversation(conversation.id).version
    gate = threading.Event()
    fake.then(lambda request: (gate.wait(20), google_error(400, "INVALID_ARGUMENT", "The prompt was refused."))[1])
    failing, _ = me.type_ahead(conversation.id, "make it stormy", [], seen=version)
    held, _ = me.type_ahead(conversation.id, "add a boat", [], seen=failing.id)
    behind, _ = me.type_ahead(conversation.id, "at night", [], seen=failing.id)
    assert isinstance(held, WaitingMessage) and isinstance(behind, WaitingMessage)
    gate.set()
    wait_for(lambda: svc.store.turn(failing.id).status == TurnStatus.FAILED and not svc.runner.held)
    waiting = me.waiting(conversation.id)
    assert [w.text for w in waiting] == ["add a boat", "at night"]
    assert all(w.held and "failed" in w.held for w in waiting)
    assert len(fake.requests) == 2  # nothing went after the failure
    me.remove_waiting(behind.id)
    latest = svc.conversation(conversation.id).version
    sent = me.send_waiting(held.id, seen=latest)
    assert sent is not None and sent.parent_id == tip
    wait_for(lambda: svc.store.turn(sent.id).status == TurnStatus.OK)
    assert user_texts(fake.requests[-1]) == ["a lighthouse", "add a boat"]
    assert me.waiting(conversation.id) == []
    with pytest.raises(InvalidInput):
        me.edit_waiting(held.id, "too late")


def test_a_tab_behind_someone_elses_change_is_not_sent_and_nothing_waits(settings, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    svc = StudioService.from_settings(settings, backoff_factor=0.01)
    me = svc.as_user(User(email=LOCAL_EMAIL, name="you"))
    conversation = svc.new_conversation()
    release.set()
    svc.send(conversation.id, "a fox")
    release.clear()
    seen = svc.conversation(conversation.id).version
    other = svc.queue(conversation.id, "in the snow", seen=seen)  # another tab
    made, error = me.type_ahead(conversation.id, "make it red", [], seen=seen)
    assert error is not None and error.kind == "stale" and made.status == TurnStatus.FAILED
    assert me.waiting(conversation.id) == []
    release.set()
    wait_for(lambda: svc.store.turn(other.id).status == TurnStatus.OK and not svc.runner.held)
    assert len(fake.requests) == 2


def test_a_waiting_message_survives_a_restart_and_any_process_sends_it_on(settings, fake):
    svc = StudioService.from_settings(settings, backoff_factor=0.01)
    conversation = svc.new_conversation()
    first = svc.send(conversation.id, "a tree")
    seen = svc.conversation(conversation.id).version
    # The process that held the turn stopped between its landing and sending the next one on.
    with svc.store.db.write() as db:
        db.add(WaitingRow(conversation_id=conversation.id, after_turn_id=first.request.id, text="in autumn"))
        db.execute(
            update(TurnRow).where(TurnRow.id == first.request.id).values(finished_at=utcnow() - dt.timedelta(minutes=5))
        )
    svc.close()
    restarted = StudioService.from_settings(settings, backoff_factor=0.01)
    me = restarted.as_user(User(email=LOCAL_EMAIL, name="you"))
    assert [w.text for w in me.waiting(conversation.id)] == ["in autumn"]
    # A message typed now waits behind it: it goes first, in order.
    later, _ = me.type_ahead(conversation.id, "with falling leaves", [], seen=seen)
    assert isinstance(later, WaitingMessage)
    restarted.runner.beat()
    wait_for(lambda: len(fake.requests) == 3 and not restarted.runner.held and not me.waiting(conversation.id))
    assert user_texts(fake.requests[1]) == ["a tree", "in autumn"]
    assert user_texts(fake.requests[2]) == ["a tree", "in autumn", "with falling leaves"]


def test_cancel_says_at_the_turn_at_once_whether_it_may_still_be_billed(settings, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    svc = StudioService.from_settings(settings, backoff_factor=0.01, workers=1)
    conversation, other = svc.new_conversation(), svc.new_conversation()
    running = svc.queue(conversation.id, "a slow castle")
    wait_for(lambda: len(fake.requests) == 1)
    queued = svc.queue(other.id, "never sent")
    svc.turns.cancel(running.id)
    svc.turns.cancel(queued.id)
    assert "may still be billed" in (svc.store.turn(running.id).error_message or "")
    assert "nothing was billed" in (svc.store.turn(queued.id).error_message or "")
    release.set()


def test_how_long_a_turn_usually_takes_comes_from_the_ledger(settings, fake):
    from core.money import durations

    svc = StudioService.from_settings(settings, backoff_factor=0.01)
    conversation = svc.new_conversation()
    with svc.store.read() as db:
        assert durations.typical(db, conversation.model, "1K") is None  # nothing measured yet
    for n, ms in enumerate([40_000, 50_000, 60_000, 70_000, 100_000]):
        turn = svc.send(conversation.id, f"edit {n}")
        with svc.store.db.write() as db:
            db.execute(update(LedgerRow).where(LedgerRow.turn_id == turn.request.id).values(duration_ms=ms))
    with svc.store.read() as db:
        found = durations.typical(db, conversation.model, "1K")
        assert durations.typical(db, conversation.model, "4K") is None  # another size says nothing
    assert found is not None and found.median_s == 60 and found.p90_s == 88 and found.calls == 5
    assert durations.says(found, "1K") == "usually 60–88 s at 1K"


def test_the_chat_is_the_current_branch_and_siblings_are_switched_not_listed(settings, fake):
    from core.values import leaf_of, siblings

    svc = StudioService.from_settings(settings, backoff_factor=0.01)
    conversation = svc.new_conversation()
    svc.send(conversation.id, "a bicycle")
    blue = svc.send(conversation.id, "make it blue")
    bell = svc.send(conversation.id, "add a bell")
    red = svc.runner.submit(svc.turns.resend(blue.request.id, "make it red").id).result()
    shown = svc.conversation(conversation.id)
    words = [e.request.text for e in shown.shown]
    assert words == ["a bicycle", "make it red"]  # not "make it blue" and "add a bell" before it
    current = shown.shown[-1]
    family = siblings(shown.exchanges, current)
    assert [e.request.text for e in family] == ["make it blue", "make it red"]
    # Switching back to the first goes down its branch to its newest answer.
    assert leaf_of(shown.exchanges, blue.reply.id) == bell.reply.id
    svc.turns.branch(leaf_of(shown.exchanges, blue.reply.id))
    again = svc.conversation(conversation.id)
    assert [e.request.text for e in again.shown] == ["a bicycle", "make it blue", "add a bell"]
    assert red.ok
