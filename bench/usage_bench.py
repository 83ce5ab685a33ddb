"""Bench sections for the ledger and the limits: a turn's overhead with and without limits,
interleaved on one database, and the Usage page over 1,000 and 100,000 ledger rows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from core.money.limits import Limits
from core.service import StudioService
from core.storage.schema import LedgerRow, utcnow

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = [f"person{n}@example.com" for n in range(40)]
MODELS = ["gemini-3.1-flash-image", "gemini-3-pro-image"]
# Every limit on, none of them in reach: the checks all run and all pass.
HIGH = Limits(
    person_day_micro=10**15,
    person_month_micro=10**15,
    team_month_micro=10**15,
    turns_per_minute=10**9,
    running=10**6,
    allowed_sizes=("512", "1K", "2K", "4K"),
)


def fill_ledger(service: StudioService, rows: int, person: str | None = None) -> None:
    """`rows` calls spread over the last 90 days, across 40 people, two models, 2,000 conversations."""
    rng = random.Random(rows)
    now = utcnow()
    batch = []
    for n in range(rows):
        tokens = rng.choice((1120, 2000, 2520))
        batch.append(
            {
                "at": now - dt.timedelta(seconds=rng.randrange(90 * 86400)),
                "person": person or rng.choice(PEOPLE),
                "conversation_id": f"c{rng.randrange(2000):05d}",
                "turn_id": n,
                "model": rng.choice(MODELS),
                "image_size": "1K",
                "attempt": 1,
                "outcome": "ok" if rng.random() > 0.05 else "timeout",
                "http_status": 200,
                "duration_ms": rng.randrange(5000, 40000),
                "may_be_billed": True,
                "estimate_micro": 140_000,
                "cost_micro": tokens * 120 + 2000,
                "history_micro": 1500,
                "offline": False,
            }
        )
        if len(batch) == 5000:
            _insert(service, batch)
            batch = []
    _insert(service, batch)


def _insert(service: StudioService, batch: list[dict]) -> None:
    if batch:
        with service.store.write() as db:
            db.execute(LedgerRow.__table__.insert(), batch)


def limits_overhead(service: StudioService, conversation_id: str, send: Callable[..., float], repeat: int) -> None:
    """The same turn with limits off and with every limit on (none reached), alternated, on a
    ledger that already holds a busy quarter for this person; then the queueing transaction
    alone, where the checks run, alternated many times."""
    from core.money.ledger import Charge
    from core.money.limits import admit

    print("\n== limits: overhead without and with every limit on (interleaved, 20,000 ledger rows)")
    person = (service.store.conversation(conversation_id).owner or "").lower()
    fill_ledger(service, 20_000, person=person)
    off, on = [], []
    for _ in range(max(8, repeat * 3)):
        service.life.limits = Limits()
        off.append(send(service, conversation_id, "an edit"))
        service.life.limits = HIGH
        on.append(send(service, conversation_id, "an edit"))
    service.life.limits = Limits()
    a, b = statistics.median(off) * 1000, statistics.median(on) * 1000
    print(f"  whole turn:       without {a:7.1f} ms   with {b:7.1f} ms   difference {b - a:+6.1f} ms")
    charge = Charge(person=person, model=MODELS[0], image_size="1K", estimate_micro=140_000)
    plain, checked = [], []
    for _ in range(200):
        for limits, into in ((Limits(), plain), (HIGH, checked)):
            start = time.perf_counter()
            with service.store.write() as db:
                admit(db, limits, charge)
            into.append(time.perf_counter() - start)
    a, b = statistics.median(plain) * 1000, statistics.median(checked) * 1000
    print(
        f"  queueing step:    without {a:7.2f} ms   with {b:7.2f} ms   difference {b - a:+6.2f} ms "
        "(target within 5 ms; the whole turn's spread is wider than that)"
    )


def usage_page(settings, repeat: int) -> None:  # type: ignore[no-untyped-def]
    """The Usage page as an admin sees it (every person), rendered by AppTest, at two sizes."""
    from streamlit.testing.v1 import AppTest

    print("\n== Usage page (AppTest, admin: everyone's spending over 12 months), aggregated in SQL")
    results = {}
    for rows in (1_000, 100_000):
        url = f"sqlite:///{tempfile.mkdtemp(prefix='studio-bench-')}/usage.db"
        service = StudioService.from_settings(dataclasses.replace(settings, database_url=url))
        fill_ledger(service, rows)
        service.close()
        os.environ["DATABASE_URL"] = url
        os.environ.pop("COMETAPI_KEY", None)
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        app.switch_page("pages/usage.py").run()
        app.selectbox(key="usage-period").set_value("Last 12 months").run()  # every row in scope
        assert not app.exception, app.exception
        timings = []
        for _ in range(max(3, repeat)):
            start = time.perf_counter()
            app.run()
            timings.append(time.perf_counter() - start)
        assert not app.exception, app.exception
        results[rows] = statistics.median(timings)
    small, large = results[1_000] * 1000, results[100_000] * 1000
    print(
        f"  1,000 rows: {small:6.0f} ms   100,000 rows: {large:6.0f} ms (target under 1,000 ms)   "
        f"ratio {large / small:.2f}x"
    )
