"""Deploys: a drain during a 20 s call, and the worker tier's throughput and pick-up time.

`python -m bench.deploy_bench` runs this part alone; `python -m bench` runs it after the rest.
The service is the tests' strict fake (pytest-httpserver, from requirements-dev.txt) answering
after a set delay; the database a real PostgreSQL server started in a temporary directory.
"""

from __future__ import annotations

import dataclasses
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.config import load_settings
from core.service import StudioService
from core.values import TurnStatus

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"


def _fake(delay_s: float):  # type: ignore[no-untyped-def]
    from pytest_httpserver import HTTPServer

    from tests.fake_gemini import FakeGemini

    fake = FakeGemini(api_key=KEY)
    arrived: dict[str, float] = {}

    def during(body) -> None:  # type: ignore[no-untyped-def]
        text = next((p.get("text", "") for p in body["contents"][-1]["parts"] if "text" in p), "")
        arrived[text] = time.monotonic()
        time.sleep(delay_s)

    fake.during_call = during
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(r"^/v1beta/.*"), method="POST").respond_with_handler(fake.handle)
    server.start()
    return server, fake, arrived


def _settings(database_url: str, base_url: str, **changes):  # type: ignore[no-untyped-def]
    env = {"COMETAPI_KEY": KEY, "COMETAPI_BASE_URL": base_url, "DATABASE_URL": database_url}
    return dataclasses.replace(load_settings(env), **changes)


def drain(database_url: str, call_s: float = 20.0) -> None:
    server, fake, _ = _fake(call_s)
    try:
        settings = _settings(database_url, server.url_for("/").rstrip("/"))
        svc = StudioService.from_settings(settings)
        turn = svc.queue(svc.new_conversation().id, "a lighthouse in a storm")
        while not fake.requests:
            time.sleep(0.05)
        started = time.monotonic()
        report = svc.drain()  # what SIGTERM does (ui/draining.py, core/worker.py)
        status = svc.store.turn(turn.id).status
        svc.close()
        print(
            f"  SIGTERM during a {call_s:.0f} s call: drained in {time.monotonic() - started:.1f} s, "
            f"turn {status.value}, {report.finished} finished, {report.left} left, "
            f"{len(fake.requests)} call(s) at the service"
        )
        assert status == TurnStatus.OK and len(fake.requests) == 1
    finally:
        server.stop()


def workers(database_url: str, turns: int = 40, call_s: float = 0.5) -> None:
    """Two queue-only web services (this process) and two `python -m core.worker` processes."""
    server, fake, arrived = _fake(call_s)
    procs: list[subprocess.Popen] = []  # type: ignore[type-arg]
    try:
        base_url = server.url_for("/").rstrip("/")
        settings = _settings(database_url, base_url, run_turns=False)
        webs = [StudioService.from_settings(settings) for _ in range(2)]
        env = {**os.environ, "COMETAPI_KEY": KEY, "COMETAPI_BASE_URL": base_url, "DATABASE_URL": database_url}
        log = Path(tempfile.mkdtemp(prefix="studio-workers-")) / "workers.log"
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "core.worker", "--workers", "8"],
                    cwd=ROOT,
                    env=env,
                    stdout=log.open("ab"),
                    stderr=subprocess.STDOUT,
                )
            )
        time.sleep(4)  # the workers are up and listening
        queued: dict[str, float] = {}
        ids = []
        started = time.monotonic()
        for n in range(turns):
            web = webs[n % 2]
            prompt = f"turn {n}"
            conversation = web.new_conversation().id
            ids.append(web.queue(conversation, prompt).id)
            queued[prompt] = time.monotonic()
            time.sleep(0.05)  # people send one after another, not all in one instant
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(webs[0].store.turn(i).status == TurnStatus.OK for i in ids):
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        done = sum(webs[0].store.turn(i).status == TurnStatus.OK for i in ids)
        waits = [arrived[p] - queued[p] for p in queued if p in arrived]
        print(
            f"  2 queue-only web services + 2 workers (8 slots each), {turns} turns of {call_s:.1f} s: "
            f"{done}/{turns} ok in {elapsed:.1f} s ({done / elapsed:.1f} turns/s; {len(fake.requests)} calls)"
        )
        print(
            f"  queued to request leaving: median {statistics.median(waits) * 1000:.0f} ms, "
            f"max {max(waits) * 1000:.0f} ms (target: median under 500 ms)"
        )
        for web in webs:
            web.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        server.stop()


def run() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        from tests.postgres_server import PostgresMissing, create_database, temporary_postgres
    except ImportError:
        print("\n== deploys: skipped (psycopg is not installed)")
        return
    print("\n== deploys: drain and the worker tier on PostgreSQL, against the fake service")
    try:
        with temporary_postgres() as url:
            drain(create_database(url, "drain"))
            workers(create_database(url, "workers"))
    except PostgresMissing as exc:
        print(f"  skipped ({exc})")
    # The same drain on SQLite, the embedded default.
    path = Path(tempfile.mkdtemp(prefix="studio-drain-")) / "drain.db"
    print("  on SQLite:", end="")
    drain(f"sqlite:///{path}", call_s=5.0)


if __name__ == "__main__":
    run()
