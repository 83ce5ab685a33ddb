"""Bench section: the studio page with 200 versions in one conversation against 10, as branches
(every fourth answer gets another take, every tenth a branch from an earlier version)."""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

from core.config import Secret
from core.service import StudioService

ROOT = Path(__file__).resolve().parent.parent


def build_tree(service: StudioService, versions: int) -> str:
    conversation = service.new_conversation()
    made = []
    while len(made) < versions:
        n = len(made)
        if n and n % 10 == 0:
            service.turns.branch(made[n // 2])  # go back to an earlier version and on from there
        outcome = service.send(conversation.id, f"edit {n}")
        assert outcome.ok and outcome.reply is not None, outcome.error
        made.append(outcome.reply.id)
        if n % 4 == 3 and len(made) < versions:
            take = service.regenerate(outcome.reply.id)
            assert take.reply is not None
            made.append(take.reply.id)
    return conversation.id


def versions_at_scale(settings, repeat: int) -> None:  # type: ignore[no-untyped-def]
    from streamlit.testing.v1 import AppTest

    print("\n== version strip and tree: studio page rerun with 10 and with 200 versions (AppTest, interleaved)")
    url = f"sqlite:///{tempfile.mkdtemp(prefix='studio-bench-')}/versions.db"
    offline = dataclasses.replace(settings, database_url=url, api_key=Secret(""))
    service = StudioService.from_settings(offline)
    ids = {n: build_tree(service, n) for n in (10, 200)}
    service.close()
    os.environ["DATABASE_URL"] = url
    os.environ.pop("COMETAPI_KEY", None)
    apps = {}
    for n, conversation_id in ids.items():
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        app.query_params["session"] = conversation_id
        app.run()
        assert not app.exception, app.exception
        apps[n] = app
    timings: dict[int, list[float]] = {n: [] for n in ids}
    for _ in range(max(6, repeat * 3)):
        for n, app in apps.items():
            start = time.perf_counter()
            app.run()
            timings[n].append(time.perf_counter() - start)
    small, large = (statistics.median(timings[n]) * 1000 for n in (10, 200))
    print(f"   10 versions: {small:6.1f} ms   200 versions: {large:6.1f} ms   ratio {large / small:.2f}x (target 1.5x)")
