"""Bench section: review at scale. The studio page with 200 versions and 500 comments against the
same conversation without comments (AppTest, interleaved reruns); and the Inbox's first page
with 10,000 entries (its query, and the whole page through AppTest)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.versions_bench import build_tree
from core.config import Secret
from core.service import StudioService
from core.storage.schema import InboxRow, utcnow
from core.team.people import LOCAL_EMAIL, User

ROOT = Path(__file__).resolve().parent.parent
COMMENTS = 500
INBOX = 10_000


def _app(session: str | None = None, page: str | None = None):  # type: ignore[no-untyped-def]
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if session:
        app.query_params["session"] = session
    app.run()
    if page:
        app.switch_page(page)
        app.run()
    assert not app.exception, app.exception
    return app


def _interleaved(apps: dict[str, object], rounds: int) -> dict[str, float]:
    timings: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            start = time.perf_counter()
            app.run()  # type: ignore[attr-defined]
            timings[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in timings.items()}


def run(settings, repeat: int = 5) -> None:  # type: ignore[no-untyped-def]
    print(
        f"\n== review: the studio page with 200 versions and {COMMENTS} comments, and the Inbox with {INBOX:,} entries"
    )
    url = f"sqlite:///{tempfile.mkdtemp(prefix='studio-bench-')}/review.db"
    offline = dataclasses.replace(settings, database_url=url, api_key=Secret(""))
    service = StudioService.from_settings(offline)
    plain_id = build_tree(service, 200)
    reviewed_id = service.sharing.copy(plain_id, LOCAL_EMAIL, LOCAL_EMAIL)  # the very same tree
    you = service.as_user(User(email=LOCAL_EMAIL, name="you", is_admin=True))
    people = [User(email=f"p{n}@example.com", name=f"Person {n}") for n in range(5)]
    for person in people:
        service.review.store.remember(person)
    versions = [v.reply_id for v in you.versions.tree(reviewed_id).versions]
    for n in range(COMMENTS):
        # Every version gets some; the newest (the ones the page shows) get more.
        reply = versions[-1 - (n % 3)] if n % 2 else versions[n % len(versions)]
        author = people[n % len(people)]
        service.review.store.add(
            reviewed_id, reply, author, f"comment {n}: @you@localhost look at the logo", [LOCAL_EMAIL]
        )
    for reply in versions[::20]:
        you.review.set_status(reviewed_id, reply, "approved")
    with service.store.db.write() as db:  # the Inbox: 10,000 entries (what the comments left, and more)
        start = utcnow() - dt.timedelta(days=90)
        db.add_all(
            InboxRow(
                person=LOCAL_EMAIL,
                kind="mention",
                conversation_id=reviewed_id,
                reply_id=versions[n % len(versions)],
                comment_id=None,
                actor="p1@example.com",
                actor_name="Person 1",
                detail=f"entry {n}",
                at=start + dt.timedelta(minutes=n),
                read_at=None if n % 3 else utcnow(),
            )
            for n in range(INBOX - COMMENTS)
        )
    query = statistics.median(
        _timed(lambda: (you.review.inbox(limit=31), you.review.unread())) for _ in range(max(5, repeat))
    )
    service.close()
    os.environ["DATABASE_URL"] = url
    os.environ.pop("COMETAPI_KEY", None)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    apps = {"without": _app(plain_id), "with": _app(reviewed_id)}
    said = [t.value for t in apps["with"].text if str(t.value).startswith("comment ")]  # type: ignore[attr-defined]
    assert said, "the page with comments shows none"
    reruns = _interleaved(apps, max(6, repeat * 3))
    ratio = reruns["with"] / reruns["without"]
    print(
        f"   200 versions, no comments: {reruns['without'] * 1000:6.1f} ms   with {COMMENTS} comments: "
        f"{reruns['with'] * 1000:6.1f} ms ({len(said)} shown)   ratio {ratio:.2f}x (target 1.5x)"
    )
    inbox = _app(page="pages/inbox.py")
    page = _interleaved({"inbox": inbox}, max(5, repeat))["inbox"]
    print(
        f"   Inbox with {INBOX:,} entries: first page and unread count {query * 1000:.1f} ms (query); "
        f"the whole page {page * 1000:.1f} ms (target 500 ms)"
    )


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    from core.config import load_settings

    run(load_settings({}))
