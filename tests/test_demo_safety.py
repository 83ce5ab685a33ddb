"""A public demo safe to open to strangers: visitors publish nothing and see only their own work;
admins feature examples; service errors reach visitors as our sentences with a reference; limits
hold per network address and per visitor; takes follow the limits; retention deletes unused work."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest
from sqlalchemy import func, select, update

from core.config import load_settings
from core.errors import Forbidden, NotFound
from core.money.limits import LimitReached
from core.service import StudioService
from core.storage.schema import ConversationRow, ImageRow, LedgerRow, VisitorRow
from core.team import retention
from core.team.addresses import client_address
from core.team.people import User, visitor
from core.values import TurnStatus
from tests.conftest import API_KEY
from tests.fake_gemini import google_error

STAFF = User(email="ann@example.com", name="Ann")
ADMIN = User(email="boss@example.com", name="Boss", is_admin=True)


def demo(httpserver, db_url: str, **extra: str) -> StudioService:
    settings = load_settings(
        {
            "COMETAPI_KEY": API_KEY,
            "COMETAPI_BASE_URL": httpserver.url_for("/").rstrip("/"),
            "DATABASE_URL": db_url,
            "STUDIO_DEMO": "1",
            "STUDIO_ADMINS": "boss@example.com",
            **extra,
        }
    )
    return StudioService.from_settings(settings, backoff_factor=0.01)


def a_visitor(svc: StudioService, n: int, address: str = "203.0.113.7") -> User:
    """A visitor made up by a script: a fresh browser key, arriving from `address`."""
    found = visitor(f"{n:064x}")
    assert isinstance(found, User)
    arrival = svc.visitors.arrive(found.key, address, svc.settings.limit_address_new_visitors_per_hour)
    assert arrival.refusal is None, arrival.refusal
    return found


def wait(svc: StudioService, turn_id: int):  # type: ignore[no-untyped-def]
    deadline = time.time() + 20
    while svc.store.turn(turn_id).status.in_flight and time.time() < deadline:
        time.sleep(0.02)
    return svc.store.turn(turn_id)


def test_visitors_publish_nothing_and_see_only_their_own_work(httpserver, fake, db_url):
    svc = demo(httpserver, db_url)
    ann = svc.as_user(STAFF)
    shared = ann.new_conversation()
    svc.send(shared.id, "a staff kite")
    ann.share(shared.id, True)  # staff keep every team feature
    assert ann.create_link(shared.id)
    a, b = svc.as_user(a_visitor(svc, 1)), svc.as_user(a_visitor(svc, 2, "198.51.100.9"))
    mine = a.new_conversation()
    svc.send(mine.id, "a visitor's secret")
    assert not a.publishing and ann.publishing
    with pytest.raises(Forbidden):
        a.share(mine.id, True)
    with pytest.raises(Forbidden):
        a.create_link(mine.id)
    # B sees nothing of A's, nor of the staff's team work: not by id, not in a tab, not in the gallery.
    for ws in (b,):
        with pytest.raises(NotFound):
            ws.conversation(mine.id)
        with pytest.raises(NotFound):
            ws.conversation(shared.id)
        assert ws.conversations("team") == [] and ws.conversations("mine") == []
        assert ws.gallery() == []
    with pytest.raises(NotFound):
        a.conversation(shared.id, token=svc.as_user(STAFF).conversation(shared.id).share_token)
    assert [i.prompt for i in a.gallery()] == ["a visitor's secret"]
    with pytest.raises(Forbidden):
        a.audit_log()
    with pytest.raises(Forbidden):
        a.demo.feature(mine.id)


def test_an_admin_features_a_conversation_and_a_visitor_takes_it_up_exactly(httpserver, fake, db_url):
    svc = demo(httpserver, db_url)
    boss, guest = svc.as_user(ADMIN), svc.as_user(a_visitor(svc, 3))
    assert guest.demo.examples() == [] and len(guest.demo.prompt_ideas()) >= 3  # a real key, nothing featured: words
    made = boss.new_conversation()
    svc.send(made.id, "a lighthouse")
    svc.send(made.id, "at night")
    with pytest.raises(Forbidden):
        svc.as_user(STAFF).demo.feature(made.id)  # admins only
    boss.demo.feature(made.id)
    [example] = guest.demo.examples()
    assert example.prompts == ("a lighthouse", "at night") and guest.demo.prompt_ideas() == ()
    copy = guest.demo.try_example(example)
    turn, error = guest.submit(copy, "add a moon", [])
    assert error is None and wait(svc, turn.id).status == TurnStatus.OK
    # The copy replayed the admin's two answers exactly, signatures and all (the fake checks them).
    assert [c["role"] for c in fake.requests[-1]["contents"]] == ["user", "model", "user", "model", "user"]
    boss.demo.feature(made.id, False)
    assert guest.demo.examples() == []


def test_on_a_real_key_the_offline_drawings_are_never_examples(httpserver, fake, db_url):
    svc = demo(httpserver, db_url)
    assert svc.example_ids() == []  # nothing drawn offline on a studio with a real key
    offline = StudioService.from_settings(load_settings({"DATABASE_URL": db_url, "STUDIO_DEMO": "1"}), workers=1)
    drawn = offline.example_ids()
    assert len(drawn) == 3
    # The operator names one of them as an example on the real-key site: still not shown.
    svc.settings = load_settings(
        {
            "COMETAPI_KEY": API_KEY,
            "COMETAPI_BASE_URL": httpserver.url_for("/").rstrip("/"),
            "DATABASE_URL": db_url,
            "STUDIO_DEMO": "1",
            "STUDIO_DEMO_EXAMPLES": drawn[0],
        }
    )
    guest = svc.as_user(a_visitor(svc, 4))
    assert guest.demo.examples() == [] and guest.demo.prompt_ideas()


@pytest.mark.parametrize("status", [400, 403])
def test_service_errors_reach_a_visitor_as_a_sentence_with_a_reference(httpserver, fake, db_url, caplog, status):
    svc = demo(httpserver, db_url)
    base = httpserver.url_for("/").rstrip("/")
    upstream = (
        f"API key {API_KEY} not valid for project projects/123456789012 at {base}/v1beta/models; "
        "consumer 'project_number:123456789012'"
    )
    fake.then(google_error(status, "INVALID_ARGUMENT" if status == 400 else "PERMISSION_DENIED", upstream))
    guest = svc.as_user(a_visitor(svc, 5))
    c = guest.new_conversation()
    with caplog.at_level(logging.WARNING, logger="studio"):
        turn, _ = guest.submit(c.id, "a kite", [])
        failed = wait(svc, turn.id)
    shown = failed.error_message or ""
    assert failed.status == TurnStatus.FAILED
    for secret in (base, "123456789012", API_KEY, "projects/", "127.0.0.1", "v1beta"):
        assert secret not in shown
    ref = shown.rsplit("Reference ", 1)[1].rstrip(")")
    assert len(ref) == 6 and "image service" in shown
    logged = [r.getMessage() for r in caplog.records if ref in r.getMessage()]
    assert logged and "123456789012" in logged[0] and API_KEY not in logged[0]  # the detail, the key masked


def test_thirty_made_up_visitors_from_one_address_are_stopped_by_its_caps(httpserver, fake, db_url):
    svc = demo(httpserver, db_url, STUDIO_LIMIT_ADDRESS_NEW_VISITORS_PER_HOUR="5")
    let_in = []
    for n in range(30):
        person = visitor(f"{1000 + n:064x}")
        assert isinstance(person, User)
        arrival = svc.visitors.arrive(person.key, "203.0.113.50", 5)
        if arrival.refusal is None:
            let_in.append(person)
        else:
            assert "new visitors have come from your network" in arrival.refusal
    assert len(let_in) == 5
    # A known visitor comes back whatever the count.
    assert svc.visitors.arrive(let_in[0].key, "203.0.113.50", 5).refusal is None
    # The five who got in share the address's turns a minute (6 by default) and spend a day.
    sent, refused = 0, []
    for person in let_in:
        ws = svc.as_user(person)
        for _ in range(2):
            c = ws.new_conversation()
            turn, error = ws.submit(c.id, "a kite", [])
            if error is None:
                sent += 1
                wait(svc, turn.id)
            else:
                refused.append(error.message)
    assert sent == 6
    assert refused and all("visitors from your network may send 6 turns a minute" in m for m in refused)


def test_thirty_addresses_behind_one_trusted_proxy_are_each_counted_apart(httpserver, fake, db_url):
    proxy = "10.0.0.2"
    trusted = ("10.0.0.0/24",)
    svc = demo(httpserver, db_url, STUDIO_LIMIT_ADDRESS_NEW_VISITORS_PER_HOUR="1", STUDIO_TRUSTED_PROXIES="10.0.0.0/24")
    assert svc.settings.trusted_proxies == trusted
    addresses = []
    for n in range(30):
        headers = {"X-Forwarded-For": f"198.51.100.{n + 1}, {proxy}"}
        addresses.append(client_address(proxy, headers, svc.settings.trusted_proxies))
        person = visitor(f"{2000 + n:064x}")
        assert isinstance(person, User)
        assert svc.visitors.arrive(person.key, addresses[-1], 1).refusal is None  # one new visitor each
    assert addresses == [f"198.51.100.{n + 1}" for n in range(30)]
    # Untrusted, the header is ignored: all thirty are the peer itself.
    assert {client_address("203.0.113.9", {"X-Forwarded-For": f"198.51.100.{n}"}, trusted) for n in range(30)} == {
        "203.0.113.9"
    }
    # The client forges hops to the left of the proxy's: the proxy's own record wins.
    assert client_address(proxy, {"X-Forwarded-For": "1.2.3.4, 198.51.100.77"}, trusted) == "198.51.100.77"
    # Without any trusted proxy setting the header means nothing.
    assert client_address(proxy, {"X-Forwarded-For": "198.51.100.1"}, ()) == proxy
    assert client_address(None, None, ()) == "127.0.0.1"


def test_a_visitor_keeps_at_most_n_conversations_and_m_megabytes_copies_counting(httpserver, fake, db_url):
    svc = demo(httpserver, db_url, STUDIO_LIMIT_VISITOR_CONVERSATIONS="3", STUDIO_LIMIT_ADDRESS_TURNS_PER_MINUTE="off")
    guest = svc.as_user(a_visitor(svc, 6))
    first = guest.new_conversation()
    svc.send(first.id, "a kite")
    guest.copy(first.id)
    guest.new_conversation()
    assert "You keep 3 conversations" in (guest.demo.new_conversation_refusal() or "")
    with pytest.raises(LimitReached):
        guest.copy(first.id)
    with pytest.raises(LimitReached):
        guest.new_conversation()
    assert svc.as_user(STAFF).demo.new_conversation_refusal() is None  # staff are not visitors
    # Storage: the copy's image counts again.
    with svc.store.read() as db:
        from core.money.visitor_limits import stored_bytes

        held = stored_bytes(db, guest.user.key)
        one = db.scalar(select(func.max(ImageRow.size_bytes)))
    assert held >= 2 * one
    svc.settings = load_settings(
        {
            "COMETAPI_KEY": API_KEY,
            "COMETAPI_BASE_URL": httpserver.url_for("/").rstrip("/"),
            "DATABASE_URL": db_url,
            "STUDIO_DEMO": "1",
            "STUDIO_LIMIT_VISITOR_STORED_MB": str(held / 1024 / 1024),
            "STUDIO_LIMIT_TURNS_PER_MINUTE": "off",
        }
    )
    turn, error = guest.submit(first.id, "make it red", [])
    assert isinstance(error, LimitReached) and "a visitor may keep" in error.message
    assert turn.text == "make it red"  # kept


def test_takes_are_offered_only_up_to_what_the_limits_allow_and_a_refusal_says_why(httpserver, fake, db_url):
    svc = demo(httpserver, db_url)  # the demo's one running turn
    guest = svc.as_user(a_visitor(svc, 7))
    c = guest.new_conversation()
    assert guest.takes_offered(c) == 1
    _turn, error = guest.submit(c.id, "a kite", [], takes=2)
    assert isinstance(error, LimitReached)
    assert "2 takes at once would go over the 1 turn at once you may have made; 1 can be made now" in error.message
    assert "already have" not in error.message
    roomy = demo(httpserver, db_url, STUDIO_LIMIT_RUNNING="3", STUDIO_LIMIT_ADDRESS_TURNS_PER_MINUTE="off")
    staff = roomy.as_user(STAFF)
    c2 = staff.new_conversation()
    assert staff.takes_offered(c2) == 3


def test_retention_deletes_visitors_unused_work_and_keeps_the_ledger(httpserver, fake, db_url):
    svc = demo(httpserver, db_url)
    old_guest, new_guest = a_visitor(svc, 8), a_visitor(svc, 9, "198.51.100.3")
    old = svc.as_user(old_guest).new_conversation()
    svc.send(old.id, "an old kite")
    fresh = svc.as_user(new_guest).new_conversation()
    svc.send(fresh.id, "a new kite")
    staff = svc.as_user(STAFF).new_conversation()
    svc.send(staff.id, "staff work")
    long_ago = dt.datetime(2020, 1, 1)
    with svc.store.write() as db:
        for cid in (old.id, staff.id):
            db.execute(update(ConversationRow).where(ConversationRow.id == cid).values(updated_at=long_ago))
        db.execute(update(VisitorRow).where(VisitorRow.person == old_guest.key).values(last_seen=long_ago))
        db.execute(update(ImageRow).values(created_at=long_ago))
        rows_before = db.scalar(select(func.count()).select_from(LedgerRow))
        images_before = db.scalar(select(func.count()).select_from(ImageRow))
    assert retention.unused(svc.store.db, 7) == [old.id]
    assert svc.housekeeper.run_once().retained == 1  # the housekeeping chore, every ten minutes
    with svc.store.read() as db:
        remaining = set(db.scalars(select(ConversationRow.id)))
        assert db.scalar(select(func.count()).select_from(LedgerRow)) == rows_before
        assert db.scalar(select(func.count()).select_from(ImageRow)) < images_before
    assert old.id not in remaining and {fresh.id, staff.id} <= remaining


def test_on_a_demo_with_sign_in_whoever_signs_in_is_staff_and_anyone_else_a_visitor():
    from core.team.people import OPENING, Mode, PeoplePolicy, Refusal, identify

    token = "ab" * 32
    proxy = PeoplePolicy(mode=Mode.PROXY, user_header="X-Forwarded-Email", admins=frozenset({"boss@example.com"}))
    proxy_demo = PeoplePolicy(
        mode=Mode.PROXY, user_header="X-Forwarded-Email", admins=frozenset({"boss@example.com"}), demo=True
    )
    staff = identify(proxy_demo, None, {"X-Forwarded-Email": ["boss@example.com"]}, token)
    assert isinstance(staff, User) and staff.is_admin and not staff.is_visitor
    anonymous = identify(proxy_demo, None, {}, token)
    assert isinstance(anonymous, User) and anonymous.is_visitor and not anonymous.is_admin
    waiting = identify(proxy_demo, None, {}, None)
    assert isinstance(waiting, Refusal) and waiting.message == OPENING
    assert isinstance(identify(proxy, None, {}, token), Refusal)  # not a demo: nobody, as before
    oidc_demo = PeoplePolicy(mode=Mode.OIDC, demo=True)
    guest = identify(oidc_demo, {"is_logged_in": False}, None, token)
    assert isinstance(guest, User) and guest.is_visitor
    signed = identify(oidc_demo, {"is_logged_in": True, "email": "ann@example.com"}, None, token)
    assert isinstance(signed, User) and not signed.is_visitor
    assert isinstance(identify(PeoplePolicy(mode=Mode.OIDC), {"is_logged_in": False}, None, token), Refusal)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_burst_from_thirty_visitors_at_one_address_lets_through_exactly_its_cap(
    httpserver, fake, tmp_path, backend, request
):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    url = f"sqlite:///{tmp_path / 'studio.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    svc = demo(
        httpserver,
        url,
        STUDIO_LIMIT_ADDRESS_NEW_VISITORS_PER_HOUR="off",
        STUDIO_LIMIT_ADDRESS_TURNS_PER_MINUTE="4",
        STUDIO_LIMIT_TEAM_MONTH_USD="off",  # the team's lock would serialise everyone anyway
    )
    fake.during_call = lambda _body: time.sleep(0.5)
    people = [a_visitor(svc, 3000 + n, "203.0.113.99") for n in range(30)]
    chats = [svc.as_user(p).new_conversation().id for p in people]
    start = threading.Barrier(len(people))

    def send(i: int) -> bool:
        ws = svc.as_user(people[i])
        start.wait(10)
        _turn, error = ws.submit(chats[i], "a kite", [])
        return error is None

    with ThreadPoolExecutor(max_workers=len(people)) as pool:
        admitted = sum(pool.map(send, range(len(people))))
    assert admitted == 4
    with svc.store.read() as db:
        assert db.scalar(select(func.count()).select_from(LedgerRow)) >= 4


def test_a_demo_shows_no_exception_details_in_the_browser(monkeypatch, tmp_path):
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    monkeypatch.delenv("COMETAPI_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'studio.db'}")
    monkeypatch.setenv("STUDIO_DEMO", "1")
    monkeypatch.setenv("STUDIO_DEMO_EXAMPLES", "none-chosen")
    before = config.get_option("client.showErrorDetails")
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.session_state["visitor-token"] = "e5" * 24
        at.run()
        assert not at.exception
        assert config.get_option("client.showErrorDetails") == "none"
    finally:
        config.set_option("client.showErrorDetails", before)


def test_the_page_refuses_a_new_visitor_past_the_address_cap_and_lets_a_known_one_back(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    monkeypatch.delenv("COMETAPI_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'studio.db'}")
    monkeypatch.setenv("STUDIO_DEMO", "1")
    monkeypatch.setenv("STUDIO_DEMO_EXAMPLES", "none-chosen")
    monkeypatch.setenv("STUDIO_LIMIT_ADDRESS_NEW_VISITORS_PER_HOUR", "1")

    def visit(token: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.session_state["visitor-token"] = token  # what the browser's visitor key reports
        return at.run()

    first = visit("a1" * 24)
    assert not first.exception and first.chat_input  # let in: the studio
    second = visit("b2" * 24)  # a made-up key from the same address (AppTest: this machine)
    assert not second.chat_input
    assert any("Too many new visitors have come from your network" in w.value for w in second.warning)
    again = visit("a1" * 24)  # the first visitor comes back
    assert again.chat_input
