from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_settings  # noqa: E402
from core.service import StudioService  # noqa: E402
from tests.fake_gemini import FakeGemini  # noqa: E402

API_KEY = "test-key-123"


@pytest.fixture(scope="session")
def make_httpserver():
    """The fake route answers concurrent requests at once, as the real one does."""
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


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'studio.db'}"


@pytest.fixture
def settings(httpserver, db_url):
    return load_settings(
        {
            "COMETAPI_KEY": API_KEY,
            "COMETAPI_BASE_URL": httpserver.url_for("/").rstrip("/"),
            "DATABASE_URL": db_url,
            "STUDIO_READ_TIMEOUT_S": "10",
        }
    )


@pytest.fixture
def service(settings, fake) -> StudioService:
    return StudioService.from_settings(settings, backoff_factor=0.01)
