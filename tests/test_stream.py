"""STUDIO_STREAM=1 (issue 18, item 2's streaming half): answers over
streamGenerateContent?alt=sse, merged into the turn the service meant, replayed byte-exactly;
a failure before the first byte falls back to generateContent, one after it is not resent."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest
from sqlalchemy import select
from werkzeug import Response

from core.money.ledger import RETRIED
from core.provider import stream
from core.service import StudioService
from core.storage.schema import LedgerRow
from tests.fake_gemini import image_bytes

MODEL_ROUTE = ":streamGenerateContent?alt=sse"
PNG = base64.b64encode(image_bytes((8, 8))).decode()


@pytest.fixture
def streaming(settings):
    return dataclasses.replace(settings, stream=True)


@pytest.fixture
def svc(streaming, fake):
    service = StudioService.from_settings(streaming, backoff_factor=0.01)
    yield service
    service.close()


def ledger(service) -> list[LedgerRow]:  # type: ignore[no-untyped-def]
    with service.store.read() as db:
        found = list(db.scalars(select(LedgerRow).order_by(LedgerRow.id)))
        db.expunge_all()
        return found


def sse(chunks: list[dict]) -> Response:
    return Response("".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks), content_type="text/event-stream")


# Reading and merging ------------------------------------------------------------------------


def chunk(*parts: dict, **candidate: object) -> dict:
    return {"candidates": [{"content": {"parts": list(parts), "role": "model"}, **candidate}]}


def test_sse_events_are_read_whatever_the_splits_line_ends_comments_and_data_lines():
    raw = b': keep-alive\r\n\r\ndata: {"a":\r\ndata: 1}\r\n\r\nevent: x\ndata: [DONE]\n\ndata: {"b": 2}'
    for size in (1, 3, 7, len(raw)):
        blocks = [raw[i : i + size] for i in range(0, len(raw), size)]
        assert list(stream.chunks_of(stream.sse_events(blocks))) == [{"a": 1}, {"b": 2}]


def test_chunks_merge_into_the_parts_the_service_meant():
    image = {"mimeType": "image/png", "data": PNG}
    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Plan", "thought": True}]}}]},
        {"candidates": [{"content": {"parts": [{"text": "ning", "thought": True}], "role": "model"}}]},
        chunk({"inlineData": image, "thought": True}),
        {**chunk({"text": "Here "}, {"text": "it "}), "usageMetadata": {"totalTokenCount": 1}},
        chunk({"text": "is"}, {"text": "", "thoughtSignature": "sig-A"}),
        chunk({"text": "Sig", "thoughtSignature": "sig-D"}),
        chunk({"text": "ned"}),
        chunk({"inlineData": image, "thoughtSignature": "sig-B"}),
        {
            **chunk({"text": "", "thoughtSignature": "sig-C"}, finishReason="STOP"),
            "usageMetadata": {"totalTokenCount": 1300},
            "modelVersion": "m",
        },
    ]
    merged = stream.merge(chunks)
    assert json.dumps(merged["candidates"][0]["content"]) == json.dumps(
        {
            "role": "model",
            "parts": [
                {"text": "Planning", "thought": True},  # thought text cut over chunks: one part again
                {"inlineData": {"mimeType": "image/png", "data": PNG}, "thought": True},  # images kept whole
                {"text": "Here it is"},  # the answer's text, joined, not into the thought before it
                {"text": "", "thoughtSignature": "sig-A"},  # a signed empty part stays where it came
                {"text": "Sig", "thoughtSignature": "sig-D"},  # a signed part takes no text after it
                {"text": "ned"},
                {"inlineData": {"mimeType": "image/png", "data": PNG}, "thoughtSignature": "sig-B"},
                {"text": "", "thoughtSignature": "sig-C"},  # and so does the trailing one
            ],
        }
    )
    assert merged["candidates"][0]["finishReason"] == "STOP"
    assert merged["usageMetadata"] == {"totalTokenCount": 1300}  # the last chunk that has it
    assert merged["modelVersion"] == "m"


def test_a_proxys_snake_case_and_sorted_keys_are_kept_as_received():
    snake = {"inline_data": {"data": PNG, "mime_type": "image/png"}, "thought_signature": "s"}
    chunks = [
        chunk({"text": "a", "thought": True}, index=0),
        chunk({"thought": True, "text": "b"}, index=0),
        chunk({"text": "c", "thought": True}, index=0),
        chunk(snake, finish_reason="STOP", finishReason="STOP", index=0),
    ]
    parts = stream.merge(chunks)["candidates"][0]["content"]["parts"]
    # Keys in another order are another encoding: not joined, so each replays as it came.
    assert json.dumps(parts) == json.dumps(
        [
            {"text": "a", "thought": True},
            {"thought": True, "text": "b"},
            {"text": "c", "thought": True},
            {"inline_data": {"data": PNG, "mime_type": "image/png"}, "thought_signature": "s"},
        ]
    )


def test_the_watcher_reports_the_latest_thought_summary_and_draft():
    seen: list[stream.Progress] = []
    watcher = stream.Watcher(seen.append)
    for parts in (
        [{"text": "**Framing**", "thought": True}],
        [{"text": " the bridge", "thought": True}],
        [{"inlineData": {"mimeType": "image/png", "data": PNG}, "thought": True}],
        [{"text": "**Lighting**", "thought": True}],
        [{"text": "Done"}],
    ):
        watcher.see({"candidates": [{"content": {"parts": parts}}]})
    framing = "**Framing** the bridge"
    assert [p.thought for p in seen] == ["**Framing**", framing, framing, "**Lighting**"]
    assert seen[2].draft == base64.b64decode(PNG) and seen[1].draft is None


# Through the studio -------------------------------------------------------------------------


def test_a_streamed_turn_is_stored_as_merged_and_the_next_turn_replays_it_exactly(svc, fake):
    conversation = svc.new_conversation()
    first = svc.send(conversation.id, "a lighthouse at dusk")
    assert first.ok, first.error
    assert fake.stream_calls == 1 and len(fake.paths) == 1  # streamed, and only streamed
    assert first.reply.result_image is not None
    second = svc.send(conversation.id, "now at night")  # the strict fake checks the replay
    assert second.ok, second.error
    replayed = fake.requests[-1]["contents"][1]
    parts = replayed["parts"]
    # Exactly the merged turn: its text joined, the signature on its own trailing empty part.
    assert [sorted(p) for p in parts] == [
        ["text", "thought"],
        ["inlineData", "thought"],
        ["text"],
        ["inlineData", "thoughtSignature"],
        ["text", "thoughtSignature"],
    ]
    assert parts[0]["text"] == "Thinking about turn 1" and parts[2] == {"text": "Result 1"}
    assert parts[4]["text"] == "" and parts[4]["thoughtSignature"]
    assert json.dumps(replayed) == json.dumps(fake.issued[0])
    assert fake.paths[-1].endswith(MODEL_ROUTE)


def test_a_proxys_stream_in_snake_case_replays_in_its_own_spelling(svc, fake):
    content = {
        "parts": [
            {"text": "Res", "thought": False},
            {"text": "ult", "thought": False},
            {"inline_data": {"data": PNG, "mime_type": "image/png"}, "thought_signature": "sig-1"},
            {"text": "", "thought_signature": "sig-2"},
        ],
        "role": "model",
    }
    # The studio writes a content's own two keys as {role, parts}; the parts are what is kept.
    merged = {"role": "model", "parts": [{"text": "Result", "thought": False}, *content["parts"][2:]]}
    fake.issued.append(merged)  # what the service meant, and what it will check on replay
    fake.then(
        sse(
            [
                {"candidates": [{"content": {"parts": content["parts"][:1], "role": "model"}}]},
                {"candidates": [{"content": {"parts": content["parts"][1:3], "role": "model"}}]},
                {"candidates": [{"content": {"parts": content["parts"][3:], "role": "model"}, "finishReason": "STOP"}]},
            ]
        )
    )
    conversation = svc.new_conversation()
    assert svc.send(conversation.id, "a kite").ok
    second = svc.send(conversation.id, "bigger")
    assert second.ok, second.error
    assert json.dumps(fake.requests[-1]["contents"][1]) == json.dumps(merged)


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_a_failure_before_the_first_byte_falls_back_to_generate_content_billed_once(svc, fake, status):
    fake.stream_refuse = status
    conversation = svc.new_conversation()
    outcome = svc.send(conversation.id, "a lighthouse at dusk")
    assert outcome.ok, outcome.error
    assert [p.split("?")[0].rsplit(":", 1)[1] for p in fake.paths] == ["streamGenerateContent", "generateContent"]
    rows = ledger(svc)
    fell_back = [(r.http_status, r.may_be_billed, r.cost_micro) for r in rows if r.outcome == RETRIED]
    assert fell_back == [(status, False, None)]
    billed = [r for r in rows if r.cost_micro]
    assert len(billed) == 1 and billed[0].outcome == "ok"
    assert svc.costs.conversation_total(conversation.id)[0] == billed[0].cost_micro
    again = svc.send(conversation.id, "now at night")  # the fallback's answer replays as usual
    assert again.ok, again.error


@pytest.mark.parametrize(
    ("status", "routes"), [(404, ["stream", "generate", "generate"]), (503, ["stream", "generate"] * 2)]
)
def test_a_base_without_the_stream_route_is_not_asked_again_at_every_turn(svc, fake, status, routes):
    fake.stream_refuse = status  # 404: a proxy without the route; 503: the route is there, busy
    conversation = svc.new_conversation()
    assert svc.send(conversation.id, "a lighthouse").ok
    assert svc.send(conversation.id, "at night").ok
    kinds = ["stream" if ":streamGenerateContent" in p else "generate" for p in fake.paths]
    assert kinds == routes


def test_a_drop_after_the_first_bytes_is_may_be_billed_and_not_sent_again(svc, fake):
    fake.stream_drop_after = 4  # the thoughts and half the answer's text, then nothing
    conversation = svc.new_conversation()
    outcome = svc.send(conversation.id, "a 4K cathedral")
    assert outcome.error is not None and outcome.error.kind == "connection_lost"
    assert "may be billed" in outcome.error.message
    assert len(fake.requests) == 1  # never resent, not even on the other route
    [row] = ledger(svc)
    assert (row.outcome, row.may_be_billed, row.cost_micro) == ("connection_lost", True, None)
    assert svc.conversation(conversation.id).turns[0].parts[0].text == "a 4K cathedral"  # words kept


def test_a_gateway_timeout_on_the_stream_route_is_not_resent(svc, fake):
    fake.then(Response("<html>524</html>", status=524, content_type="text/html"))
    outcome = svc.send(svc.new_conversation().id, "a slow one")
    assert outcome.error is not None and outcome.error.kind == "timeout"
    assert len(fake.requests) == 1
    assert ledger(svc)[0].may_be_billed


def test_without_studio_stream_there_are_no_stream_calls(service, fake):
    assert not service.settings.stream
    outcome = service.send(service.new_conversation().id, "a lighthouse")
    assert outcome.ok and fake.stream_calls == 0 and len(fake.paths) == 1


def test_studio_stream_is_read_like_the_other_settings():
    from core.config import load_settings

    assert load_settings({"STUDIO_STREAM": "1"}).stream
    assert not load_settings({"STUDIO_STREAM": "0"}).stream
    assert not load_settings({}).stream


def test_a_streamed_turn_replays_on_postgresql(postgres_url, streaming, fake):
    service = StudioService.from_settings(dataclasses.replace(streaming, database_url=postgres_url))
    try:
        conversation = service.new_conversation()
        assert service.send(conversation.id, "a lighthouse").ok
        second = service.send(conversation.id, "at night")
        assert second.ok, second.error
        assert fake.stream_calls == 2
        assert json.dumps(fake.requests[-1]["contents"][1]) == json.dumps(fake.issued[0])
    finally:
        service.close()


def test_a_body_of_one_json_array_is_read_too_and_a_cut_stream_is_not_an_answer():
    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "a"}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "b"}]}, "finishReason": "STOP"}]},
    ]
    merged = stream.read([json.dumps(chunks).encode()], sse=False)  # what Google sends without alt=sse
    assert merged["candidates"][0]["content"]["parts"] == [{"text": "ab"}]
    with pytest.raises(Exception) as cut:
        stream.read([f"data: {json.dumps(chunks[0])}\n\n".encode()])  # ended with no finish reason
    assert getattr(cut.value, "kind", None) == "connection_lost" and cut.value.may_be_billed


# Live progress: written by the holder, read by anyone watching, gone when the turn ends ---------


def progress_rows(service) -> list:  # type: ignore[no-untyped-def]
    from core.storage.schema import TurnProgressRow

    with service.store.read() as db:
        found = list(db.scalars(select(TurnProgressRow)))
        db.expunge_all()
        return found


def wait_until(predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def person(service):  # type: ignore[no-untyped-def]
    from core.team.people import LOCAL_EMAIL, User

    return service.as_user(User(email=LOCAL_EMAIL, name="you", is_admin=True))


def test_a_streaming_turn_shows_its_thought_and_draft_while_it_runs_and_nothing_once_it_lands(svc, fake):
    fake.stream_pause_s = 1.5  # the thoughts and the draft, then the model renders in silence
    conversation = svc.new_conversation()
    turn = svc.queue(conversation.id, "a lighthouse at dusk")
    # The first chunk shows at once; the rest of the burst a second later, while the model renders.
    [row] = wait_until(lambda: [r for r in progress_rows(svc) if r.draft_hash])
    assert row.turn_id == turn.id and row.thought == "Thinking about turn 1"
    draft = base64.b64decode(fake.issued[0]["parts"][1]["inlineData"]["data"])
    assert svc.images.download(row.draft_hash)[0] == draft  # the draft, through the image store
    # Any process reads it (here through a person's front door, as a watching tab does).
    [seen] = person(svc).live_progress(conversation.id, {turn.id}).values()
    assert (seen.thought, seen.draft_hash) == (row.thought, row.draft_hash)
    wait_until(lambda: svc.conversation(conversation.id).turns[-1].role == "model", timeout=15)
    assert progress_rows(svc) == []  # deleted in the transaction that finished the turn
    assert person(svc).live_progress(conversation.id, {turn.id}) == {}


def test_a_cancel_while_streaming_clears_the_progress_and_the_holder_writes_no_more(svc, fake):
    fake.stream_pause_s = 1.5
    conversation = svc.new_conversation()
    turn = svc.queue(conversation.id, "a lighthouse at dusk")
    wait_until(lambda: progress_rows(svc))
    svc.life.cancel(turn.id)
    assert progress_rows(svc) == []
    wait_until(lambda: svc.conversation(conversation.id).turns[-1].role == "model", timeout=15)  # kept, late
    assert progress_rows(svc) == []


def test_only_the_holder_of_a_running_turn_writes_progress(svc):
    from core.turns import progress

    conversation = svc.new_conversation()
    svc.runner.close()  # nothing runs it: it stays queued
    turn = svc.turns.start(conversation.id, "a kite")
    assert not progress.show(svc.store.db, turn.id, svc.runner.owner, thought="x", draft_hash=None)  # queued
    assert svc.life.claim(turn.id, turn.lease_owner)
    assert not progress.show(svc.store.db, turn.id, "another-process", thought="x", draft_hash=None)
    assert progress.show(svc.store.db, turn.id, turn.lease_owner, thought="x", draft_hash=None)
    assert [r.thought for r in progress_rows(svc)] == ["x"]
    # Another conversation's reader cannot ask for this turn's progress.
    other = svc.new_conversation()
    assert person(svc).live_progress(other.id, {turn.id}) == {}
    assert set(person(svc).live_progress(conversation.id, {turn.id})) == {turn.id}


def test_the_reporter_writes_at_most_once_a_second_and_the_newest_after_a_silence(svc):
    import time

    from core.turns import progress

    conversation = svc.new_conversation()
    svc.runner.close()
    turn = svc.turns.start(conversation.id, "a kite")
    assert svc.life.claim(turn.id, turn.lease_owner)
    reporter = progress.Reporter(svc.store.db, svc.images, turn.id, turn.lease_owner, every_s=0.5)
    started = time.monotonic()
    for n in range(20):  # twenty chunks in a burst
        reporter(stream.Progress(thought=f"thought {n}"))
    assert reporter.writes == 1 and progress_rows(svc)[0].thought == "thought 0"
    wait_until(lambda: reporter.writes == 2)
    assert time.monotonic() - started >= 0.45
    assert progress_rows(svc)[0].thought == "thought 19"  # the newest, written after the pause
    reporter.close()
    reporter(stream.Progress(thought="late"))
    time.sleep(0.6)
    assert reporter.writes == 2


def test_live_progress_on_postgresql_is_shown_then_deleted_with_the_turn(postgres_url, streaming, fake):
    fake.stream_pause_s = 1.5
    service = StudioService.from_settings(dataclasses.replace(streaming, database_url=postgres_url))
    try:
        conversation = service.new_conversation()
        turn = service.queue(conversation.id, "a lighthouse at dusk")
        [row] = wait_until(lambda: [r for r in progress_rows(service) if r.draft_hash])
        assert (row.turn_id, row.thought) == (turn.id, "Thinking about turn 1")
        wait_until(lambda: service.conversation(conversation.id).turns[-1].role == "model", timeout=15)
        assert progress_rows(service) == []
    finally:
        service.close()
