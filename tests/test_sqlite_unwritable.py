"""An SQLite file the studio cannot write (issue 22, item 7): a plain sentence naming the file,
nothing half-written, the words kept for the box, the next send working once write access returns
(same service object, no restart), a start-up check, and a turn that never went not called stopped.

How the file is made unwritable: as a normal user, chmod; as root (these tests' usual case, where
permission bits do not bind), `chattr +i` (immutable), which root cannot write through either. In
both cases SQLite opens the file read-only without a word on the next new connection, and writes on
it fail with "attempt to write a readonly database": the real failure. Connections the pool already
holds keep their writable descriptor, so the test drops them (engine.dispose) as a process does
whenever its pool grows or reconnects."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, func, select, update
from sqlalchemy.engine import Engine, make_url

from core.service import StudioService
from core.storage.outage import UNREACHABLE_MESSAGE, DatabaseUnreachable, message_of, patiently, unreachable
from core.storage.schema import LedgerRow, TurnRow
from core.storage.store import Store
from core.storage.writable import DatabaseNotWritable, not_writable_message
from core.team.people import User
from core.turns.flight import INTERRUPTED_MESSAGE, NOT_SENT_MESSAGE
from core.values import TurnStatus
from tests.test_access import wait_until
from tests.test_pages import app_env, settle, studio  # noqa: F401

ANN = User(email="ann@example.com", name="Ann")
ROOT_USER = os.geteuid() == 0


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    if ROOT_USER:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: no way to make a file unwritable")
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"chattr +i refused here: {made.stderr.decode().strip()}")
    else:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        if ROOT_USER:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(mode)


def counts(service) -> tuple[int, int]:
    with service.store.db.read() as db:
        turns = db.scalar(select(func.count()).select_from(TurnRow))
        ledger = db.scalar(select(func.count()).select_from(LedgerRow))
    return int(turns or 0), int(ledger or 0)


def test_a_send_to_a_file_that_refuses_writes_says_so_plainly_and_the_next_works_once_it_is_writable(
    service, fake, tmp_path
):
    ann = service.as_user(ANN)
    conversation = ann.new_conversation()
    first, error = ann.submit(conversation.id, "a red bicycle", [])
    assert error is None
    wait_until(lambda: service.store.turn(first.id).status == TurnStatus.OK)
    before = counts(service)
    calls = len(fake.requests)
    database = tmp_path / "studio.db"

    with unwritable(database):
        service.store.engine.dispose()  # new connections from here on, as a growing pool makes
        seen = ann.conversation(conversation.id).seen  # reading still works
        with pytest.raises(DatabaseNotWritable) as refused:
            ann.type_ahead(conversation.id, "make it blue", [], seen=seen)
        message = refused.value.message
        assert str(database) in message and "permissions" in message and "disk space" in message
        assert "sqlite" not in message.lower() and "readonly" not in message
        # The page keeps the words in the box for any error that means the database is unreachable
        # (ui/outage.saw), and waits for it to come back.
        assert unreachable(refused.value)
        # Nothing half-written: no turn, no ledger row, no call to the service.
        assert counts(service) == before and len(fake.requests) == calls
        with pytest.raises(DatabaseNotWritable):  # and again, while it lasts
            ann.submit(conversation.id, "make it blue", [])
        assert counts(service) == before

    # Write access is back: the same service object sends, without a restart.
    made, error = ann.type_ahead(conversation.id, "make it blue", [], seen=ann.conversation(conversation.id).seen)
    assert error is None
    wait_until(lambda: service.store.turn(made.id).status == TurnStatus.OK)
    user_words = [t.parts[0].text for t in ann.conversation(conversation.id).turns if t.role == "user"]
    assert user_words == ["a red bicycle", "make it blue"]
    assert len(fake.requests) == calls + 1


def test_an_answer_that_arrives_while_the_file_refuses_writes_lands_when_it_is_writable(service, fake, tmp_path):
    """A turn out when the file stops taking writes: its holder keeps the answer and retries
    (as in a database outage), and it lands once write access returns. A guard of how this item and
    the outage retry (item 6) meet: it passes on the code before this item too, where the retry
    came through anyway; the other tests here are the ones that failed before."""
    ann = service.as_user(ANN)
    conversation = ann.new_conversation()
    database = tmp_path / "studio.db"
    release = threading.Event()
    fake.during_call = lambda _body: release.wait(30)
    turn, error = ann.submit(conversation.id, "a kite", [])
    assert error is None
    wait_until(lambda: len(fake.requests) == 1)
    with unwritable(database):
        service.store.engine.dispose()
        release.set()
        wait_until(lambda: service.turns.health.down, timeout=20)
        assert service.store.turn(turn.id).status == TurnStatus.RUNNING
    wait_until(lambda: service.store.turn(turn.id).status == TurnStatus.OK, timeout=30)


def test_at_start_up_a_file_or_folder_that_refuses_writes_is_named_plainly(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    with unwritable(folder), pytest.raises(DatabaseNotWritable) as refused:
        Store(f"sqlite:///{folder / 'studio.db'}")
    assert str(folder / "studio.db") in refused.value.message and "permissions" in refused.value.message

    database = tmp_path / "studio.db"
    Store(f"sqlite:///{database}").engine.dispose()  # made and migrated
    with unwritable(database), pytest.raises(DatabaseNotWritable) as refused:
        Store(f"sqlite:///{database}")
    assert str(database) in refused.value.message
    Store(f"sqlite:///{database}").engine.dispose()  # and fine again afterwards


@pytest.fixture(params=["sqlite", "postgresql"])
def any_service(request, settings, fake):
    if request.param == "postgresql":
        settings = dataclasses.replace(settings, database_url=request.getfixturevalue("postgres_url"))
    svc = StudioService.from_settings(settings, backoff_factor=0.01)
    yield svc
    svc.close()
    svc.store.engine.dispose()


def test_a_turn_that_never_went_is_not_shown_as_stopped_while_being_made(any_service):
    """A lapsed turn still queued was never claimed, so never sent: it says so, on the page before
    the sweep and in the row after it; a lapsed running turn keeps the "stopped" sentence."""
    service = any_service
    ann = service.as_user(ANN)
    conversation = ann.new_conversation()
    queued = service.turns.start_takes(conversation.id, "never sent", [], seen=False, takes=1)[0]
    running = service.turns.start_takes(service.new_conversation().id, "was out", [], seen=False, takes=1)[0]
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=5)
    with service.store.db.write() as db:
        db.execute(update(TurnRow).where(TurnRow.id == queued.id).values(lease_until=past))
        db.execute(
            update(TurnRow).where(TurnRow.id == running.id).values(status=TurnStatus.RUNNING.value, lease_until=past)
        )
    shown = {t.id: t for t in ann.conversation(conversation.id).turns}[queued.id]
    assert shown.status == TurnStatus.INTERRUPTED and shown.error_message == NOT_SENT_MESSAGE
    assert service.life.sweep() == 2
    assert service.store.turn(queued.id).error_message == NOT_SENT_MESSAGE
    assert service.store.turn(running.id).error_message == INTERRUPTED_MESSAGE


def test_a_full_disk_is_said_plainly_and_the_next_send_works_once_there_is_room(service, fake, tmp_path):
    """SQLite's own "database or disk is full" (SQLITE_FULL), made real without filling a disk: a
    connection whose max_page_count is the file's size cannot grow it."""
    ann = service.as_user(ANN)
    conversation = ann.new_conversation()
    first, _ = ann.submit(conversation.id, "a red bicycle", [])
    wait_until(lambda: service.store.turn(first.id).status == TurnStatus.OK)
    before = counts(service)
    engine = service.store.engine

    def full(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    # Fill the free pages first, so the next insert must grow the file.
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS ballast (x BLOB)")
        conn.exec_driver_sql("INSERT INTO ballast VALUES (zeroblob(200000))")
        conn.exec_driver_sql("DELETE FROM ballast")
    event.listen(engine, "connect", full)
    engine.dispose()
    try:
        with pytest.raises(DatabaseNotWritable) as refused:
            ann.submit(conversation.id, "make it blue " + "x" * 300_000, [])
        assert "disk space" in refused.value.message and "sqlite" not in refused.value.message.lower()
        assert "database or disk is full" in str(refused.value.__cause__)  # the real failure, for the log
        assert counts(service) == before
    finally:
        event.remove(engine, "connect", full)
    made, error = ann.submit(conversation.id, "make it blue", [])
    assert error is None
    wait_until(lambda: service.store.turn(made.id).status == TurnStatus.OK)


def test_the_sentence_shown_is_the_one_naming_the_file_even_behind_a_retry_window(tmp_path):
    path = str(tmp_path / "studio.db")

    def refused() -> None:
        raise DatabaseNotWritable(path)

    with pytest.raises(DatabaseUnreachable) as gave_up:
        patiently(refused, window_s=0.0, sleep=lambda _s: None)
    assert message_of(gave_up.value) == not_writable_message(path)  # the window wraps it
    assert message_of(DatabaseUnreachable()) == UNREACHABLE_MESSAGE
    assert message_of(OSError("anything else")) == UNREACHABLE_MESSAGE


def test_the_page_says_which_file_refuses_writes_not_that_the_database_is_away(app_env, settings):  # noqa: F811
    svc = StudioService.from_settings(settings)
    svc.new_conversation()
    svc.close()
    svc.store.engine.dispose()
    database = Path(make_url(settings.database_url).database or "")
    with unwritable(database):
        at = studio()
        said = [w.value for w in at.warning]
        assert not at.exception
        assert not_writable_message(str(database)) in said, said  # before: "cannot reach its database"
        assert not [w for w in said if "cannot reach" in w or "readonly" in w]


def test_a_send_on_the_page_while_the_file_refuses_writes_keeps_the_words_and_the_next_send_works(
    app_env,  # noqa: F811
    settings,
    fake,
):
    """The running case on the page: the file turns read-only under an open studio (reads still
    work, so the page is drawn as usual after the failed send, with the words back in the box)."""
    at = studio()
    database = Path(make_url(settings.database_url).database or "")
    with unwritable(database):
        for engine in [o for o in gc.get_objects() if isinstance(o, Engine)]:
            engine.dispose()  # new connections from here on, as a growing pool makes
        at.chat_input[0].set_value("a kite over the dunes").run()
        assert not at.exception
        said = [t.value.replace("\\", "") for t in at.toast if "not sent" in t.value]
        # What is wrong, and where (the toast's text is escaped Markdown).
        assert said and "cannot write its database file" in said[0] and "studio.db" in said[0], said
        assert at.chat_input[0].value == "a kite over the dunes"
        assert not [m.value for m in at.markdown if "readonly" in m.value or "sqlite" in m.value.lower()]
    with create_engine(settings.database_url).connect() as conn:
        assert conn.scalar(select(func.count()).select_from(TurnRow)) == 0  # nothing half-written
    assert not fake.requests
    settle(at.chat_input[0].set_value("a kite over the dunes").run())  # same process, no restart
    assert not at.exception
    assert len(fake.requests) == 1 and "a kite over the dunes" in str(fake.requests[0])
