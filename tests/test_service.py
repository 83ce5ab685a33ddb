"""A turn end to end: store first, replay exactly, fail safely, recover."""

import base64
import dataclasses
import json
import time

import pytest
from werkzeug import Response

from core.service import StudioService
from core.values import Seed, TurnStatus
from tests.fake_gemini import google_error, html_response, image_bytes, json_response


def model_contents(body):
    return [c for c in body["contents"] if c["role"] == "model"]


@pytest.fixture
def db_url(both_db_url):
    """These tests run on SQLite and on a real PostgreSQL server."""
    return both_db_url


def test_three_turns_replay_every_model_turn_exactly_as_issued(service, fake):
    conversation = service.new_conversation()
    for prompt in ["a red bicycle on a beach", "make it blue", "add a bell"]:
        outcome = service.send(conversation.id, prompt)
        assert outcome.ok, outcome.error
    assert len(fake.requests) == 3
    last = fake.requests[-1]
    assert [c["role"] for c in last["contents"]] == ["user", "model", "user", "model", "user"]
    # Byte for byte: the JSON of each replayed model turn is the JSON the fake sent.
    assert [json.dumps(c) for c in model_contents(last)] == [json.dumps(c) for c in fake.issued[:2]]
    assert last["contents"][-1] == {"role": "user", "parts": [{"text": "add a bell"}]}
    stored = service.conversation(conversation.id)
    assert stored.title == "a red bicycle on a beach"
    assert [t.status for t in stored.turns] == [TurnStatus.OK] * 6


def test_realistic_sizes_round_trip_byte_identical(service, fake):
    """~600 KB signatures and 2K images survive store, load and replay unchanged."""
    fake.signature_bytes = 600_000
    fake.image_size = (2048, 2048)
    fake.image_noise = True
    service.settings = service.settings.__class__(**{**service.settings.__dict__, "max_request_mb": 200})
    conversation = service.new_conversation()
    for prompt in ["first", "second", "third"]:
        assert service.send(conversation.id, prompt).ok
    replayed = model_contents(fake.requests[-1])
    assert len(replayed) == 2
    for sent, received in zip(replayed, fake.issued, strict=False):
        assert json.dumps(sent).encode() == json.dumps(received).encode()
        assert len(sent["parts"][2]["thoughtSignature"]) == 600_000
        assert len(base64.b64decode(sent["parts"][3]["inlineData"]["data"])) > 10_000_000


def test_user_images_are_sent_inline_with_their_sniffed_type(service, fake):
    conversation = service.new_conversation()
    jpeg = image_bytes((40, 30), fmt="JPEG")
    upload = service.images.add_upload(jpeg, "photo.png")  # the name lies; the bytes are JPEG
    assert service.send(conversation.id, "use this", [upload.image.hash]).ok
    part = fake.requests[0]["contents"][0]["parts"][1]
    assert part["inlineData"]["mimeType"] == "image/jpeg"
    assert base64.b64decode(part["inlineData"]["data"]) == jpeg
    assert not part["inlineData"]["data"].startswith("data:")


def test_user_turn_is_stored_before_the_call_and_running_during_it(service, fake):
    conversation = service.new_conversation()
    seen = []
    fake.during_call = lambda body: seen.append(
        [(t.role, t.status) for t in service.store.conversation(conversation.id).turns]
    )
    assert service.send(conversation.id, "hello").ok
    # The fake read the DB during the call: the user turn was already there, and nothing was locked.
    assert seen == [[("user", TurnStatus.RUNNING)]]


FAILURES = {
    "bad_key": json_response({"error": {"message": "Invalid token", "type": "comet_api_error"}}, 401),
    "bad_request": google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "quota": google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded."),
    "service_down": html_response(503),
    "timeout": html_response(524),
    "unreadable": Response("<html>oops</html>", content_type="text/html"),
    "blocked": json_response({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}),
    "no_image": json_response({"candidates": [{"content": {}, "finishReason": "NO_IMAGE"}]}),
    "text_only": json_response(
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Sure! A poem."}]}, "finishReason": "STOP"}]}
    ),
}


@pytest.mark.parametrize("kind", FAILURES)
def test_each_failure_is_a_failed_turn_left_out_of_replay_and_the_next_turn_works(service, fake, kind):
    conversation = service.new_conversation()
    assert service.send(conversation.id, "first").ok
    # Never 524/504: the gateway gave up, but the model may have finished and billed.
    retries = 4 if kind in ("quota", "service_down") else 1
    fake.then(*[FAILURES[kind]] * retries)
    before = len(fake.requests)
    outcome = service.send(conversation.id, "the one that fails")
    assert len(fake.requests) - before == retries
    assert not outcome.ok and outcome.error.kind == kind and outcome.error.message
    failed = service.store.turn(outcome.request.id)
    assert failed.status == TurnStatus.FAILED and failed.error_kind == kind
    assert failed.parts[0].text == "the one that fails"  # the user's words are kept
    assert service.send(conversation.id, "next").ok
    texts = [p.get("text") for c in fake.requests[-1]["contents"] for p in c["parts"] if c["role"] == "user"]
    assert texts == ["first", "next"]
    if kind == "text_only":  # what the model said is kept for display
        assert outcome.reply is not None and outcome.reply.text == "Sure! A poem."


def test_a_turn_whose_process_died_lapses_to_interrupted_and_can_be_retried(settings, fake):
    short = dataclasses.replace(settings, lease_s=1.0)
    first = StudioService.from_settings(short, backoff_factor=0.01)
    conversation = first.new_conversation()
    fake.during_call = lambda body: time.sleep(0.2)
    pending = first.turns.start(conversation.id, "cut off mid-call")
    first.close()  # the process dies here: no worker, no heartbeat
    second = StudioService.from_settings(short, backoff_factor=0.01)  # a restart, or another replica
    assert second.conversation(conversation.id).turns[0].status == TurnStatus.QUEUED  # its lease still holds
    time.sleep(1.2)
    turn = second.conversation(conversation.id).turns[0]
    assert turn.status == TurnStatus.INTERRUPTED and turn.parts[0].text == "cut off mid-call"
    outcome = second.retry(pending.id)
    assert outcome.ok and fake.requests[-1]["contents"] == [{"role": "user", "parts": [{"text": "cut off mid-call"}]}]
    # The interrupted attempt stays visible, marked as retried, and is never replayed.
    assert second.store.turn(pending.id).status == TurnStatus.REPLACED
    second.send(conversation.id, "next")
    users = [c["parts"][0]["text"] for c in fake.requests[-1]["contents"] if c["role"] == "user"]
    assert users == ["cut off mid-call", "next"]
    second.close()


def test_model_is_fixed_once_the_conversation_has_turns(service, fake):
    conversation = service.new_conversation()
    switched = service.switch_model(conversation.id, "gemini-3-pro-image")
    assert switched.id == conversation.id and switched.model == "gemini-3-pro-image"
    assert service.send(conversation.id, "a cat").ok
    held = service.switch_model(conversation.id, "gemini-3.1-flash-image")
    seed = service.conversation(conversation.id).latest_image.image_hash
    assert isinstance(held, Seed) and held.image_hash == seed and held.model == "gemini-3.1-flash-image"
    assert len(service.conversations()) == 1  # nothing is created until a message is sent
    branch = service.from_seed(held)
    assert service.send(branch.id, "continue", [held.image_hash]).ok
    sent = fake.requests[-1]["contents"]
    assert (
        len(sent) == 1
        and sent[0]["parts"][1]["inlineData"]["data"] == base64.b64encode(service.images.data(seed)).decode()
    )


def test_another_take_is_a_sibling_of_the_answer_clicked_and_becomes_the_current_version(service, fake):
    conversation = service.new_conversation()
    service.send(conversation.id, "a dog")
    second = service.send(conversation.id, "make it a puppy")
    outcome = service.regenerate(second.reply.id)
    assert outcome.ok
    users = [p["text"] for c in fake.requests[-1]["contents"] if c["role"] == "user" for p in c["parts"]]
    assert users == ["a dog", "make it a puppy"]
    assert json.dumps(fake.requests[-1]["contents"][1]) == json.dumps(fake.issued[0])
    after = service.conversation(conversation.id)
    # Both takes stay, as versions with the same parent; the new one is current.
    statuses = [(e.request.status, e.reply.status) for e in after.exchanges]
    assert statuses == [(TurnStatus.OK,) * 2] * 3
    assert after.exchanges[2].request.parent_id == after.exchanges[1].request.parent_id == after.exchanges[0].reply.id
    assert after.tip_id == outcome.reply.id
    assert [e.request.id for e in after.path] == [after.exchanges[0].request.id, outcome.request.id]


def test_redo_acts_on_the_answer_clicked_even_when_the_newest_turn_failed(service, fake):
    conversation = service.new_conversation()
    answered = service.send(conversation.id, "a dog")
    fake.then(google_error(400, "INVALID_ARGUMENT", "nope"))
    assert not service.send(conversation.id, "this one fails").ok
    outcome = service.regenerate(answered.reply.id)
    assert outcome.ok
    assert fake.requests[-1]["contents"] == [{"role": "user", "parts": [{"text": "a dog"}]}]
    again = service.regenerate(answered.reply.id)  # another take again: a third version at the start
    assert again.ok and fake.requests[-1]["contents"] == [{"role": "user", "parts": [{"text": "a dog"}]}]
    assert len([e for e in service.conversation(conversation.id).exchanges if e.request.parent_id is None]) == 3


def test_a_turn_queued_but_never_handed_to_a_worker_lapses_instead_of_waiting_forever(settings, fake):
    service = StudioService.from_settings(dataclasses.replace(settings, lease_s=1.0), backoff_factor=0.01)
    conversation = service.new_conversation()
    started = service.turns.start(conversation.id, "the page stopped before the hand-over")
    assert service.conversation(conversation.id).turns[0].status == TurnStatus.QUEUED
    time.sleep(1.5)  # the heartbeat renews only turns its workers hold
    shown = service.conversation(conversation.id).turns[0]
    assert shown.id == started.id and shown.status == TurnStatus.INTERRUPTED
    seen = []
    fake.during_call = lambda body: seen.append(service.conversation(conversation.id).turns[-1].status)
    assert service.retry(started.id).ok
    assert seen == [TurnStatus.RUNNING]  # while the call runs, it shows as working
    service.close()


def test_the_thumbnail_is_the_latest_result_not_a_refused_upload(service, fake):
    conversation = service.new_conversation()
    photo = service.images.add_upload(image_bytes((30, 30), (1, 2, 3)), "product.png").image.hash
    assert service.conversations()[0].thumbnail_hash is None
    first = service.send(conversation.id, "put it on a beach", [photo])
    result = first.reply.result_image.image_hash
    assert service.conversations()[0].thumbnail_hash == result
    refused = service.images.add_upload(image_bytes((31, 31), (9, 9, 9)), "other.png").image.hash
    fake.then(google_error(400, "INVALID_ARGUMENT", "refused"))
    assert not service.send(conversation.id, "use this instead", [refused]).ok
    assert service.conversations()[0].thumbnail_hash == result  # the refused upload does not stand for it
    only_upload = service.new_conversation()
    fake.then(google_error(400, "INVALID_ARGUMENT", "refused"))
    service.send(only_upload.id, "never answered", [refused])
    assert next(s for s in service.conversations() if s.id == only_upload.id).thumbnail_hash is None
