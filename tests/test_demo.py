"""Demo mode's examples when several replicas start at once: each ends with the same three, each
drawn once and whole, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.config import load_settings
from core.demo import BUILT, EXAMPLE_OWNER
from core.service import StudioService


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def test_replicas_starting_together_end_with_one_of_each_example(db_url):
    settings = load_settings({"DATABASE_URL": db_url, "STUDIO_DEMO": "1"})
    replicas = [StudioService.from_settings(settings, workers=1) for _ in range(3)]
    start = threading.Barrier(len(replicas))

    def examples(svc: StudioService) -> list[str]:
        start.wait(10)
        return svc.example_ids()

    try:
        with ThreadPoolExecutor(max_workers=len(replicas)) as pool:
            seen = list(pool.map(examples, replicas))
        stored = replicas[0].store.conversations(EXAMPLE_OWNER, 50)
        assert sorted(s.title for s in stored) == sorted(title for title, _ in BUILT)
        assert all(sorted(ids) == sorted(s.id for s in stored) for ids in seen)
        for summary in stored:
            prompts = dict(BUILT)[summary.title]
            turns = replicas[0].conversation(summary.id).exchanges
            assert [e.request.text for e in turns] == list(prompts) and all(e.replayable for e in turns)
        # A later start finds them and draws nothing.
        later = StudioService.from_settings(settings, workers=1)
        assert sorted(later.example_ids()) == sorted(s.id for s in stored)
        later.close()
    finally:
        for svc in replicas:
            svc.close()
            svc.store.engine.dispose()
