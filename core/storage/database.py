"""The database: an engine set up for a web app with many sessions and processes, units of work,
and Alembic migrations (at start-up for the embedded default, or as a deploy step)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.config import PROJECT_ROOT
from core.storage.writable import check_writable, watch_writes

MIGRATIONS = PROJECT_ROOT / "migrations"
# Any constant will do: it only has to be the same in every process that migrates.
_MIGRATION_LOCK = 7_206_118


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    on_disk = bool(url.database) and url.database != ":memory:" and not str(url.database).startswith("file:")
    if on_disk:
        check_writable(str(url.database))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    if on_disk:
        watch_writes(engine, str(url.database))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # SQLAlchemy, not the driver, decides when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """Short units of work: a DB session is opened for one read or one write and never held
    across a model call. On SQLite a write begins IMMEDIATE, so concurrent writers queue on
    busy_timeout instead of failing on a lock upgrade; on PostgreSQL each write first updates
    the conversation row, which serialises writers of one conversation."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._reader = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(engine.execution_options(sqlite_immediate=True), expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as db:
            yield db

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._writer.begin() as db:
            yield db

    def ping(self, *, writes: bool = False) -> None:
        """The database answers; with `writes`, an SQLite file also takes writes (a file it may
        read but not write answers SELECT 1). Only a page waiting out an outage asks that: the
        check makes a probe file, too much for every heartbeat."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        path = self.engine.url.database
        if writes and self.dialect == "sqlite" and path and path != ":memory:" and not path.startswith("file:"):
            check_writable(path)


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema with its data. Safe when several replicas start at once: on PostgreSQL
    they take turns on an advisory lock, and the second finds nothing left to do."""
    config = _config()
    if engine.dialect.name == "sqlite":
        with _sqlite_migration_lock(engine), engine.connect() as conn:
            # A table rebuild drops the old table; with foreign keys on, that would cascade
            # into its children. The pragma only takes effect outside a transaction.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            try:
                with conn.begin():
                    config.attributes["connection"] = conn
                    command.upgrade(config, revision)
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left {len(broken)} rows with broken references")
            finally:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """Processes starting at once on one SQLite file take turns, as on PostgreSQL's advisory
    lock: a migration's transaction reads before it writes, and SQLite answers the second
    writer's lock upgrade with "database is locked" at once (waiting could deadlock), whatever
    busy_timeout says. The lock is a file beside the database, held with flock (released by
    the kernel if the process dies)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.migrate.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class SchemaOutOfDate(RuntimeError):
    pass


def check_schema(engine: Engine) -> None:
    """For replicas that migrate as a deploy step: refuse to run on a schema that is behind."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"The database schema is at revision {current or 'none'}, this studio needs {head}. "
            "Run `python -m core.migrate` (with the same DATABASE_URL) as the deploy step, then start the studio."
        )
