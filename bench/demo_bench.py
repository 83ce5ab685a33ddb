"""A public demo under a crowd: admission against the caps, and a visitor's page among many.

1. 50 visitors from 10 addresses send at once, from two processes, on PostgreSQL, against the
   tests' strict fake answering after a short delay: how many turns were admitted against what
   the caps allow (they must be equal: neither more, which would be a leak, nor fewer).
2. A visitor's studio page (AppTest reruns, SQLite) with 10,000 other visitors' conversations in
   the database against an empty one: the ratio of the medians (target: within 1.5x).

`python -m bench.demo_bench` runs this part alone; `python -m bench` runs it with the rest.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.config import load_settings
from core.service import StudioService
from core.team.people import User, visitor

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"
VISITORS, ADDRESSES, PROCESSES = 50, 10, 2
ADDRESS_TURNS_PER_MINUTE = 3
OTHERS = 10_000


def _settings(database_url: str, base_url: str = "http://127.0.0.1:9", **env: str):  # type: ignore[no-untyped-def]
    return load_settings(
        {
            "COMETAPI_KEY": KEY,
            "COMETAPI_BASE_URL": base_url,
            "DATABASE_URL": database_url,
            "STUDIO_DEMO": "1",
            "STUDIO_LIMIT_ADDRESS_TURNS_PER_MINUTE": str(ADDRESS_TURNS_PER_MINUTE),
            **env,
        }
    )


def _visitor(n: int) -> User:
    found = visitor(f"{n:064x}")
    assert isinstance(found, User)
    return found


def _address(n: int) -> str:
    return f"198.51.100.{n % ADDRESSES + 1}"


def _send(args: tuple[str, str, list[tuple[int, str]], float]) -> list[bool]:
    """One process: its share of the visitors, each sending one turn at `start_at`."""
    database_url, base_url, work, start_at = args
    svc = StudioService.from_settings(_settings(database_url, base_url))
    try:

        def one(item: tuple[int, str]) -> bool:
            n, conversation_id = item
            ws = svc.as_user(_visitor(n))
            time.sleep(max(0.0, start_at - time.time()))
            _turn, error = ws.submit(conversation_id, "a kite over the dunes", [])
            return error is None

        with ThreadPoolExecutor(max_workers=len(work)) as pool:
            return list(pool.map(one, work))
    finally:
        svc.close()


def admission() -> tuple[int, int] | None:
    try:
        from pytest_httpserver import HTTPServer

        from tests.fake_gemini import FakeGemini
        from tests.postgres_server import PostgresMissing, create_database, temporary_postgres
    except ImportError:
        print("\n== Demo admission: skipped (needs requirements-dev.txt and requirements-postgres.txt)")
        return None
    fake = FakeGemini(api_key=KEY)
    fake.during_call = lambda _body: time.sleep(1.0)  # turns stay running while the rest arrive
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(r"^/v1beta/.*"), method="POST").respond_with_handler(fake.handle)
    server.start()
    try:
        postgres = temporary_postgres()
        url = postgres.__enter__()
    except PostgresMissing:
        server.stop()
        print("\n== Demo admission: skipped (PostgreSQL is not installed)")
        return None
    try:
        database_url = create_database(url, f"demo_{uuid.uuid4().hex[:8]}")
        base_url = server.url_for("/").rstrip("/")
        svc = StudioService.from_settings(_settings(database_url, base_url), workers=1)
        conversations: list[tuple[int, str]] = []
        for n in range(VISITORS):
            person = _visitor(n)
            arrival = svc.visitors.arrive(person.key, _address(n), svc.settings.limit_address_new_visitors_per_hour)
            assert arrival.refusal is None, arrival.refusal
            conversations.append((n, svc.as_user(person).new_conversation().id))
        limits = svc.settings
        svc.close()
        # What the caps allow: per visitor, one turn (one running at once, 3 a minute); per
        # address, ADDRESS_TURNS_PER_MINUTE; spending caps far above 50 small turns' cost.
        per_address = [sum(1 for n in range(VISITORS) if n % ADDRESSES == a) for a in range(ADDRESSES)]
        each = min(limits.limit_running or 1, limits.limit_turns_per_minute or 1, 1)  # one turn is sent each
        allowed = sum(min(v * each, ADDRESS_TURNS_PER_MINUTE) for v in per_address)
        start_at = time.time() + 8  # both processes start their engines first
        shares = [conversations[i::PROCESSES] for i in range(PROCESSES)]
        with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
            results = pool.map(_send, [(database_url, base_url, share, start_at) for share in shares])
        admitted = sum(sum(r) for r in results)
        print(f"\n== Demo admission: {VISITORS} visitors from {ADDRESSES} addresses, {PROCESSES} processes, PostgreSQL")
        print(
            f"  admitted {admitted} turns; the caps allow {allowed} ({'equal' if admitted == allowed else 'NOT EQUAL'})"
        )
        return admitted, allowed
    finally:
        postgres.__exit__(None, None, None)
        server.stop()


def _seed_others(database_url: str, template_id: str, count: int) -> None:
    """`count` conversations of other visitors, each a copy of the template's rows, in bulk."""
    from sqlalchemy import func, insert, select

    from core.storage.schema import ConversationRow, PartRow, TurnRow, VisitorRow, utcnow
    from core.storage.store import Store

    store = Store(database_url)
    with store.write() as db:
        head = db.execute(select(ConversationRow.__table__).where(ConversationRow.id == template_id)).mappings().one()
        turns = db.execute(
            select(TurnRow.__table__).where(TurnRow.conversation_id == template_id).order_by(TurnRow.id)
        ).mappings()
        turns = [dict(t) for t in turns]
        parts = [
            dict(p)
            for p in db.execute(
                select(PartRow.__table__).where(PartRow.turn_id.in_([t["id"] for t in turns]))
            ).mappings()
        ]
        next_turn = (db.scalar(select(func.max(TurnRow.id))) or 0) + 1
        now = utcnow()
        conv_rows, turn_rows, part_rows, visitor_rows = [], [], [], []
        for i in range(count):
            cid = uuid.uuid4().hex
            owner = f"{i:020x}@visitor.demo"
            conv_rows.append({**dict(head), "id": cid, "owner": owner, "share_token": None})
            visitor_rows.append(
                {"person": owner, "address": f"203.0.{i // 250}.{i % 250}", "first_seen": now, "last_seen": now}
            )
            ids = {}
            for t in turns:
                ids[t["id"]] = next_turn
                next_turn += 1
            for t in turns:
                turn_rows.append(
                    {
                        **t,
                        "id": ids[t["id"]],
                        "conversation_id": cid,
                        "reply_to_id": ids.get(t["reply_to_id"]) if t["reply_to_id"] else None,
                        "parent_id": ids.get(t["parent_id"]) if t["parent_id"] else None,
                    }
                )
            for p in parts:
                part_rows.append({**{k: v for k, v in p.items() if k != "id"}, "turn_id": ids[p["turn_id"]]})
            conv_rows[-1]["tip_id"] = ids.get(head["tip_id"]) if head["tip_id"] else None
        db.execute(insert(ConversationRow), conv_rows)
        db.execute(insert(TurnRow), turn_rows)
        db.execute(insert(PartRow), part_rows)
        db.execute(insert(VisitorRow), visitor_rows)
    store.engine.dispose()


def _page_time(database_url: str, rounds: int) -> float:
    from streamlit.testing.v1 import AppTest

    os.environ.update({"DATABASE_URL": database_url, "STUDIO_DEMO": "1"})
    os.environ.pop("COMETAPI_KEY", None)
    svc = StudioService.from_settings(load_settings({"DATABASE_URL": database_url, "STUDIO_DEMO": "1"}), workers=1)
    me = _visitor(999_999)
    svc.visitors.arrive(me.key, "192.0.2.1", None)
    mine = svc.as_user(me).new_conversation()
    svc.send(mine.id, "a lighthouse")
    svc.send(mine.id, "at night")
    svc.close()
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.session_state["visitor-token"] = f"{999_999:064x}"
    app.query_params["session"] = mine.id
    app.run()
    assert not app.exception, app.exception
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def page_among_many(rounds: int = 15) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        empty = f"sqlite:///{tmp}/empty.db"
        crowded = f"sqlite:///{tmp}/crowded.db"
        # The template conversation, drawn once by the offline model, then 10,000 copies of it.
        seed = StudioService.from_settings(load_settings({"DATABASE_URL": crowded}), workers=1)
        template = seed.new_conversation(owner="template@visitor.demo")
        seed.send(template.id, "a red bicycle")
        seed.send(template.id, "make it blue")
        seed.close()
        start = time.perf_counter()
        _seed_others(crowded, template.id, OTHERS)
        seeded_s = time.perf_counter() - start
        base = _page_time(empty, rounds)
        many = _page_time(crowded, rounds)
    ratio = many / base
    print(
        f"\n== Demo: a visitor's studio page with {OTHERS:,} other visitors' conversations (seeded in {seeded_s:.1f} s)"
    )
    print(
        f"  rerun median: empty {base * 1000:.1f} ms, crowded {many * 1000:.1f} ms, ratio {ratio:.2f}x (target <= 1.5x)"
    )
    return ratio


def run() -> None:
    admission()
    page_among_many()


if __name__ == "__main__":
    run()
