"""A turn's life across tabs and processes, on SQLite and PostgreSQL: every transition, and the
races that once broke it (a second process mid-turn, a lease that lapses, a finish after cancel,
a full worker pool, Redo on an older answer, settings changed mid-flight, a stale tab)."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time

import pytest

from core.errors import ConversationBusy, InvalidInput, StaleConversation
from core.service import StudioService
from core.values import StoredImage, TurnStatus
from tests.fake_gemini import image_bytes


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def user_texts(body) -> list[str]:  # type: ignore[no-untyped-def]
    return [p["text"] for c in body["contents"] if c["role"] == "user" for p in c["parts"] if "text" in p]


def test_a_second_process_started_mid_turn_touches_nothing(settings, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    first = StudioService.from_settings(settings, backoff_factor=0.01)
    conversation = first.new_conversation()
    turn = first.queue(conversation.id, "a slow lighthouse")
    wait_for(lambda: len(fake.requests) == 1)
    second = StudioService.from_settings(settings, backoff_factor=0.01)  # a replica, a deploy, the bench
    second.runner.beat()  # its heartbeat sweeps lapsed leases only
    shown = second.conversation(conversation.id).turns[0]
    assert shown.status == TurnStatus.RUNNING and shown.lease_owner == first.runner.owner
    with pytest.raises(InvalidInput):  # nobody can retry a turn that is alive elsewhere
        second.turns.retry(turn.id)
    release.set()
    wait_for(lambda: second.store.turn(turn.id).status == TurnStatus.OK)
    assert len(fake.requests) == 1


def test_nine_turns_behind_eight_workers_wait_in_line_and_then_all_run(settings, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    svc = StudioService.from_settings(settings, backoff_factor=0.01, workers=8)
    conversations = [svc.new_conversation().id for _ in range(9)]
    turns = [svc.queue(cid, f"picture {n}") for n, cid in enumerate(conversations)]
    wait_for(lambda: len(fake.requests) == 8)
    states = {t.id: svc.store.turn(t.id).status for t in turns}
    assert sorted(states.values()) == sorted([TurnStatus.RUNNING] * 8 + [TurnStatus.QUEUED])
    waiting = next(t for t in turns if states[t.id] == TurnStatus.QUEUED)
    assert svc.queue_places([svc.store.outlines({waiting.id})[waiting.id]]) == {waiting.id: 1}
    shown = svc.conversation(waiting.conversation_id).turns[0]
    assert shown.status == TurnStatus.QUEUED  # not "interrupted": it is waiting for a worker
    release.set()
    wait_for(lambda: all(svc.store.turn(t.id).status == TurnStatus.OK for t in turns))
    assert len(fake.requests) == 9


def test_cancel_while_queued_sends_nothing(settings, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    svc = StudioService.from_settings(settings, backoff_factor=0.01, workers=1)
    busy, waiting = svc.new_conversation(), svc.new_conversation()
    svc.queue(busy.id, "occupies the only worker")
    wait_for(lambda: len(fake.requests) == 1)
    queued = svc.queue(waiting.id, "never sent")
    assert svc.turns.cancel(queued.id) == TurnStatus.QUEUED
    release.set()
    wait_for(lambda: svc.store.turn(queued.id).status == TurnStatus.CANCELLED and not svc.runner.held)
    assert len(fake.requests) == 1 and svc.store.reply_to(queued.id) is None
    assert svc.turns.cancel(queued.id) is None  # a second cancel changes nothing


def test_an_answer_after_cancel_is_kept_and_shown_but_never_replayed(settings, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    svc = StudioService.from_settings(settings, backoff_factor=0.01)
    conversation = svc.new_conversation()
    release.set()
    first = svc.send(conversation.id, "a dog")
    release.clear()
    running = svc.queue(conversation.id, "make it a puppy")
    wait_for(lambda: len(fake.requests) == 2)
    assert svc.turns.cancel(running.id) == TurnStatus.RUNNING
    release.set()
    wait_for(lambda: svc.store.reply_to(running.id) is not None)
    late = svc.store.reply_to(running.id)
    assert svc.store.turn(running.id).status == TurnStatus.CANCELLED and late.result_image is not None
    fake.during_call = None
    assert svc.send(conversation.id, "and a hat").ok
    assert user_texts(fake.requests[-1]) == ["a dog", "and a hat"]  # the cancelled exchange is not replayed
    assert first.ok


def test_a_stale_tab_sends_nothing_and_a_busy_conversation_takes_one_turn_at_a_time(service, fake):
    conversation = service.new_conversation()
    seen = service.conversation(conversation.id).version  # what tab B shows: nothing yet
    assert service.send(conversation.id, "tab A's first").ok
    with pytest.raises(StaleConversation):
        service.turns.start(conversation.id, "tab B, against what it saw", seen=seen)
    assert [t.parts[0].text for t in service.conversation(conversation.id).turns if t.role == "user"] == [
        "tab A's first"
    ]
    now = service.conversation(conversation.id).version
    service.turns.start(conversation.id, "queued, not yet run", seen=now)
    with pytest.raises(ConversationBusy):
        service.turns.start(conversation.id, "while the other one runs")


def test_the_request_uses_the_settings_stored_on_its_own_turn(service, fake):
    conversation = service.new_conversation()
    turn = service.turns.start(conversation.id, "square please")
    service.change_settings(conversation.id, aspect_ratio="16:9")  # another tab, before the call runs
    service.runner.submit(turn.id).result()
    assert fake.requests[-1]["generationConfig"]["imageConfig"]["aspectRatio"] == "1:1"
    assert service.store.turn(turn.id).settings.aspect_ratio == "1:1"
    assert service.send(conversation.id, "now wide").ok
    assert fake.requests[-1]["generationConfig"]["imageConfig"]["aspectRatio"] == "16:9"


def test_backslashes_in_prompts_and_model_text_never_break_later_turns(service, fake):
    conversation = service.new_conversation()
    assert service.send(conversation.id, r"save it to C:\temp\new and \\server\share").ok
    assert service.send(conversation.id, "again").ok
    plan = service.turns.meter(service.conversation(conversation.id, visible=3))
    assert plan.estimated_bytes > 0 and not plan.dropped


def test_the_same_image_stored_by_two_sessions_at_once(service):
    data = image_bytes((20, 20))
    info = StoredImage(hash="h" * 64, mime_type="image/png", width=20, height=20, size_bytes=len(data))
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def put() -> None:
        try:
            start.wait()
            service.store.images.put(info, data)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and service.store.images.data("h" * 64) == data


def test_snake_case_answers_are_results_and_replay_in_their_own_spelling(service, fake):
    data = base64.b64encode(image_bytes((32, 32), (10, 200, 10))).decode()
    content = {
        "role": "model",
        "parts": [
            {"text": "Here it is", "thought_signature": "sig-text" * 50},
            {"inline_data": {"mime_type": "image/png", "data": data}, "thought_signature": "sig-img" * 50},
        ],
    }
    fake.then(fake.custom(content))
    conversation = service.new_conversation()
    outcome = service.send(conversation.id, "green square")
    assert outcome.ok and outcome.reply.result_image is not None
    assert service.send(conversation.id, "bigger").ok  # the strict fake accepts only the exact content
    assert json.dumps(fake.requests[-1]["contents"][1]) == json.dumps(content)


def test_a_model_image_pillow_cannot_read_keeps_the_reply(service, fake):
    garbage = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10).decode()
    content = {
        "role": "model",
        "parts": [{"inlineData": {"mimeType": "image/png", "data": garbage}, "thoughtSignature": "s" * 80}],
    }
    fake.then(fake.custom(content))
    conversation = service.new_conversation()
    outcome = service.send(conversation.id, "something exotic")
    assert outcome.ok
    image = outcome.reply.result_image
    assert service.images.preview(image.image_hash) is None  # shown as "preview unavailable"
    assert service.images.data(image.image_hash) == base64.b64decode(garbage)  # still downloadable
    assert service.send(conversation.id, "go on").ok
    assert json.dumps(fake.requests[-1]["contents"][1]) == json.dumps(content)  # replayed exactly


def test_every_transition_is_conditional(service, fake):
    life, owner = service.life, service.turns.owner
    conversation = service.new_conversation()
    turn = service.turns.start(conversation.id, "x")
    assert not life.claim(turn.id, "someone-else")  # only the process whose queue it is in
    assert life.claim(turn.id, owner) and not life.claim(turn.id, owner)  # once
    assert life.renew("someone-else", {turn.id}) == 0 and life.renew(owner, {turn.id}) == 1
    assert life.cancel(turn.id) == TurnStatus.RUNNING
    finished = life.finish(turn.id, owner, status=TurnStatus.OK, reply_parts=[])
    assert not finished.held and finished.request.status == TurnStatus.CANCELLED
    retried = service.turns.retry(turn.id)
    with pytest.raises(InvalidInput):
        service.turns.retry(turn.id)  # already retried
    assert service.store.turn(turn.id).status == TurnStatus.REPLACED
    assert dataclasses.replace(retried).status == TurnStatus.QUEUED
