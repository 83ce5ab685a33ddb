"""The store: migrations, SQLite settings, and units of work."""

import datetime as dt
import threading

import pytest
from sqlalchemy import inspect, text

from core.storage.database import head_revision, make_engine, migrate
from core.storage.store import Store
from core.turns.lifecycle import NewTurn, TurnLife
from core.values import GenerationSettings, Part, TurnStatus


@pytest.fixture
def db_url(both_db_url):
    """These tests run on SQLite and on a real PostgreSQL server."""
    return both_db_url


def test_fresh_database_gets_the_whole_schema_and_sqlite_pragmas(db_url):
    store = Store(db_url)
    tables = set(inspect(store.engine).get_table_names())
    assert {"conversations", "turns", "parts", "images", "alembic_version"} <= tables
    indexes = {i["name"] for i in inspect(store.engine).get_indexes("turns")}
    assert {"ix_turns_reply_to_id", "ix_turns_in_flight"} <= indexes
    assert "ix_turns_conversation_id" not in indexes  # the unique (conversation_id, position) serves
    if store.engine.dialect.name != "sqlite":
        return
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_second_start_is_a_no_op_and_keeps_data(db_url):
    first = Store(db_url)
    conversation = first.create_conversation("kept", "m", GenerationSettings())
    second = Store(db_url)
    assert second.conversation(conversation.id).title == "kept"
    with second.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()


def test_upgrade_from_the_first_revision_with_data_in_it(db_url):
    engine = make_engine(db_url)
    migrate(engine, "0001")
    now = dt.datetime(2026, 1, 1)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO conversations (id, title, model, settings, created_at, updated_at) "
                "VALUES ('c1', 'old one', 'gemini-3-pro-image', '{}', :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO images (hash, mime_type, width, height, size_bytes, data, created_at) "
                "VALUES ('h', 'image/png', 1, 1, 3, :d, :t)"
            ),
            {"t": now, "d": b"\x89PN"},
        )
        conn.execute(
            text(
                "INSERT INTO turns (conversation_id, role, position, status, settings, created_at) "
                "VALUES ('c1', 'user', 0, 'ok', '{}', :t)"
            ),
            {"t": now},
        )
        turn_id = conn.execute(text("SELECT max(id) FROM turns")).scalar()
        conn.execute(
            text(
                "INSERT INTO parts (turn_id, position, kind, text, signature, image_hash) "
                "VALUES (:turn, 0, 'text', 'hello', 'sig-1', NULL)"
            ),
            {"turn": turn_id},
        )
    engine.dispose()
    store = Store(db_url)
    conversation = store.conversation("c1")
    assert conversation.title == "old one" and conversation.turns[0].parts[0].signature == "sig-1"
    assert store.images.preview("h") is None  # previews of old images are made lazily


def test_write_units_queue_instead_of_failing_when_locked(db_url):
    store = Store(db_url)
    life = TurnLife(store.db)
    conversation = store.create_conversation("busy", "m", GenerationSettings())
    errors = []

    def add(n):
        try:
            for i in range(10):
                life.add(
                    NewTurn(
                        conversation_id=conversation.id,
                        parts=[Part("text", f"{n}-{i}")],
                        settings=GenerationSettings(),
                        weight=100,
                        status=TurnStatus.FAILED,
                    )
                )
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    turns = store.conversation(conversation.id).turns
    assert sorted(t.position for t in turns) == list(range(80))
    assert all(t.status == TurnStatus.FAILED for t in turns)


def test_conversation_list_is_newest_first_and_limited(db_url):
    store = Store(db_url)
    made = [store.create_conversation(f"c{i}", "m", GenerationSettings()).id for i in range(5)]
    for conversation_id in made[:2]:
        store.rename(conversation_id, "touched")  # activity moves them up
    assert [s.id for s in store.conversations(limit=3)] == [made[1], made[0], made[4]]


def test_upgrade_from_0003_interrupts_old_pending_turns_weighs_turns_and_never_reuses_ids(db_url):
    engine = make_engine(db_url)
    migrate(engine, "0003")
    now = dt.datetime(2026, 1, 1)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO conversations (id, title, model, settings, created_at, updated_at) "
                "VALUES ('c1', 'old', 'gemini-3-pro-image', '{}', :t, :t)"
            ),
            {"t": now},
        )
        for position, status in enumerate(["ok", "pending"]):
            conn.execute(
                text(
                    "INSERT INTO turns (conversation_id, role, position, status, settings, created_at) "
                    "VALUES ('c1', 'user', :p, :s, '{}', :t)"
                ),
                {"t": now, "p": position, "s": status},
            )
        ids = [row[0] for row in conn.execute(text("SELECT id FROM turns ORDER BY id"))]
        conn.execute(
            text("INSERT INTO parts (turn_id, position, kind, text) VALUES (:turn, 0, 'text', :words)"),
            {"turn": ids[0], "words": "C:\\temp \\ backslashes ünï"},
        )
    engine.dispose()
    store = Store(db_url)
    turns = store.conversation("c1").turns
    assert [t.status for t in turns] == [TurnStatus.OK, TurnStatus.INTERRUPTED]
    assert turns[1].error_message and "retry" in turns[1].error_message
    weights = store.turn_weights(set(ids))
    assert weights[ids[0]] == 64 + 96 + len('"C:\\\\temp \\\\ backslashes ünï"'.encode())
    # A deleted newest turn's id is never handed out again (caches keyed by id stay true).
    with store.write() as db:
        db.execute(text("DELETE FROM turns WHERE id = :i"), {"i": ids[-1]})
    life = TurnLife(store.db)
    new = life.add(NewTurn(conversation_id="c1", parts=[Part("text", "new")], settings=GenerationSettings(), weight=1))
    assert new.id > ids[-1]
