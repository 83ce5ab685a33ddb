from __future__ import annotations

import os
import re
import sys
import uuid
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_settings  # noqa: E402
from core.service import StudioService  # noqa: E402
from tests.fake_gemini import FakeGemini  # noqa: E402
from tests.postgres_server import PostgresMissing, create_database, temporary_postgres  # noqa: E402

API_KEY = "test-key-123"


@pytest.fixture
def make_httpserver():
    """The fake route answers concurrent requests at once, as the real one does. One server per
    test: a late request from an earlier test's worker thread must not reach this test's fake."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def fake(httpserver) -> FakeGemini:
    fake = FakeGemini(api_key=API_KEY)
    httpserver.expect_request(re.compile(r"^/v1beta/.*"), method="POST").respond_with_handler(fake.handle)
    return fake


@pytest.fixture(autouse=True)
def _close_services(monkeypatch):
    """Every service a test builds stops its heartbeat when the test ends (its database goes)."""
    made: list[StudioService] = []
    original = StudioService.from_settings.__func__

    def tracked(cls, *args, **kwargs):
        svc = original(cls, *args, **kwargs)
        made.append(svc)
        return svc

    monkeypatch.setattr(StudioService, "from_settings", classmethod(tracked))
    yield
    for svc in made:
        svc.close()
        svc.store.engine.dispose()


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'studio.db'}"


@pytest.fixture
def settings(httpserver, db_url, tmp_path):
    return load_settings(
        {
            "STUDIO_SPOOL_DIR": str(tmp_path / "spool"),
            "COMETAPI_KEY": API_KEY,
            "COMETAPI_BASE_URL": httpserver.url_for("/").rstrip("/"),
            "DATABASE_URL": db_url,
            "STUDIO_READ_TIMEOUT_S": "10",
        }
    )


@pytest.fixture
def service(settings, fake):
    svc = StudioService.from_settings(settings, backoff_factor=0.01)
    yield svc
    svc.close()
    svc.store.engine.dispose()


# PostgreSQL ------------------------------------------------------------------------------
# A real server from Debian's `postgresql` package, started once per test session in a
# temporary directory (as the `postgres` user when the tests run as root: the server refuses
# root), and a fresh database for each test.


@pytest.fixture(scope="session")
def postgres_server():
    try:
        with temporary_postgres() as url:
            yield url
    except PostgresMissing:
        if os.environ.get("STUDIO_REQUIRE_POSTGRES"):
            raise RuntimeError("PostgreSQL is not installed; .ci/run installs Debian's postgresql") from None
        pytest.skip("PostgreSQL is not installed")


@pytest.fixture
def postgres_url(postgres_server):
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    yield create_database(postgres_server, name)
    admin = postgres_server.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def both_db_url(request, tmp_path):
    """For the store, service, durability, concurrency and migration tests: each runs twice."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studio.db'}"
    return request.getfixturevalue("postgres_url")


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """With `-n 2` (pytest-xdist, `--dist loadgroup`), the browser tests run one after another on
    one worker: each starts real `streamlit run` servers and Chromium, and two at once on two
    cores would measure the machine rather than the studio. The rest spread over both workers."""
    for item in items:
        if Path(str(item.fspath)).name.startswith("test_browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))
