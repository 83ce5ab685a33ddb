"""Limits: each refuses at its boundary with nothing sent and the words kept, saying which limit,
what is left and when it resets; they hold under a burst, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.config import load_settings
from core.money.ledger import with_margin
from core.money.limits import ESTIMATE_MARGIN_PCT, LimitReached
from core.service import StudioService
from core.team.people import User
from core.values import TurnStatus
from tests.conftest import API_KEY

ANN = User(email="ann@example.com", name="Ann")
BOB = User(email="bob@example.com", name="Bob")


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def studio(httpserver, db_url, **limits: str) -> StudioService:
    settings = load_settings(
        {
            "COMETAPI_KEY": API_KEY,
            "COMETAPI_BASE_URL": httpserver.url_for("/").rstrip("/"),
            "DATABASE_URL": db_url,
            "STUDIO_ADMINS": "boss@example.com",
            **limits,
        }
    )
    return StudioService.from_settings(settings, backoff_factor=0.01)


def run(svc: StudioService, user: User, text: str = "a kite", conversation_id: str | None = None):  # type: ignore[no-untyped-def]
    """Queue a turn as this person and wait for it to finish."""
    ws = svc.as_user(user)
    turn = ws.queue(conversation_id or ws.new_conversation().id, text)
    deadline = time.time() + 20
    while svc.store.turn(turn.id).status.in_flight and time.time() < deadline:
        time.sleep(0.02)
    return svc.store.turn(turn.id)


def first_estimate(svc: StudioService) -> int:
    conversation = svc.as_user(ANN).new_conversation()
    return svc.costs.estimate(conversation, "a kite", 0).micro


def refused(svc: StudioService, user: User, text: str = "a kite") -> tuple[LimitReached, str]:
    ws = svc.as_user(user)
    conversation = ws.new_conversation()
    turn, error = ws.submit(conversation.id, text, [])
    assert isinstance(error, LimitReached), error
    # Nothing sent; the words are kept as a failed turn that says why.
    assert turn.status == TurnStatus.FAILED and turn.error_kind == "limit" and turn.text == text
    return error, conversation.id


def test_a_daily_cap_lets_through_exactly_what_fits_and_says_what_is_left(httpserver, fake, db_url):
    import dataclasses

    fake.usage = {"promptTokenCount": 2, "candidatesTokenCount": 1120, "totalTokenCount": 1122}
    svc = studio(httpserver, db_url)
    assert run(svc, ANN).status == TurnStatus.OK
    with svc.store.read() as db:
        from core.money.limits import _spent, day_start
        from core.storage.schema import utcnow

        spent = _spent(db, day_start(utcnow()), ANN.key)
    each = with_margin(first_estimate(svc), ESTIMATE_MARGIN_PCT)
    # Room for exactly one more turn at its estimate (with the margin): the boundary itself is allowed.
    svc.settings = dataclasses.replace(svc.settings, limit_person_day_usd=(spent + each) / 1_000_000)
    assert run(svc, ANN).status == TurnStatus.OK
    sent = len(fake.requests)
    error, _ = refused(svc, ANN)
    assert "daily spending limit" in error.message and "is left" in error.message and "resets at" in error.message
    assert "UTC" in error.message
    assert len(fake.requests) == sent
    # Bob's day is his own.
    assert run(svc, BOB).status == TurnStatus.OK


def test_turns_per_minute_and_when_to_send_again(httpserver, fake, db_url):
    svc = studio(httpserver, db_url, STUDIO_LIMIT_TURNS_PER_MINUTE="2")
    ws = svc.as_user(ANN)
    for _ in range(2):
        ws.queue(ws.new_conversation().id, "a kite")
    error, _ = refused(svc, ANN)
    assert "2 turns a minute" in error.message and "Send again in" in error.message


def test_running_turns_at_once(httpserver, fake, db_url):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    svc = studio(httpserver, db_url, STUDIO_LIMIT_RUNNING="1")
    ws = svc.as_user(ANN)
    first = ws.queue(ws.new_conversation().id, "slow")
    error, _ = refused(svc, ANN)
    assert "being made" in error.message
    release.set()
    deadline = time.time() + 20
    while svc.store.turn(first.id).status.in_flight and time.time() < deadline:
        time.sleep(0.05)
    assert ws.queue(ws.new_conversation().id, "now there is room")


def test_sizes_and_models_the_site_does_not_offer(httpserver, fake, db_url):
    svc = studio(httpserver, db_url, STUDIO_ALLOWED_SIZES="512, 1K", STUDIO_ALLOWED_MODELS="gemini-3.1-flash-image")
    ws = svc.as_user(ANN)
    conversation = ws.new_conversation()
    # Typed in the message, 4K would set the size: refused, kept.
    turn, error = ws.submit(conversation.id, "a kite, 4K", [])
    assert isinstance(error, LimitReached) and "4K images are not available" in error.message
    assert turn.text == "a kite, 4K"
    pro = ws.new_conversation("gemini-3-pro-image")
    _, error = ws.submit(pro.id, "a kite", [])
    assert isinstance(error, LimitReached) and "not available on this studio" in error.message
    assert fake.requests == []


def test_a_team_cap_counts_everyone_and_admins_may_be_exempt(httpserver, fake, db_url):
    probe = studio(httpserver, db_url)
    each = with_margin(first_estimate(probe), ESTIMATE_MARGIN_PCT)
    probe.close()
    svc = studio(
        httpserver,
        db_url,
        STUDIO_LIMIT_TEAM_MONTH_USD=str(each / 1_000_000),
        STUDIO_LIMITS_EXEMPT_ADMINS="1",
    )
    assert run(svc, ANN).status == TurnStatus.OK
    error, _ = refused(svc, BOB)
    assert "the team's monthly spending limit" in error.message
    boss = svc.as_user(User(email="boss@example.com", name="Boss", is_admin=True))
    assert boss.queue(boss.new_conversation().id, "exempt")


def test_a_retry_refused_by_a_limit_leaves_the_failed_turn_as_it_was(httpserver, fake, db_url):
    svc = studio(httpserver, db_url, STUDIO_LIMIT_TURNS_PER_MINUTE="1")
    ws = svc.as_user(ANN)
    conversation = ws.new_conversation()
    from tests.fake_gemini import google_error

    fake.then(google_error(400, "INVALID_ARGUMENT", "bad field"))
    failed = run(svc, ANN, conversation_id=conversation.id)
    assert failed.status == TurnStatus.FAILED
    with pytest.raises(LimitReached):
        ws.queue_retry(failed.id)
    assert svc.store.turn(failed.id).status == TurnStatus.FAILED


@pytest.mark.parametrize("limit", ["STUDIO_LIMIT_TURNS_PER_MINUTE", "STUDIO_LIMIT_PERSON_DAY_USD"])
def test_a_burst_of_twenty_against_a_cap_of_five_lets_exactly_five_through(httpserver, fake, db_url, limit):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(30)  # none finishes during the burst
    probe = studio(httpserver, db_url)
    each = with_margin(first_estimate(probe), ESTIMATE_MARGIN_PCT)
    probe.close()
    value = "5" if limit == "STUDIO_LIMIT_TURNS_PER_MINUTE" else str(5 * each / 1_000_000)
    # Two processes on one database, as two replicas behind a load balancer.
    replicas = [studio(httpserver, db_url, **{limit: value}) for _ in range(2)]
    conversations = [replicas[0].as_user(ANN).new_conversation().id for _ in range(20)]
    start = threading.Barrier(20)

    def send(index: int) -> bool:
        ws = replicas[index % 2].as_user(ANN)
        start.wait()
        _, error = ws.submit(conversations[index], "burst", [])
        return error is None

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(send, range(20)))
    release.set()
    assert sum(results) == 5
    # The other fifteen are kept as failed turns, each with its words.
    kept = [replicas[0].store.conversation(c) for c in conversations]
    refused_turns = [t for c in kept for t in c.turns if t.status == TurnStatus.FAILED]
    assert len(refused_turns) == 15 and all(t.error_kind == "limit" and t.text == "burst" for t in refused_turns)


def test_days_and_months_begin_where_the_team_is():
    import datetime as dt

    from core.money.limits import day_start, month_start, next_day, next_month

    # Paris moves its clocks forward on 2026-03-29: that day is 23 hours long.
    now = dt.datetime(2026, 3, 29, 10, 0)
    assert day_start(now, "Europe/Paris") == dt.datetime(2026, 3, 28, 23, 0)
    assert next_day(now, "Europe/Paris") == dt.datetime(2026, 3, 29, 22, 0)
    assert day_start(now) == dt.datetime(2026, 3, 29, 0, 0)  # UTC by default
    # 23:30 UTC on 31 March is already April in Paris.
    late = dt.datetime(2026, 3, 31, 23, 30)
    assert month_start(late, "Europe/Paris") == dt.datetime(2026, 3, 31, 22, 0)
    assert next_month(late, "Europe/Paris") == dt.datetime(2026, 4, 30, 22, 0)
    assert month_start(late) == dt.datetime(2026, 3, 1, 0, 0)


def test_a_daily_cap_counts_the_teams_day_not_utcs(httpserver, fake, db_url):
    from sqlalchemy import update

    from core.money.limits import day_start
    from core.storage.schema import LedgerRow, utcnow

    zone = "Asia/Tokyo"  # nine hours from UTC: its midnight is never UTC's
    svc = studio(httpserver, db_url, STUDIO_TIMEZONE=zone, STUDIO_LIMIT_PERSON_DAY_USD="0.2")
    assert run(svc, ANN).status == TurnStatus.OK
    midnight = day_start(utcnow(), zone)
    # The spending moved to one minute before the team's midnight: yesterday, so a turn fits.
    with svc.store.write() as db:
        db.execute(update(LedgerRow).values(at=midnight - dt_minutes(1), cost_micro=150_000))
    assert run(svc, ANN).status == TurnStatus.OK
    # One minute after it: today, so the cap is reached, and the reset is said in the team's zone.
    with svc.store.write() as db:
        db.execute(update(LedgerRow).values(at=midnight + dt_minutes(1), cost_micro=150_000))
    error, _ = refused(svc, ANN)
    assert "daily spending limit" in error.message and zone in error.message and "UTC" not in error.message


def dt_minutes(n: int):  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.timedelta(minutes=n)


def test_the_usage_report_counts_days_where_the_team_is(httpserver, fake, db_url):
    import datetime as dt

    from sqlalchemy import update

    from core.money import usage
    from core.storage.schema import LedgerRow

    svc = studio(httpserver, db_url)
    assert run(svc, ANN).status == TurnStatus.OK
    late = dt.datetime(2026, 6, 10, 22, 30)  # 22:30 UTC: already 11 June in Tokyo, still 10 June in UTC
    with svc.store.write() as db:
        db.execute(update(LedgerRow).values(at=late))
    with svc.store.read() as db:
        utc = usage.report(db, since=late - dt.timedelta(days=1))
        tokyo = usage.report(db, since=late - dt.timedelta(days=1), zone="Asia/Tokyo")
    assert [d.day for d in utc.by_day] == [dt.date(2026, 6, 10)]
    assert [d.day for d in tokyo.by_day] == [dt.date(2026, 6, 11)]
