"""Settings a user sets, read from the environment and (in the app) `.streamlit/secrets.toml`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE_URL = "https://api.cometapi.com"
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'data' / 'studio.db'}"


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True)
class Settings:
    api_key: Secret
    base_url: str = DEFAULT_BASE_URL
    database_url: str = DEFAULT_DATABASE_URL
    connect_timeout_s: float = 10.0
    # 4K images can take minutes on the real service.
    read_timeout_s: float = 300.0
    max_retries: int = 3
    max_request_mb: float = 20.0
    max_upload_mb: float = 20.0
    models_file: str | None = None
    # People (core/people.py): a proxy's header naming the person, domains let in, admins.
    trusted_user_header: str | None = None
    allowed_domains: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    # Uploads are sent no longer than this on their long side (the full size is kept for Download).
    upload_long_side: int = 2048
    # How long a queued or running turn stays held without a heartbeat from its process.
    lease_s: float = 30.0
    # The embedded default migrates at start-up; replicas may migrate as a deploy step instead.
    migrate_on_start: bool = True

    @property
    def offline(self) -> bool:
        return not self.api_key

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * 1024 * 1024)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def load_settings(environ: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None) -> Settings:
    """Environment first, then secrets.toml, then defaults."""
    env = os.environ if environ is None else environ
    sec = secrets or {}

    def get(name: str, default: str = "") -> str:
        value = env.get(name)
        if value in (None, ""):
            value = sec.get(name)
        return default if value in (None, "") else str(value).strip()

    def number(name: str, default: float) -> float:
        raw = get(name)
        try:
            return float(raw) if raw else default
        except ValueError:
            raise ValueError(f"{name} must be a number, got {raw!r}") from None

    return Settings(
        api_key=Secret(get("COMETAPI_KEY")),
        base_url=get("COMETAPI_BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
        database_url=get("DATABASE_URL", DEFAULT_DATABASE_URL),
        connect_timeout_s=number("STUDIO_CONNECT_TIMEOUT_S", 10.0),
        read_timeout_s=number("STUDIO_READ_TIMEOUT_S", 300.0),
        max_retries=int(number("STUDIO_MAX_RETRIES", 3)),
        max_request_mb=number("STUDIO_MAX_REQUEST_MB", 20.0),
        max_upload_mb=number("STUDIO_MAX_UPLOAD_MB", 20.0),
        models_file=get("STUDIO_MODELS_FILE") or None,
        lease_s=max(1.0, number("STUDIO_LEASE_S", 30.0)),
        trusted_user_header=get("STUDIO_TRUSTED_USER_HEADER") or None,
        allowed_domains=_words(get("STUDIO_ALLOWED_DOMAINS")),
        admins=_words(get("STUDIO_ADMINS")),
        upload_long_side=int(max(256, number("STUDIO_UPLOAD_LONG_SIDE", 2048))),
        migrate_on_start=get("STUDIO_MIGRATE_ON_START", "1").lower() not in ("0", "false", "no", "off"),
    )


def _words(raw: str) -> tuple[str, ...]:
    """A comma- or space-separated list, lower-cased: `example.com, example.org`."""
    return tuple(w.strip().lower().lstrip("@") for w in raw.replace(",", " ").split() if w.strip())
