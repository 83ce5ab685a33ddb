"""`python -m bench`: rerun cost, turn overhead and request size, measured side by side."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

from bench.synthetic import build_conversation, model_content, photo_like_jpeg, response_payload
from bench.usage_bench import limits_overhead, usage_page
from bench.versions_bench import versions_at_scale
from core.config import load_settings
from core.service import StudioService

ROOT = Path(__file__).resolve().parent.parent


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def median_time(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def studio_app(database_url: str, conversation_id: str):  # type: ignore[no-untyped-def]
    from streamlit.testing.v1 import AppTest

    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("COMETAPI_KEY", None)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.query_params["session"] = conversation_id
    app.run()  # first run: imports, engine, caches
    assert not app.exception, app.exception
    return app


def interleaved_reruns(database_url: str, conversations: dict[int, str], rounds: int) -> dict[int, float]:
    """Median rerun per conversation, taken round by round so drift on a shared machine hits
    every size alike."""
    apps = {n: studio_app(database_url, cid) for n, cid in conversations.items()}
    times: dict[int, list[float]] = {n: [] for n in apps}
    for _ in range(rounds):
        for n, app in apps.items():
            start = time.perf_counter()
            app.run()
            times[n].append(time.perf_counter() - start)
    return {n: statistics.median(t) for n, t in times.items()}


class CannedClient:
    """Answers at once with a realistic reply, so only the studio's own work is timed."""

    offline = False

    def __init__(self, image: bytes) -> None:
        self.reply = json.dumps(response_payload(model_content(image, 999))).encode()
        self.last_body = b""

    def generate(self, model: str, body: bytes, attempts: list | None = None) -> dict:  # type: ignore[type-arg]
        from core.provider.client import Attempt

        self.last_body = body
        if attempts is not None:  # one answered attempt, as the real client records it
            attempts.append(Attempt(outcome="ok", http_status=200, duration_ms=0, may_be_billed=True))
        return json.loads(self.reply)  # what requests would do with the response


def send_seconds(service: StudioService, conversation_id: str, prompt: str) -> float:
    """One turn through the service, timed; then its rows are removed (off the clock) so every
    repeat sees the same history."""
    from sqlalchemy import text

    with service.store.read() as db:
        top = db.execute(
            text("SELECT COALESCE(MAX(position), -1) FROM turns WHERE conversation_id = :c"), {"c": conversation_id}
        ).scalar()
        tip = db.execute(text("SELECT tip_id FROM conversations WHERE id = :c"), {"c": conversation_id}).scalar()
    start = time.perf_counter()
    outcome = service.send(conversation_id, prompt)
    elapsed = time.perf_counter() - start
    assert outcome.ok, outcome.error
    with service.store.write() as db:
        db.execute(
            text("DELETE FROM turns WHERE conversation_id = :c AND position > :p"), {"c": conversation_id, "p": top}
        )
        # The removed answer was the current version: point back at the one before it.
        db.execute(text("UPDATE conversations SET tip_id = :t WHERE id = :c"), {"t": tip, "c": conversation_id})
    return elapsed


def turn_against_floor(service: StudioService, canned: CannedClient, conversation_id: str, repeat: int) -> str:
    """The studio's own time for a turn against the floor: encoding the very body it sent, once,
    from memory."""
    turn = statistics.median(send_seconds(service, conversation_id, "one more edit") for _ in range(repeat))
    body = json.loads(canned.last_body)
    floor = median_time(lambda: json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), repeat)
    return (
        f"body {len(canned.last_body) / 1e6:6.1f} MB   studio {turn * 1000:7.1f} ms   "
        f"floor {floor * 1000:7.1f} ms   ratio {turn / floor:.2f}x"
    )


def gallery_at_scale(settings, sizes: tuple[int, ...] = (100, 5000), repeat: int = 5) -> None:  # type: ignore[no-untyped-def]
    """The gallery's first page with few and with thousands of results: paged in SQL, so alike."""
    from core.team.people import User
    from core.values import Part, TurnStatus

    print("\n== gallery: first page (24 previews' rows) with few and with thousands of results")
    timings = {}
    for total in sizes:
        database_url = f"sqlite:///{tempfile.mkdtemp(prefix='studio-bench-')}/gallery.db"
        service = StudioService.from_settings(dataclasses.replace(settings, database_url=database_url))
        image = service.images.put(photo_like_jpeg(1, (64, 64)), "image/jpeg")
        owner = service.turns.owner
        for c in range(max(1, total // 50)):
            conversation = service.new_conversation()
            for n in range(min(50, total - c * 50)):
                request = service.turns.start(conversation.id, f"edit {c}-{n}")
                service.life.claim(request.id, owner)
                part = Part(kind="image", image_hash=image.hash, mime_type="image/jpeg", signature="s")
                service.life.finish(request.id, owner, status=TurnStatus.OK, reply_parts=[part], reply_weight=1)
        person = service.as_user(User(email="you@localhost", name="you"))
        assert len(person.gallery(limit=24)) == min(24, total)
        timings[total] = (
            median_time(lambda p=person: p.gallery(limit=24), repeat),
            median_time(lambda p=person: p.gallery(limit=24, search="edit 1-"), repeat),
        )
        service.close()
    small, large = sizes
    for n, label in enumerate(("newest first", "searching prompts")):
        few, many = timings[small][n] * 1000, timings[large][n] * 1000
        print(f"  {label:<17} {small:>5}: {few:6.1f} ms   {large:>5}: {many:6.1f} ms   ratio {many / few:.2f}x")


def postgres_beside(settings, images: list[bytes], sizes: list[int], repeat: int) -> None:  # type: ignore[no-untyped-def]
    """The same turns at the 20 MB budget on a real PostgreSQL server, beside SQLite."""
    try:
        from tests.postgres_server import PostgresMissing, create_database, temporary_postgres
    except ImportError:
        print("\n== PostgreSQL: skipped (psycopg is not installed: pip install -r requirements-postgres.txt)")
        return
    try:
        server = temporary_postgres()
        url = server.__enter__()
    except (PostgresMissing, OSError) as exc:
        print(f"\n== PostgreSQL: skipped ({exc})")
        return
    try:
        print("\n== PostgreSQL beside SQLite: turn overhead at the 20 MB budget, and the page rerun")
        results: dict[str, dict[int, str]] = {}
        reruns: dict[str, dict[int, float]] = {}
        for name, database_url, cache_mb in (
            ("SQLite", f"sqlite:///{tempfile.mkdtemp(prefix='studio-bench-')}/bench.db", settings.sent_cache_mb),
            ("PostgreSQL", create_database(url, "bench"), settings.sent_cache_mb),
            # The same server with the per-process cache of what was sent switched off.
            ("no cache", create_database(url, "bench_nocache"), 0.0),
        ):
            db_settings = dataclasses.replace(
                settings, database_url=database_url, max_request_mb=20.0, sent_cache_mb=cache_mb
            )
            service = StudioService.from_settings(db_settings)
            conversations = {n: build_conversation(service, n, images) for n in sizes}
            canned = CannedClient(images[0])
            service.client = service.turns.client = canned  # type: ignore[assignment]
            results[name] = {n: turn_against_floor(service, canned, conversations[n], repeat) for n in sizes}
            if name != "no cache":
                reruns[name] = interleaved_reruns(database_url, conversations, repeat * 2)
            service.close()
            service.store.engine.dispose()
        for n in sizes:
            print(f"  {n:>3} turns  SQLite:     {results['SQLite'][n]}   rerun {reruns['SQLite'][n] * 1000:6.1f} ms")
            print(
                f"             PostgreSQL: {results['PostgreSQL'][n]}   rerun {reruns['PostgreSQL'][n] * 1000:6.1f} ms"
            )
            print(f"             PG, no cache: {results['no cache'][n]}")
    finally:
        server.__exit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", default="1,10,50")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true", help="skip the open tabs' part (real Chromium)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.turns.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    database_url = f"sqlite:///{workdir / 'bench.db'}"
    settings = dataclasses.replace(load_settings({"DATABASE_URL": database_url}), max_request_mb=10_000)
    service = StudioService.from_settings(settings)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
    started = time.perf_counter()
    images = [photo_like_jpeg(seed) for seed in range(8)]
    print(
        f"building conversations {sizes} with 2K JPEGs (avg {statistics.mean(map(len, images)) / 1e6:.2f} MB) "
        f"and 600 KB signatures…"
    )
    conversations = {n: build_conversation(service, n, images) for n in sizes}
    print(f"  built in {time.perf_counter() - started:.1f} s")

    print(f"\n== rerun of the studio page (AppTest, median of {args.repeat * 6} interleaved rounds)")
    reruns = interleaved_reruns(database_url, conversations, args.repeat * 6)
    for n in sizes:
        print(
            f"  {n:>3} turns: {reruns[n] * 1000:7.1f} ms   "
            f"ratio to {sizes[0]} turn: {reruns[n] / reruns[sizes[0]]:.2f}x"
        )

    print("\n== what st.image does per image on every rerun (Streamlit's own resize/re-encode step)")
    from streamlit.elements.lib.image_utils import _ensure_image_size_and_format
    from streamlit.elements.lib.layout_utils import LayoutConfig

    preview_bytes, _ = service.images.preview(
        service.store.conversation(conversations[sizes[0]]).latest_image.image_hash
    )
    naive = median_time(
        lambda: _ensure_image_size_and_format(images[0], LayoutConfig(width="stretch"), "JPEG"), args.repeat
    )
    stored = median_time(
        lambda: _ensure_image_size_and_format(preview_bytes, LayoutConfig(width="stretch"), "JPEG"), args.repeat
    )
    print(
        f"  full 2K bytes: {naive * 1000:6.1f} ms   stored 1460 px preview: {stored * 1000:6.2f} ms   "
        f"ratio {naive / stored:.0f}x"
    )

    print("\n== memory: 8 sessions x 10 reruns of the 50-turn conversation")
    rss_before = current_rss_mb()
    for _ in range(8):
        session = studio_app(database_url, conversations[sizes[-1]])
        for _ in range(10):
            session.run()
    print(f"  RSS before {rss_before:.0f} MB, after {current_rss_mb():.0f} MB")

    print("\n== turn overhead: load history, build and encode the request, store the answer (model time excluded)")
    canned = CannedClient(images[0])
    service.client = service.turns.client = canned  # type: ignore[assignment]
    for n in sizes:
        print(f"  {n:>3} turns: {turn_against_floor(service, canned, conversations[n], args.repeat)}")

    print("\n== request size: the body against the bytes it must carry (texts, base64 images, signatures)")
    for n in sizes:
        send_seconds(service, conversations[n], "size check")
        body = json.loads(canned.last_body)
        minimum = sum(
            len(p.get("text", "")) + len(p.get("thoughtSignature", "")) + len(p.get("inlineData", {}).get("data", ""))
            for c in body["contents"]
            for p in c["parts"]
        )
        print(
            f"  {n:>3} turns: {len(canned.last_body) / 1e6:6.1f} MB / minimum {minimum / 1e6:6.1f} MB = "
            f"{len(canned.last_body) / minimum:.3f}x"
        )

    print("\n== context budget at the default 20 MB")
    budget = dataclasses.replace(settings, max_request_mb=20.0)
    service.settings = budget
    for n in sizes:
        plan = service.turns.meter(service.conversation(conversations[n], visible=0), "next edit")
        timing = turn_against_floor(service, canned, conversations[n], args.repeat)
        print(
            f"  {n:>3} turns: would be {plan.full_bytes / 1e6:6.1f} MB, keeps {len(plan.kept)} of "
            f"{len(plan.kept) + len(plan.dropped)} answered exchanges; {timing}"
        )

    limits_overhead(service, conversations[sizes[0]], send_seconds, args.repeat)
    gallery_at_scale(settings, repeat=args.repeat)
    usage_page(settings, args.repeat)
    versions_at_scale(settings, args.repeat)
    from bench import review_bench

    review_bench.run(settings, args.repeat)
    postgres_beside(settings, images, sizes, args.repeat)
    from bench import deploy_bench, flow_bench

    flow_bench.run()
    deploy_bench.run()
    from bench import demo_bench

    demo_bench.run()
    if not args.no_browser:
        from bench import idle_tabs

        idle_tabs.run()

    print(f"\npeak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
