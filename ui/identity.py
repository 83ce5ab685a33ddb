"""The person at this tab, from Streamlit's sign-in (`st.user`), a trusted proxy header
(`st.context.headers`) or the embedded default; the rules themselves are in core/team/people.py."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.team.addresses import client_address
from core.team.people import OPENING, Mode, Refusal, User, identify, policy_from
from core.workspace import Workspace
from ui import outage
from ui.common import service, settings


def _auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets.toml: no sign-in configured
        return False


_visitor_key = st.components.v2.component(
    "studio.visitor", js=(Path(__file__).parent / "assets" / "visitor.js").read_text()
)
VISITOR = "visitor-token"
_return_to = st.components.v2.component(
    "studio.return_to", js=(Path(__file__).parent / "assets" / "return_to.js").read_text()
)


def _visitor_token() -> str | None:
    """This browser's demo visitor key. The first run of a page session asks the browser for it
    (and waits); later runs know it."""
    known = st.session_state.get(VISITOR)
    if known:
        return str(known)
    result = _visitor_key(key="visitor-key", default={"token": None}, on_token_change=lambda: None)
    token = result.get("token")
    if token:
        st.session_state[VISITOR] = token
    return token


ARRIVED = "visitor-arrived"


def _arrive(found: User) -> User | Refusal:
    """A demo visitor's arrival, once per page session: from which address (the websocket's peer,
    or X-Forwarded-For behind STUDIO_TRUSTED_PROXIES only), and whether that address may bring
    one more new visitor this hour."""
    if st.session_state.get(ARRIVED) == found.key:
        return found
    current = settings()
    address = client_address(st.context.ip_address, dict(st.context.headers), current.trusted_proxies)
    try:
        arrival = service().visitors.arrive(found.key, address, current.limit_address_new_visitors_per_hour)
    except Exception as exc:
        if not outage.saw(exc):
            raise
        # Not marked arrived: the next run, with the database back, counts this arrival. Until
        # then nothing of the studio can be read or made, and the page says why.
        return found
    if arrival.refusal is not None:
        return Refusal(message=arrival.refusal)
    st.session_state[ARRIVED] = found.key
    return found


def who_is_here(*, ask: bool = True) -> User | Refusal:
    """The person at this tab, or why nobody is let in; nothing drawn but, with `ask`, the demo's
    visitor key asked of the browser (with `ask=False` an unknown key is OPENING, drawn nothing)."""
    policy = policy_from(settings(), _auth_configured())
    claims = st.user.to_dict() if policy.mode == Mode.OIDC else None
    # Every occurrence of every header: a repeated identity header is refused, never guessed at.
    headers = {k: st.context.headers.get_all(k) for k in st.context.headers} if policy.mode == Mode.PROXY else None
    found = identify(policy, claims, headers, st.session_state.get(VISITOR))
    if ask and isinstance(found, Refusal) and found.message == OPENING:
        # A demo's visitor: this browser's key is asked for only now (staff never need one).
        found = identify(policy, claims, headers, _visitor_token())
    if isinstance(found, User) and found.is_visitor:
        found = _arrive(found)
    if isinstance(found, User):
        st.session_state["studio-mode"] = policy.mode.value
    return found


def admit(found: User | Refusal) -> User:
    """The person; anyone else sees a clear refusal and nothing of the studio."""
    if isinstance(found, User):
        return found
    if found.message == OPENING:  # the demo, asking for its key
        st.caption(found.message)
        st.stop()
    st.title("Nano Banana Studio")
    st.warning(found.message, icon=":material/lock:")
    if found.can_sign_in:
        if st.user.is_logged_in:
            st.button("Sign out", on_click=st.logout)
        else:
            # Signing in comes back to the site's root: the link being opened is kept in this
            # tab (sessionStorage) and opened again once signed in.
            _return_to(key="return-save", data={"do": "save"})
            st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login)
    st.stop()


def came_back_signed_in() -> None:
    """Once per page session with sign-in configured: back to the link that was being opened
    when the person was asked to sign in (the provider returns everyone to the root)."""
    if st.session_state.get("studio-mode") != Mode.OIDC.value or st.session_state.get("returned"):
        return
    st.session_state["returned"] = True
    _return_to(key="return-go", data={"do": "go"})


def current_user() -> User:
    return admit(who_is_here())


def workspace() -> Workspace:
    return service().as_user(current_user())


def who_panel(ws: Workspace) -> None:
    """In the sidebar: who you are, and what that means for this studio."""
    mode = st.session_state.get("studio-mode")
    if ws.user.is_visitor:
        st.caption(
            ":material/info: A public demo: what you make here is yours, kept in this browser (another "
            "browser is another visitor). Limits keep it fair for everyone."
        )
        if mode == Mode.OIDC.value:
            st.button("Staff: sign in", on_click=st.login, type="tertiary", icon=":material/login:")
        return
    if mode == Mode.LOCAL.value:
        st.caption(
            ":material/info: No sign-in is configured: anyone who can reach this machine's port shares this "
            "studio (it listens on 127.0.0.1 only)."
        )
        return
    label = f"Signed in as {ws.user.name} ({ws.user.email})" + (" · admin" if ws.user.is_admin else "")
    st.caption(label.replace(":", ":\u2060"))
    if mode == Mode.OIDC.value:
        st.button("Sign out", on_click=st.logout, type="tertiary", icon=":material/logout:")
