"""The store: migrations, SQLite settings, and units of work."""

import datetime as dt
import threading

from sqlalchemy import inspect, text

from core.database import make_engine, migrate
from core.store import Store
from core.values import GenerationSettings, Part, TurnStatus


def test_fresh_database_gets_the_whole_schema_and_sqlite_pragmas(db_url):
    store = Store(db_url)
    tables = set(inspect(store.engine).get_table_names())
    assert {"conversations", "turns", "parts", "images", "alembic_version"} <= tables
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
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0003"


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
                "VALUES ('h', 'image/png', 1, 1, 3, X'89504E', :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO turns (id, conversation_id, role, position, status, settings, created_at) "
                "VALUES (1, 'c1', 'user', 0, 'ok', '{}', :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO parts (turn_id, position, kind, text, signature, image_hash) "
                "VALUES (1, 0, 'text', 'hello', 'sig-1', NULL)"
            )
        )
    engine.dispose()
    store = Store(db_url)
    conversation = store.conversation("c1")
    assert conversation.title == "old one" and conversation.turns[0].parts[0].signature == "sig-1"
    assert store.image_preview("h") is None  # previews of old images are made lazily
    assert store.drafts("c1") == []


def test_write_units_queue_instead_of_failing_when_locked(db_url):
    store = Store(db_url)
    conversation = store.create_conversation("busy", "m", GenerationSettings())
    errors = []

    def add(n):
        try:
            for i in range(10):
                store.add_user_turn(conversation.id, [Part("text", f"{n}-{i}")], GenerationSettings())
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
    assert all(t.status == TurnStatus.PENDING for t in turns)


def test_conversation_list_is_newest_first_and_limited(db_url):
    store = Store(db_url)
    made = [store.create_conversation(f"c{i}", "m", GenerationSettings()).id for i in range(5)]
    for conversation_id in made[:2]:
        store.rename(conversation_id, "touched")  # activity moves them up
    assert [s.id for s in store.conversations(limit=3)] == [made[1], made[0], made[4]]
