"""Small holes the review found: the Conversations page's statements per rerun, the models
against the migrated schema on both databases, Another take's bound inside the core, and
attachments a person may not read."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, event
from streamlit.testing.v1 import AppTest

from core.service import StudioService
from core.team.people import LOCAL_EMAIL, User
from tests.conftest import API_KEY, ROOT

APP = ROOT / "app.py"


class Statements:
    """Every SQL statement the page's own thread runs (not the heartbeat, housekeeping or workers)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if not threading.current_thread().name.startswith("studio-"):
            self.seen.append(statement)

    def __enter__(self) -> Statements:
        event.listen(Engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self)


@pytest.fixture
def app_env(monkeypatch, settings, fake):
    monkeypatch.setenv("COMETAPI_KEY", API_KEY)
    monkeypatch.setenv("COMETAPI_BASE_URL", settings.base_url)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    return settings


def test_the_conversations_page_runs_a_few_statements_whatever_the_number_of_rows(app_env, settings, fake):
    svc = StudioService.from_settings(settings)
    me = svc.as_user(User(email=LOCAL_EMAIL, name="you"))
    made = [svc.new_conversation(owner=me.user.key) for _ in range(40)]
    tokens = {c.id: me.create_link(c.id) for c in made[::4]}
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("pages/conversations.py").run()
    assert not at.exception
    with Statements() as counted:
        at.run()
    assert not at.exception
    shown = "\n".join(str(c.value) for c in at.get("code"))
    assert all(f"share={token}" in shown for token in tokens.values())  # each row's link, from the listing
    assert len(counted.seen) <= 15, f"{len(counted.seen)} statements for 40 conversations"
    print(f"{len(counted.seen)} statements per rerun for 40 conversations")


def test_only_the_owner_s_listing_carries_a_share_link(service, fake):
    ann = service.as_user(User(email="ann@example.com", name="Ann"))
    bob = service.as_user(User(email="bob@example.com", name="Bob"))
    shared = ann.new_conversation()
    ann.share(shared.id, True)
    token = ann.create_link(shared.id)
    assert [s.share_token for s in ann.conversations("mine")] == [token]
    assert [(s.id, s.share_token) for s in bob.conversations("team")] == [(shared.id, None)]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_migrated_schema_is_the_models_schema(dialect, tmp_path, request):
    """What `alembic revision --autogenerate` would find between the migrations and
    core/storage/schema.py: nothing (a model without a migrated index would drop it)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.storage.database import make_engine, migrate
    from core.storage.schema import Base

    url = f"sqlite:///{tmp_path / 'schema.db'}" if dialect == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], differences
