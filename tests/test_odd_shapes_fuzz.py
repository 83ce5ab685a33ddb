"""Random JSON in every position of an answer (issue 22, item 10): whatever the service or a proxy
sends, the studio stores the turn (or records a clear failure when there is no answer to keep),
shows the conversation, prices it, and replays what it kept exactly as it came, on the next turn.

Seeded, so a failure is reproducible: STUDIO_FUZZ_SEED picks another run of cases."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import os
import random
from typing import Any

import pytest
from werkzeug import Response

from core.config import load_settings
from core.errors import StudioError
from core.service import StudioService
from core.team.people import LOCAL_EMAIL, User
from tests.conftest import API_KEY
from tests.fake_gemini import json_response
from tests.test_pages import all_text, studio

SEED = int(os.environ.get("STUDIO_FUZZ_SEED", "20261204"))
# Names the studio reads, in both spellings a proxy may send: random objects use them, so the
# odd values land where a reader looks.
NAMES = [
    "candidates", "content", "parts", "role", "text", "thought", "thoughtSignature", "thought_signature",
    "inlineData", "inline_data", "mimeType", "mime_type", "data", "finishReason", "finish_reason",
    "usageMetadata", "usage_metadata", "promptTokenCount", "candidatesTokenCount", "totalTokenCount",
    "thoughtsTokenCount", "promptTokensDetails", "candidatesTokensDetails", "modality", "tokenCount",
    "groundingMetadata", "webSearchQueries", "searchEntryPoint", "renderedContent", "promptFeedback",
    "blockReason", "safetyRatings", "modelVersion", "responseId", "index", "fileData", "fileUri",
]  # fmt: skip
WORDS = ["", "STOP", "IMAGE", "TEXT", "SAFETY", "model", "user", "image/png", "image/jpeg", "iVBORw0KGgo=", "é\u2028🍌"]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.choice(["null", "bool", "int", "float", "word", "text", "list", "object"][: 8 if depth < 3 else 6])
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 1, 7, 2**31, -(2**63), 10**30])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e-9, 3.0])
    if kind == "word":
        return rng.choice(WORDS)
    if kind == "text":
        return "".join(rng.choice('ab ✓\n"{}[]:\\') for _ in range(rng.randint(0, 12)))
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(NAMES): random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def positions(node: Any, path: tuple = ()) -> list[tuple]:
    """Every position in the answer, the answer itself included."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += positions(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += positions(value, (*path, index))
    return found


def mutate(answer: dict[str, Any], rng: random.Random) -> tuple[Any, str]:
    """A copy of `answer` with one position changed: replaced by random JSON, removed, renamed to
    a proxy's snake_case, or given a sibling key it does not expect."""
    changed = copy.deepcopy(answer)
    path = rng.choice(positions(changed))
    if not path:
        return random_json(rng), "the whole answer"
    parent = changed
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    how = rng.choice(["replace", "replace", "replace", "remove", "snake", "extra"])
    if how == "remove":
        del parent[last]
    elif how == "snake" and isinstance(last, str):
        snake = "".join("_" + c.lower() if c.isupper() else c for c in last)
        parent[snake] = parent.pop(last)
    elif how == "extra" and isinstance(parent, dict):
        parent[rng.choice(NAMES)] = random_json(rng)
    else:
        how = "replace"
        parent[last] = random_json(rng)
    return changed, f"{how} at {'/'.join(map(str, path))}"


def received_parts(answer: Any) -> Any:
    try:
        return answer["candidates"][0]["content"]["parts"]
    except (KeyError, IndexError, TypeError):
        return None


def check_one(svc: StudioService, fake, base: dict[str, Any], rng: random.Random, case: int) -> tuple[str, bool]:  # type: ignore[no-untyped-def]
    answer, what = mutate(base, rng)
    label = f"case {case} (seed {SEED}): {what}"
    conversation = svc.new_conversation()
    fake.then(json_response(answer))
    first = svc.send(conversation.id, "a lighthouse at dusk")  # never raises: stored, or a clear failure
    if not first.ok:
        assert isinstance(first.error, StudioError) and first.error.message, label
        # A studio error of its own kind, never "something went wrong" (an exception inside).
        assert type(first.error) is not StudioError, f"{label}: {first.error.message}"
    shown = svc.conversation(conversation.id)
    for exchange in shown.exchanges:  # what the page reads of every turn
        for turn in (exchange.request, exchange.reply):
            if turn is not None:
                assert isinstance(turn.text, str), label
                turn.images, turn.thoughts, turn.result_image
    shown.latest_image
    person = svc.as_user(User(email=LOCAL_EMAIL, name="you", is_admin=True))
    person.estimate(shown, "now at night")
    person.spent(conversation.id)
    # The next turn replays what was kept, exactly as it came (a plain answer for it, scripted).
    fake.then(json_response(copy.deepcopy(base)))
    second = svc.send(conversation.id, "now at night")
    request = fake.requests[-1]
    replayed = [m for m in request.get("contents", []) if m.get("role") == "model"]
    if first.ok:
        assert second.ok, f"{label}: {second.error}"
        assert len(replayed) == 1, label
    for model_turn in replayed:
        assert json.dumps(model_turn["parts"]) == json.dumps(received_parts(answer)), label
    return conversation.id, first.ok and bool(replayed)


def run_cases(settings, fake, cases: int, drawn: int, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(SEED)
    base = fake.answer({})
    svc = StudioService.from_settings(settings)
    kept = []
    try:
        for case in range(cases):
            conversation_id, stored = check_one(svc, fake, base, rng, case)
            if stored:
                kept.append(conversation_id)
        person = svc.as_user(User(email=LOCAL_EMAIL, name="you", is_admin=True))
        person.usage(dt.datetime(2000, 1, 1))  # the Usage page's figures over every odd answer
        person.usage_csv(dt.datetime(2000, 1, 1))
    finally:
        svc.close()
    assert kept, "no case kept an answer: the mutations are too wild to test the keeping"
    # The page itself on a sample of the conversations: drawn whole, no exception.
    monkeypatch.setenv("COMETAPI_KEY", API_KEY)
    monkeypatch.setenv("COMETAPI_BASE_URL", settings.base_url)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    for conversation_id in random.Random(SEED).sample(kept, min(drawn, len(kept))):
        at = studio(session=conversation_id)
        assert not at.exception, (conversation_id, at.exception)
        assert "now at night" in all_text(at)


def fuzz_settings(httpserver, url: str, tmp_path):  # type: ignore[no-untyped-def]
    return load_settings(
        {
            "STUDIO_SPOOL_DIR": str(tmp_path / "spool"),
            "COMETAPI_KEY": API_KEY,
            "COMETAPI_BASE_URL": httpserver.url_for("/").rstrip("/"),
            "DATABASE_URL": url,
            "STUDIO_READ_TIMEOUT_S": "10",
            "STUDIO_MAX_RETRIES": "0",
        }
    )


def test_random_shapes_in_every_position_on_sqlite(httpserver, fake, tmp_path, monkeypatch):
    fake.signature_bytes = 64
    run_cases(fuzz_settings(httpserver, f"sqlite:///{tmp_path / 'studio.db'}", tmp_path), fake, 240, 6, monkeypatch)


@pytest.mark.usefixtures("postgres_server")
def test_random_shapes_in_every_position_on_postgresql(httpserver, fake, tmp_path, postgres_url, monkeypatch):
    fake.signature_bytes = 64
    run_cases(fuzz_settings(httpserver, postgres_url, tmp_path), fake, 60, 2, monkeypatch)


def stream_of(chunks: Any) -> Response:
    return Response("".join(f"data: {json.dumps(c)}\n\n" for c in chunks), content_type="text/event-stream")


def chunked(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """An answer as Gemini streams it: a part a chunk, the finish reason and usage on the last."""
    candidate = answer["candidates"][0]
    parts = candidate["content"]["parts"]
    chunks = [{"candidates": [{"content": {"role": "model", "parts": [p]}, "index": 0}]} for p in parts]
    last = chunks[-1]["candidates"][0]
    last.update({k: v for k, v in candidate.items() if k not in ("content", "index")})
    chunks[-1]["usageMetadata"] = answer["usageMetadata"]
    for chunk in chunks:
        chunk["modelVersion"] = answer["modelVersion"]
    return chunks


def parts_in(chunks: Any) -> str | None:
    try:
        return json.dumps([c["candidates"][0]["content"]["parts"] for c in chunks])
    except (KeyError, IndexError, TypeError):
        return None


def test_random_shapes_in_every_position_of_a_stream(httpserver, fake, tmp_path, monkeypatch):
    """STUDIO_STREAM=1: one position of one chunk changed at random. Stored or a clear failure;
    read and priced; the next turns replay the same kept parts each time, and exactly the
    service's parts whenever the change was outside them."""
    settings = dataclasses.replace(
        fuzz_settings(httpserver, f"sqlite:///{tmp_path / 'studio.db'}", tmp_path), stream=True
    )
    rng = random.Random(SEED + 1)
    base = fake.answer({}, streamed=True)
    chunks = chunked(base)
    svc = StudioService.from_settings(settings)
    person = svc.as_user(User(email=LOCAL_EMAIL, name="you", is_admin=True))
    kept = exact = 0
    try:
        for case in range(120):
            changed, what = mutate({"chunks": chunks}, rng)
            label = f"stream case {case} (seed {SEED + 1}): {what}"
            sent = changed.get("chunks") if isinstance(changed, dict) else changed
            conversation = svc.new_conversation()
            fake.then(stream_of(sent if isinstance(sent, list) else [sent]))
            first = svc.send(conversation.id, "a lighthouse at dusk")
            if not first.ok:
                assert isinstance(first.error, StudioError) and first.error.message, label
                assert type(first.error) is not StudioError, f"{label}: {first.error.message}"
            shown = svc.conversation(conversation.id)
            shown.latest_image
            person.estimate(shown, "now at night")
            person.spent(conversation.id)
            replays = []
            for text in ("now at night", "and a moon"):
                fake.then(stream_of(chunks))
                svc.send(conversation.id, text)
                replays.append([m["parts"] for m in fake.requests[-1]["contents"] if m.get("role") == "model"])
            if not first.ok:
                continue
            kept += 1
            assert replays[1][0] == replays[0][0], label  # what was kept is replayed the same each time
            assert all(isinstance(p, dict) for p in replays[0][0]), label
            outside = any(name in what for name in ("usageMetadata", "modelVersion", "finishReason"))
            if outside and parts_in(sent) == parts_in(chunks):
                exact += 1
                assert json.dumps(replays[0][0]) == json.dumps(base["candidates"][0]["content"]["parts"]), label
    finally:
        svc.close()
    assert kept > 20 and exact > 5, (kept, exact)
