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


@pytest.mark.parametrize("takes", [0, 5, 50, -1])
def test_another_take_is_bounded_inside_the_core(service, fake, takes):
    from core.errors import InvalidInput

    ann = service.as_user(User(email="ann@example.com", name="Ann"))
    conversation = ann.new_conversation()
    outcome = service.send(conversation.id, "a teapot")
    assert outcome.ok
    sent = len(fake.requests)
    for verb in (
        lambda: service.turns.regenerate(outcome.reply.id, takes=takes),
        lambda: service.queue_regenerate(outcome.reply.id, takes=takes),
        lambda: ann.versions.takes(outcome.reply.id, takes),
    ):
        with pytest.raises(InvalidInput):
            verb()
    assert len(service.store.conversation(conversation.id).turns) == 2 and len(fake.requests) == sent
    assert len(service.turns.regenerate(outcome.reply.id, takes=4)) == 4


def test_bob_cannot_attach_anns_private_image_by_its_hash(service, fake):
    from core.errors import InvalidInput
    from tests.fake_gemini import image_bytes

    ann = service.as_user(User(email="ann@example.com", name="Ann"))
    bob = service.as_user(User(email="bob@example.com", name="Bob"))
    private = ann.new_conversation()
    photo = ann.upload(image_bytes((40, 30), (90, 10, 200)), "ann-product.png").image
    turn, problem = ann.submit(private.id, "Ann's secret product", [photo.hash])
    assert problem is None
    deadline = __import__("time").monotonic() + 20
    while service.store.turn(turn.id).status.in_flight:
        assert __import__("time").monotonic() < deadline
        __import__("time").sleep(0.05)
    answer = service.store.reply_to(turn.id).result_image.image_hash
    sent = len(fake.requests)
    his = bob.new_conversation()
    for stolen in (photo.hash, answer):
        for way in (bob.submit, bob.type_ahead):  # the chat input's path (typing ahead) too
            kept, refused = way(his.id, "use this", [stolen])
            assert isinstance(refused, InvalidInput) and "not one you can use" in refused.message
            assert kept.text == "use this" and kept.images == []  # his words kept, never her image
        with pytest.raises(InvalidInput):
            bob.queue(his.id, "use this", [stolen])
    assert len(fake.requests) == sent
    # Once Ann shares it with the team, Bob may use what it holds; his own uploads always.
    ann.share(private.id, True)
    mine = bob.upload(image_bytes((30, 30), (1, 200, 1)), "bob.png").image
    turn, problem = bob.submit(his.id, "combine these", [answer, mine.hash])
    assert problem is None and [p.image_hash for p in turn.parts if p.image_hash] == [answer, mine.hash]
