"""Settings a user sets, read from the environment and (in the app) `.streamlit/secrets.toml`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    # STUDIO_DEFAULT_MODEL: the model a new conversation starts on (checked against the catalog).
    default_model: str | None = None
    # People (core/team/people.py): a proxy's header naming the person, domains let in, admins.
    trusted_user_header: str | None = None
    # Optionally a secret the proxy sends on every request, in a header of its own.
    trusted_proxy_secret: Secret | None = None
    trusted_proxy_secret_header: str = "X-Studio-Proxy-Secret"  # noqa: S105 - a header name
    allowed_domains: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    # Uploads are sent no longer than this on their long side (the full size is kept for Download).
    upload_long_side: int = 2048
    # How long a queued or running turn stays held without a heartbeat from its process.
    lease_s: float = 30.0
    # The embedded default migrates at start-up; replicas may migrate as a deploy step instead.
    migrate_on_start: bool = True
    # Deploys (core/turns/runner.py, core/worker.py): whether this process runs turns or only
    # queues them for workers; how long a SIGTERM waits for the calls out; how often an idle
    # process looks for queued turns when nothing notifies it.
    run_turns: bool = True
    drain_s: float = 300.0
    worker_poll_s: float = 1.0
    # A database outage: how long the process that holds a billed answer keeps retrying to store
    # it before it lets the turn go (the answer stays in the spool, on local disk, meanwhile).
    db_outage_s: float = 600.0
    spool_dir: str = str(PROJECT_ROOT / "data" / "spool")
    # STUDIO_STREAM=1: answers come over streamGenerateContent (SSE), so a running turn shows the
    # model's thought summaries and drafts; any failure before the first byte falls back.
    stream: bool = False
    # Turns and images this process sent lately, kept in memory for the next turn (0: off).
    sent_cache_mb: float = 256.0
    # Limits (core/money/limits.py); None means no limit. STUDIO_DEMO=1 sets stricter defaults.
    limit_person_day_usd: float | None = None
    limit_person_month_usd: float | None = None
    limit_team_month_usd: float | None = None
    limit_turns_per_minute: int | None = None
    limit_running: int | None = None
    allowed_sizes: tuple[str, ...] = ()
    allowed_models: tuple[str, ...] = ()
    limits_exempt_admins: bool = False
    # Where the team's days and months begin, for spending limits and the Usage page's periods.
    timezone: str = "UTC"
    # A public demo on the operator's key: examples on the start page, strict limits, and no
    # operator detail (keys, settings) in what visitors see.
    demo: bool = False
    # The operator's chosen example conversations for the demo's start page, by id.
    demo_examples: tuple[str, ...] = ()
    # Demo abuse bounds (core/money/visitor_limits.py): per network address and per visitor.
    # The address is the TCP peer's, or X-Forwarded-For's only when the peer is one of these.
    trusted_proxies: tuple[str, ...] = ()
    limit_address_new_visitors_per_hour: int | None = None
    limit_address_day_usd: float | None = None
    limit_address_turns_per_minute: int | None = None
    limit_visitor_conversations: int | None = None
    limit_visitor_stored_mb: float | None = None
    # Visitors' conversations unused this many days are deleted (images and originals with them).
    demo_retention_days: float = 7.0

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

    demo = _flag(get("STUDIO_DEMO", "0"))
    zone = get("STUDIO_TIMEZONE", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"STUDIO_TIMEZONE must be a time zone such as Europe/Paris, got {zone!r}") from None

    def limit(name: str) -> float | None:
        raw = get(name)
        if raw.lower() in ("off", "none", "no"):
            return None
        if not raw:
            return DEMO_LIMITS.get(name) if demo else None
        return number(name, 0.0)

    turns = limit("STUDIO_LIMIT_TURNS_PER_MINUTE")
    running = limit("STUDIO_LIMIT_RUNNING")
    sizes = get("STUDIO_ALLOWED_SIZES") or (DEMO_SIZES if demo else "")

    def count(name: str) -> int | None:
        found = limit(name)
        return None if found is None else int(found)

    return Settings(
        demo=demo,
        demo_examples=_words(get("STUDIO_DEMO_EXAMPLES")),
        trusted_proxies=_words(get("STUDIO_TRUSTED_PROXIES")),
        limit_address_new_visitors_per_hour=count("STUDIO_LIMIT_ADDRESS_NEW_VISITORS_PER_HOUR"),
        limit_address_day_usd=limit("STUDIO_LIMIT_ADDRESS_DAY_USD"),
        limit_address_turns_per_minute=count("STUDIO_LIMIT_ADDRESS_TURNS_PER_MINUTE"),
        limit_visitor_conversations=count("STUDIO_LIMIT_VISITOR_CONVERSATIONS"),
        limit_visitor_stored_mb=limit("STUDIO_LIMIT_VISITOR_STORED_MB"),
        demo_retention_days=max(0.0, number("STUDIO_DEMO_RETENTION_DAYS", 7.0)),
        limit_person_day_usd=limit("STUDIO_LIMIT_PERSON_DAY_USD"),
        limit_person_month_usd=limit("STUDIO_LIMIT_PERSON_MONTH_USD"),
        limit_team_month_usd=limit("STUDIO_LIMIT_TEAM_MONTH_USD"),
        limit_turns_per_minute=None if turns is None else int(turns),
        limit_running=None if running is None else int(running),
        allowed_sizes=tuple(w.upper() if w.lower().endswith("k") else w for w in _words(sizes)),
        allowed_models=_words(get("STUDIO_ALLOWED_MODELS")),
        limits_exempt_admins=_flag(get("STUDIO_LIMITS_EXEMPT_ADMINS", "0")),
        timezone=zone,
        api_key=Secret(get("COMETAPI_KEY")),
        base_url=get("COMETAPI_BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
        database_url=get("DATABASE_URL", DEFAULT_DATABASE_URL),
        connect_timeout_s=number("STUDIO_CONNECT_TIMEOUT_S", 10.0),
        read_timeout_s=number("STUDIO_READ_TIMEOUT_S", 300.0),
        max_retries=int(number("STUDIO_MAX_RETRIES", 3)),
        max_request_mb=number("STUDIO_MAX_REQUEST_MB", 20.0),
        max_upload_mb=number("STUDIO_MAX_UPLOAD_MB", 20.0),
        models_file=get("STUDIO_MODELS_FILE") or None,
        default_model=get("STUDIO_DEFAULT_MODEL") or None,
        lease_s=max(1.0, number("STUDIO_LEASE_S", 30.0)),
        trusted_user_header=get("STUDIO_TRUSTED_USER_HEADER") or None,
        trusted_proxy_secret=Secret(get("STUDIO_TRUSTED_PROXY_SECRET")) if get("STUDIO_TRUSTED_PROXY_SECRET") else None,
        trusted_proxy_secret_header=get("STUDIO_TRUSTED_PROXY_SECRET_HEADER") or "X-Studio-Proxy-Secret",
        allowed_domains=_words(get("STUDIO_ALLOWED_DOMAINS")),
        admins=_words(get("STUDIO_ADMINS")),
        upload_long_side=int(max(256, number("STUDIO_UPLOAD_LONG_SIDE", 2048))),
        migrate_on_start=_flag(get("STUDIO_MIGRATE_ON_START", "1")),
        run_turns=_flag(get("STUDIO_RUN_TURNS", "1")),
        drain_s=max(0.0, number("STUDIO_DRAIN_S", 300.0)),
        worker_poll_s=max(0.1, number("STUDIO_WORKER_POLL_S", 1.0)),
        db_outage_s=max(0.0, number("STUDIO_DB_OUTAGE_S", 600.0)),
        spool_dir=get("STUDIO_SPOOL_DIR", str(PROJECT_ROOT / "data" / "spool")),
        sent_cache_mb=max(0.0, number("STUDIO_SENT_CACHE_MB", 256.0)),
        stream=_flag(get("STUDIO_STREAM", "0")),
    )


# A public demo's defaults, each overridden by its own setting (or switched off with "off").
DEMO_LIMITS: dict[str, float] = {
    "STUDIO_LIMIT_PERSON_DAY_USD": 1.0,
    "STUDIO_LIMIT_PERSON_MONTH_USD": 5.0,
    "STUDIO_LIMIT_TEAM_MONTH_USD": 100.0,
    "STUDIO_LIMIT_TURNS_PER_MINUTE": 3,
    "STUDIO_LIMIT_RUNNING": 1,
    # One address (an office, a home) holds a few visitors; a script making up keys does not.
    "STUDIO_LIMIT_ADDRESS_NEW_VISITORS_PER_HOUR": 5,
    "STUDIO_LIMIT_ADDRESS_DAY_USD": 3.0,
    "STUDIO_LIMIT_ADDRESS_TURNS_PER_MINUTE": 6,
    "STUDIO_LIMIT_VISITOR_CONVERSATIONS": 20,
    "STUDIO_LIMIT_VISITOR_STORED_MB": 50.0,
}
DEMO_SIZES = "512 1K"


def _flag(raw: str) -> bool:
    return raw.lower() not in ("0", "false", "no", "off", "")


def _words(raw: str) -> tuple[str, ...]:
    """A comma- or space-separated list, lower-cased: `example.com, example.org`."""
    return tuple(w.strip().lower().lstrip("@") for w in raw.replace(",", " ").split() if w.strip())
