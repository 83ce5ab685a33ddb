"""Configuration a user sets, and the promises the committed config keeps."""

import subprocess
import tomllib

from core.config import DEFAULT_BASE_URL, load_settings
from tests.conftest import ROOT


def test_environment_wins_over_secrets_and_defaults_apply():
    settings = load_settings({"COMETAPI_KEY": "env-key"}, {"COMETAPI_KEY": "file-key", "DATABASE_URL": "sqlite:///x"})
    assert settings.api_key.reveal() == "env-key" and settings.database_url == "sqlite:///x"
    assert settings.base_url == DEFAULT_BASE_URL and not settings.offline
    assert load_settings({}, {}).offline
    assert load_settings({"COMETAPI_BASE_URL": "http://proxy.local/"}).base_url == "http://proxy.local"


def test_a_bad_number_is_a_clear_error():
    try:
        load_settings({"STUDIO_MAX_REQUEST_MB": "twenty"})
    except ValueError as error:
        assert "STUDIO_MAX_REQUEST_MB" in str(error)
    else:
        raise AssertionError("accepted a non-number")


def test_the_key_hides_in_reprs():
    settings = load_settings({"COMETAPI_KEY": "sk-very-secret"})
    assert "sk-very-secret" not in repr(settings) and "sk-very-secret" not in f"{settings.api_key}"


def test_committed_streamlit_config_lets_the_studio_refuse_big_files_itself_and_keeps_xsrf_on():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    # Above the studio's own cap (checked in code, with a message): the browser must not drop a
    # big file silently while the words go out without it.
    assert config["server"]["maxUploadSize"] > load_settings({}).max_upload_mb
    assert config["browser"]["gatherUsageStats"] is False


def test_real_secrets_are_never_committed():
    ignored = subprocess.run(["git", "check-ignore", ".streamlit/secrets.toml"], cwd=ROOT, capture_output=True)
    assert ignored.returncode == 0
    assert (ROOT / ".streamlit" / "secrets.toml.example").exists()
