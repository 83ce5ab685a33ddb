"""The person at this tab, from Streamlit's sign-in (`st.user`), a trusted proxy header
(`st.context.headers`) or the embedded default; the rules themselves are in core/team/people.py."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.team.addresses import client_address
from core.team.people import OPENING, Mode, Refusal, User, identify, policy_from
from core.workspace import Workspace
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
    arrival = service().visitors.arrive(found.key, address, current.limit_address_new_visitors_per_hour)
    if arrival.refusal is not None:
        return Refusal(message=arrival.refusal)
    st.session_state[ARRIVED] = found.key
    return found


def who() -> User | Refusal:
    """The person at this tab, or why there is nobody; draws nothing but the visitor component."""
    policy = policy_from(settings(), _auth_configured())
    claims = st.user.to_dict() if policy.mode == Mode.OIDC else None
    headers = dict(st.context.headers) if policy.mode == Mode.PROXY else None
    token = _visitor_token() if policy.mode == Mode.LOCAL and policy.demo else None
    found = identify(policy, claims, headers, token)
    if isinstance(found, User) and found.is_visitor:
        found = _arrive(found)
    st.session_state["studio-mode"] = policy.mode.value
    return found


def refuse(found: Refusal) -> None:
    """Say why nobody may come in, and nothing of the studio; ends the run."""
    if st.session_state.get("studio-mode") == Mode.LOCAL.value and found.message == OPENING:
        st.caption(found.message)
        st.stop()
    st.title("Nano Banana Studio")
    st.warning(found.message, icon=":material/lock:")
    if found.can_sign_in:
        if st.user.get("is_logged_in"):
            st.button("Sign out", on_click=st.logout)
        else:
            st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login)
    st.stop()


def current_user() -> User:
    """The signed-in person; anyone else sees a clear refusal and nothing of the studio."""
    found = who()
    if isinstance(found, Refusal):
        refuse(found)
    assert isinstance(found, User)
    return found


def workspace() -> Workspace:
    return service().as_user(current_user())


def who_panel(ws: Workspace) -> None:
    """In the sidebar: who you are, and what that means for this studio."""
    mode = st.session_state.get("studio-mode")
    if mode == Mode.LOCAL.value and ws.settings.demo:
        st.caption(
            ":material/info: A public demo: what you make here is yours, kept in this browser (another "
            "browser is another visitor). Limits keep it fair for everyone."
        )
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
