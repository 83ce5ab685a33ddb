"""Copies keep their authors: after Bob's Make a copy of Ann's conversation, Ann's turns stay
Ann's, and the Gallery shows each result once per conversation the person may see, credited to
who made it, newest first by the time it was made. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import zipfile

import pytest
from sqlalchemy import text

from core.storage.database import make_engine, migrate
from core.storage.store import Store
from core.team.people import User

ANN = User(email="ann@example.com", name="Ann")
BOB = User(email="bob@example.com", name="Bob")


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def wait_until(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_copy_keeps_who_made_each_turn_and_the_gallery_credits_them_once_each(service, fake):
    ann, bob = service.as_user(ANN), service.as_user(BOB)
    original = ann.new_conversation()
    first = service.send(original.id, "a paper boat")
    second = service.send(original.id, "on a puddle")
    ann.share(original.id, True)
    copy_id = bob.copy(original.id)
    copied = bob.conversation(copy_id)
    assert copied.owner == BOB.key
    assert {t.author for t in copied.turns} == {ANN.key}  # Ann's turns stay Ann's
    mine = bob.queue(copy_id, "with a sail")
    wait_until(lambda: not service.conversation(copy_id).in_flight)
    made = {t.id: t.author for t in service.conversation(copy_id).turns}
    assert made[mine.id] == BOB.key and made[service.store.reply_to(mine.id).id] == BOB.key
    assert {t.author for t in ann.conversation(original.id).turns} == {ANN.key}  # the original untouched

    items = bob.gallery()
    # Each result once per conversation Bob may see: Ann's two in hers and in his copy, his own.
    keys = [(i.conversation_id, i.reply_id) for i in items]
    assert len(keys) == len(set(keys)) == 5
    assert [i.owner for i in items if i.conversation_id == copy_id] == [BOB.key, ANN.key, ANN.key]
    assert [i.owner for i in items if i.conversation_id == original.id] == [ANN.key, ANN.key]
    # Newest first by the time each was made (the copy keeps Ann's times).
    times = [i.created_at for i in items]
    assert times == sorted(times, reverse=True)
    assert items[0].prompt == "with a sail"
    made_at = {i.prompt: i.created_at for i in items}
    assert made_at["a paper boat"] == first.reply.created_at and made_at["on a puddle"] == second.reply.created_at
    # The person filter finds who made it, wherever it is now.
    assert {i.prompt for i in bob.gallery(person=ANN.key)} == {"a paper boat", "on a puddle"}
    assert [i.prompt for i in bob.gallery(person=BOB.key)] == ["with a sail"]
    # Bob's export of his copy credits each version to who made it, not to the copy's owner.
    with zipfile.ZipFile(io.BytesIO(bob.versions.export(copy_id))) as archive:
        log = json.loads(archive.read("prompts.json"))
        told = archive.read("prompts.md").decode()
    assert [(v["prompt"], v["person"]) for v in log["versions"]] == [
        ("a paper boat", ANN.key),
        ("on a puddle", ANN.key),
        ("with a sail", BOB.key),
    ]
    assert f"by {ANN.key}" in told.split("## Version 1")[1].split("## Version 2")[0]


def test_the_migration_credits_existing_turns_to_their_conversations_owner(db_url):
    engine = make_engine(db_url)
    migrate(engine, "review_0010")
    now = dt.datetime(2026, 11, 1)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO conversations (id, title, model, settings, created_at, updated_at, owner, visibility) "
                "VALUES ('c1', 'Ann''s', 'gemini-3-pro-image', '{}', :t, :t, 'ann@example.com', 'team')"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO turns (conversation_id, role, position, status, settings, created_at) "
                "VALUES ('c1', 'user', 0, 'ok', '{}', :t)"
            ),
            {"t": now},
        )
    engine.dispose()
    store = Store(db_url)  # migrates to head
    assert [t.author for t in store.conversation("c1").turns] == ["ann@example.com"]
    migrate(store.engine, "head")  # a second run changes nothing
    assert [t.author for t in store.conversation("c1").turns] == ["ann@example.com"]
