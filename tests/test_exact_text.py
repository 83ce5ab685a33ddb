"""Words the studio must keep exactly, on both databases: a NUL in a model's text (PostgreSQL's
text type cannot hold one) or in a pasted prompt, and text that looks like the store's own mark."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from core.storage.schema import NUL_MARK


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def test_nul_and_the_mark_itself_are_stored_and_replayed_exactly(service, fake):
    original = fake.answer
    odd = "the bell\x00 is here"

    def answer_with_nul(body):  # type: ignore[no-untyped-def]
        payload = original(body)
        payload["candidates"][0]["content"]["parts"][2]["text"] = odd
        fake.issued[-1]["parts"][2]["text"] = odd
        return payload

    fake.answer = answer_with_nul
    c = service.new_conversation()
    prompt = "a bicycle\x00 pasted"
    looks_marked = NUL_MARK + '"not json'
    first = service.send(c.id, prompt)
    assert first.reply is not None and first.reply.status.value == "ok"
    fake.answer = original
    service.send(c.id, looks_marked)
    service.send(c.id, "add a basket")
    contents = fake.requests[-1]["contents"]
    # Exactly as received and as typed, after a round trip through the database.
    assert json.dumps(contents[1], sort_keys=True) == json.dumps(fake.issued[0], sort_keys=True)
    assert contents[0]["parts"][0]["text"] == prompt
    assert contents[2]["parts"][0]["text"] == looks_marked
    stored = service.conversation(c.id)
    assert stored.exchanges[0].reply.text == odd
    assert "\x00" not in stored.title and stored.title.startswith("a bicycle")
    with service.store.read() as db:
        raw = db.execute(text("SELECT text FROM parts WHERE text LIKE '%the bell%'")).scalar_one()
    assert raw == NUL_MARK + json.dumps(odd)  # escaped in the row, whole when read
