"""Who is who: one `User` value, whichever way the person arrived.

Three modes, chosen by configuration, decided here so every entry (pages, a CLI, an API) agrees:
- sign-in with the company's identity provider (OIDC, `[auth]` in secrets.toml): the claims of
  the signed-in person; `STUDIO_ALLOWED_DOMAINS` limits who gets in;
- behind an authenticating proxy (`STUDIO_TRUSTED_USER_HEADER`, e.g. X-Forwarded-Email): the
  person named by that request header, trusted only because the proxy is the sole way in;
- embedded (neither): one local person, "you", on a studio that listens on localhost only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

LOCAL_EMAIL = "you@localhost"
VISITOR_DOMAIN = "visitor.demo"
# What a demo shows while the browser has not yet said which visitor it is.
OPENING = "Opening the demo…"


class Mode(StrEnum):
    OIDC = "oidc"
    PROXY = "proxy"
    LOCAL = "local"


@dataclass(frozen=True, kw_only=True)
class User:
    email: str
    name: str
    is_admin: bool = False
    picture: str | None = None

    @property
    def key(self) -> str:
        """What the store records as owner and actor: the lower-cased email."""
        return self.email.lower()

    @property
    def is_visitor(self) -> bool:
        """A public demo's visitor without sign-in: sees and keeps their own work only."""
        return self.key.endswith("@" + VISITOR_DOMAIN)


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """Nobody may come in (not signed in, or not from an allowed domain): show this, nothing else."""

    message: str
    can_sign_in: bool = False


@dataclass(frozen=True, kw_only=True)
class PeoplePolicy:
    mode: Mode
    allowed_domains: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()
    user_header: str | None = None
    name_header: str = "X-Forwarded-User"
    # Optionally, a secret only the proxy knows, in a header of its own, on every request.
    proxy_secret: str | None = field(default=None, repr=False)
    proxy_secret_header: str = "X-Studio-Proxy-Secret"  # noqa: S105 - a header name
    # A public demo: without sign-in, each browser is a visitor of its own, never the operator.
    demo: bool = False


def policy_from(settings: Any, auth_configured: bool) -> PeoplePolicy:
    header = getattr(settings, "trusted_user_header", None)
    mode = Mode.PROXY if header else (Mode.OIDC if auth_configured else Mode.LOCAL)
    return PeoplePolicy(
        mode=mode,
        allowed_domains=frozenset(getattr(settings, "allowed_domains", ()) or ()),
        admins=frozenset(a.lower() for a in (getattr(settings, "admins", ()) or ())),
        user_header=header,
        proxy_secret=_revealed(getattr(settings, "trusted_proxy_secret", None)),
        proxy_secret_header=getattr(settings, "trusted_proxy_secret_header", None) or "X-Studio-Proxy-Secret",
        demo=bool(getattr(settings, "demo", False)),
    )


def _revealed(secret: Any) -> str | None:
    value = secret.reveal() if hasattr(secret, "reveal") else secret
    return str(value) if value else None


# One address, nothing around it: one @, no spaces, commas, semicolons, angle brackets, quotes,
# brackets or control characters (no display name, no list, no group).
_ATOM = r"[^\s@,;<>\"()\[\]\\:\x00-\x1f\x7f]+"
_ADDRESS = re.compile(f"{_ATOM}@{_ATOM}")

Headers = Mapping[str, "str | Sequence[str]"]


def _values(headers: Headers | None, name: str) -> list[str]:
    """Every occurrence of a header (a request may repeat one), whatever its case."""
    found: list[str] = []
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            found.extend([value] if isinstance(value, str) else list(value))
    return found


def proxy_address(headers: Headers | None, name: str) -> str | None:
    """The one address the proxy named, or None. A header that occurs more than once (a proxy
    that adds its header beside the client's), or whose value is not exactly one address (a
    comma-joined list), names nobody: taking the first or the last would let a client choose."""
    values = _values(headers, name)
    if len(values) != 1:
        return None
    value = values[0].strip()
    return value if _ADDRESS.fullmatch(value) else None


def _allowed(policy: PeoplePolicy, email: str) -> bool:
    if not policy.allowed_domains:
        return True
    return email.rsplit("@", 1)[-1].lower() in policy.allowed_domains


def visitor(token: str) -> User | Refusal:
    """A demo visitor without sign-in: one person per browser, known by a random token the
    browser keeps. Only a digest of it is ever stored, so the DB cannot be used to become one."""
    token = token.strip()
    if len(token) < 32 or not all(c in "0123456789abcdef" for c in token):
        return Refusal(message="This browser's visitor key is not one the demo made; reload the page.")
    digest = hashlib.sha256(token.encode()).hexdigest()[:20]
    return User(email=f"{digest}@{VISITOR_DOMAIN}", name=f"Visitor {digest[:4]}", is_admin=False)


def _visitor_or_wait(token: str | None) -> User | Refusal:
    return Refusal(message=OPENING) if token is None else visitor(token)


def identify(
    policy: PeoplePolicy,
    claims: Mapping[str, Any] | None,
    headers: Headers | None,
    visitor_token: str | None = None,
) -> User | Refusal:
    """The person behind this request, or why there is nobody. On a public demo whoever is not
    signed in (no sign-in configured, or not signed in) is a visitor, told apart by their
    browser's token, so nobody sees another visitor's work; people who sign in are staff."""
    if policy.mode == Mode.LOCAL and policy.demo:
        return _visitor_or_wait(visitor_token)
    if policy.mode == Mode.LOCAL:
        return User(email=LOCAL_EMAIL, name="you", is_admin=True)
    if policy.mode == Mode.PROXY:
        nobody = Refusal(message="This studio is reached through the company's sign-in; nobody is signed in.")
        if policy.proxy_secret is not None:
            sent = _values(headers, policy.proxy_secret_header)
            if len(sent) != 1 or not hmac.compare_digest(sent[0].encode(), policy.proxy_secret.encode()):
                # On a public demo someone the proxy did not sign in is a visitor, never staff.
                return _visitor_or_wait(visitor_token) if policy.demo else nobody
        email = proxy_address(headers, policy.user_header or "")
        if email is None:
            return _visitor_or_wait(visitor_token) if policy.demo else nobody
        if not _allowed(policy, email):
            return Refusal(message=f"{email} may not use this studio. Ask an admin to let your domain in.")
        names = _values(headers, policy.name_header)
        name = names[0].strip() if len(names) == 1 and names[0].strip() else email.split("@")[0]
        return User(email=email, name=name, is_admin=email.lower() in policy.admins)
    claims = claims or {}
    if not claims.get("is_logged_in"):
        # A public demo with sign-in: whoever has not signed in is a visitor; staff sign in.
        if policy.demo:
            return _visitor_or_wait(visitor_token)
        return Refusal(message="Sign in to use the studio.", can_sign_in=True)
    email = str(claims.get("email") or "").strip()
    if "@" not in email or claims.get("email_verified") is False:
        return Refusal(message="Your sign-in did not give a verified email address.", can_sign_in=True)
    if not _allowed(policy, email):
        return Refusal(message=f"{email} may not use this studio. Ask an admin to let your domain in.")
    return User(
        email=email,
        name=str(claims.get("name") or email.split("@")[0]),
        is_admin=email.lower() in policy.admins,
        picture=claims.get("picture") if isinstance(claims.get("picture"), str) else None,
    )
