"""The per-process cache of what was sent: the next turn replays the branch from memory, byte for
byte what the database holds, and never mistakes a new turn for an old one with the same id."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from sqlalchemy import event

from core.service import StudioService
from core.storage.sent_cache import SentCache
from core.values import Part, Turn, TurnStatus


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def _part_reads(service: StudioService) -> list[int]:
    """Turn ids whose stored parts, signatures included, were read (a replay's big read)."""
    seen: list[int] = []

    def on_execute(_conn, _cursor, statement, parameters, *_args) -> None:  # type: ignore[no-untyped-def]
        if "parts.signature" in statement and "FROM parts" in statement:
            values = parameters.values() if isinstance(parameters, dict) else parameters
            seen.extend(v for v in values if isinstance(v, int))

    event.listen(service.store.engine, "before_cursor_execute", on_execute)
    return seen


def test_the_next_turn_replays_the_branch_from_memory_exactly(settings, fake):
    warm = StudioService.from_settings(settings, backoff_factor=0.01)
    conversation = warm.new_conversation()
    for prompt in ("a red bicycle on a beach", "make it blue", "add a bell"):
        assert warm.send(conversation.id, prompt).ok
    history = {t.id for t in warm.conversation(conversation.id).turns}
    reads = _part_reads(warm)
    assert warm.send(conversation.id, "4K, 16:9").ok
    # Its whole history came from memory: only the new message's own parts were read.
    assert reads and not history & set(reads)
    sent_warm = fake.requests[-1]

    # A process with no cache (or a cold one) sends the very same contents for the same branch.
    cold = StudioService.from_settings(dataclasses.replace(settings, sent_cache_mb=0), backoff_factor=0.01)
    reads = _part_reads(cold)
    request = next(t for t in warm.conversation(conversation.id).turns if t.text == "4K, 16:9")
    assert cold.regenerate(cold.store.reply_to(request.id).id).ok
    assert history & set(reads), "without the cache the replay reads the stored parts"
    assert json.dumps(fake.requests[-1]["contents"]) == json.dumps(sent_warm["contents"])


def test_a_turn_written_again_under_the_same_id_is_read_afresh():
    cache = SentCache(10_000_000)
    then = dt.datetime(2026, 12, 1, 12, 0, 0, 1)
    old = Turn(id=7, conversation_id="c", role="model", position=1, status=TurnStatus.OK, parts=[Part("text", "old")])
    new = dataclasses.replace(old, parts=[Part("text", "new")])
    loads: list[set[int]] = []

    def load(ids: set[int]) -> dict[int, Turn]:
        loads.append(ids)
        return {7: new}

    cache.keep(old, then)
    assert cache.turns({7}, lambda ids: {7: then}, load)[7].parts[0].text == "old"
    assert loads == []
    # SQLite may reuse the id of a deleted row: the moment it was written tells them apart.
    later = then + dt.timedelta(microseconds=1)
    assert cache.turns({7}, lambda ids: {7: later}, load)[7].parts[0].text == "new"
    assert loads == [{7}]


def test_the_cache_stays_within_its_bound_and_skips_turns_in_flight():
    cache = SentCache(2_000)
    stamp = dt.datetime(2026, 12, 1)
    turns = [
        Turn(id=i, conversation_id="c", role="model", position=i, status=TurnStatus.OK, parts=[Part("text", "x" * 500)])
        for i in range(6)
    ]
    for turn in turns:
        cache.keep(turn, stamp)
    assert cache._bytes <= 2_000
    assert cache._get(("turn", 5, stamp)) is not None and cache._get(("turn", 0, stamp)) is None
    running = dataclasses.replace(turns[0], id=99, status=TurnStatus.RUNNING)
    cache.keep(running, stamp)
    assert cache._get(("turn", 99, stamp)) is None
