"""The current version (the tip) moves only forward, and a tab's message edits the version that
tab showed; on SQLite and PostgreSQL.

Before: a refused message wrote back a tip read before an answer landed (the next turn edited
the older image, with the latest result left out of its history), and the "no silent fork"
check compared only the newest turn, so after *Use this one* in another tab a message went to
an image its author never saw."""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest

from core.errors import ConversationBusy, StaleConversation, StudioError
from core.service import StudioService
from core.team.people import User
from core.values import TurnStatus

ANN = User(email="ann@example.com", name="Ann")


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def user_texts(body) -> list[str]:  # type: ignore[no-untyped-def]
    return [p["text"] for c in body["contents"] if c["role"] == "user" for p in c["parts"] if "text" in p]


def overtaken_read(monkeypatch, service, land) -> None:  # type: ignore[no-untyped-def]
    """The next read of the conversation returns what it held, then `land()` (an answer lands)
    before the caller goes on to write: the race, made deterministic."""
    original = service.store.conversation
    armed = {"on": True}

    def read(*args, **kwargs):  # type: ignore[no-untyped-def]
        value = original(*args, **kwargs)
        if armed.pop("on", False):
            land()
        return value

    monkeypatch.setattr(service.store, "conversation", read)


def test_a_refused_message_never_puts_back_an_older_version(service, fake, monkeypatch):
    release = threading.Event()
    release.set()
    fake.during_call = lambda body: release.wait(20)
    conversation = service.new_conversation()
    first = service.send(conversation.id, "a red bicycle")
    release.clear()
    running = service.queue(conversation.id, "make it blue")
    wait_for(lambda: len(fake.requests) == 2)

    def land() -> None:
        release.set()
        wait_for(lambda: service.store.turn(running.id).status == TurnStatus.OK)
        wait_for(lambda: service.store.tip(conversation.id) != first.reply.id)

    overtaken_read(monkeypatch, service, land)
    # A message refused because that turn was running: it is kept as a failed turn...
    refused = service.turns.reject(conversation.id, "add a bell", [], ConversationBusy("busy"))
    assert refused.status == TurnStatus.FAILED
    newest = service.store.reply_to(running.id)
    # ...and the current version is still the answer that landed meanwhile.
    assert service.store.tip(conversation.id) == newest.id
    assert service.send(conversation.id, "add a basket").ok
    assert user_texts(fake.requests[-1]) == ["a red bicycle", "make it blue", "add a basket"]


def test_a_send_whose_read_was_overtaken_edits_the_version_that_landed(service, fake, monkeypatch):
    release = threading.Event()
    release.set()
    fake.during_call = lambda body: release.wait(20)
    conversation = service.new_conversation()
    service.send(conversation.id, "a lighthouse")
    release.clear()
    running = service.queue(conversation.id, "at night")
    wait_for(lambda: len(fake.requests) == 2)

    def land() -> None:
        release.set()
        wait_for(lambda: service.store.reply_to(running.id) is not None)

    overtaken_read(monkeypatch, service, land)
    sent = service.turns.start(conversation.id, "with fog")  # read before "at night" landed
    assert sent.parent_id == service.store.reply_to(running.id).id
    assert service.runner.submit(sent.id).result().ok
    assert user_texts(fake.requests[-1]) == ["a lighthouse", "at night", "with fog"]


def test_many_sends_at_once_from_two_processes_never_fork_or_go_back(settings, fake, monkeypatch):
    """The issue's run: 20 sends at once from two processes while answers land, 3 rounds. Each
    read of the conversation is slowed a little, as on a loaded server, to widen the window."""
    fake.during_call = lambda body: time.sleep(0.05)
    services = [StudioService.from_settings(settings, backoff_factor=0.01) for _ in range(2)]
    for svc in services:
        original = svc.store.conversation

        def slowed(*args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            value = _original(*args, **kwargs)
            time.sleep(random.uniform(0, 0.03))
            return value

        monkeypatch.setattr(svc.store, "conversation", slowed)
    people = [svc.as_user(ANN) for svc in services]
    conversation = people[0].new_conversation()
    assert services[0].send(conversation.id, "round 0").ok
    for round_ in range(1, 4):
        start = threading.Barrier(20)

        def send(n: int, round_: int = round_, start: threading.Barrier = start) -> None:
            start.wait()
            people[n % 2].submit(conversation.id, f"round {round_} message {n}", [])

        threads = [threading.Thread(target=send, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_for(lambda: not services[0].conversation(conversation.id).in_flight)
    final = services[0].conversation(conversation.id)
    answered = [e for e in final.exchanges if e.replayable]
    assert len(answered) >= 2
    # Every answer was made from the one before it (no fork), and the tip is the newest answer.
    for before, after in itertools.pairwise(answered):
        assert after.request.parent_id == before.reply.id
    assert final.tip_id == answered[-1].reply.id
    assert services[0].send(conversation.id, "the next one").ok
    expected = [e.request.text for e in answered] + ["the next one"]
    assert user_texts(fake.requests[-1]) == expected  # every user turn of the branch


def two_versions(service, fake):  # type: ignore[no-untyped-def]
    ann = service.as_user(ANN)
    conversation = ann.new_conversation()
    first = service.send(conversation.id, "a teapot")
    second = service.send(conversation.id, "make it green")
    return ann, conversation, first, second


def test_a_tab_showing_the_old_version_is_not_sent_after_branch_from_here_elsewhere(service, fake):
    ann, conversation, first, _second = two_versions(service, fake)
    tab_a = ann.conversation(conversation.id).seen  # shows "make it green"
    ann.versions.branch(first.reply.id)  # tab B: Branch from here on the first teapot
    requests = len(fake.requests)
    turn, error = ann.submit(conversation.id, "add steam", [], seen=tab_a)
    assert isinstance(error, StaleConversation) and "current version changed" in error.message
    assert turn.status == TurnStatus.FAILED and turn.error_kind == "stale"  # Not sent, with Send again
    assert len(fake.requests) == requests  # nothing went to the service
    assert service.store.tip(conversation.id) == first.reply.id  # the not-sent turn moved nothing
    # Send again, from the tab that now shows the teapot B chose: it edits that one.
    again = ann.queue_retry(turn.id, seen=ann.conversation(conversation.id).seen)
    wait_for(lambda: service.store.turn(again.id).status == TurnStatus.OK)
    assert user_texts(fake.requests[-1]) == ["a teapot", "add steam"]


def test_a_tab_showing_the_old_version_is_not_sent_after_use_this_one_elsewhere(service, fake):
    ann = service.as_user(ANN)
    conversation = ann.new_conversation()
    assert service.send(conversation.id, "a chair").ok
    with_arms = service.send(conversation.id, "with arms")
    ann.versions.takes(with_arms.reply.id, 2)  # two more takes beside it
    wait_for(lambda: not service.conversation(conversation.id).in_flight)
    shown = ann.conversation(conversation.id)
    tab_a = shown.seen
    other = next(
        e.reply
        for e in shown.exchanges
        if e.replayable and e.request.text == "with arms" and e.reply is not None and e.reply.id != shown.tip_id
    )
    ann.versions.branch(other.id)  # tab B: Use this one on the other take
    turn, error = ann.submit(conversation.id, "in oak", [], seen=tab_a)
    assert isinstance(error, StaleConversation)
    assert turn.error_kind == "stale" and service.store.tip(conversation.id) == other.id
    # Another take, Retry and Edit and resend from the old view are refused the same way.
    for action in (
        lambda: ann.queue_regenerate(other.id, seen=tab_a),
        lambda: ann.queue_resend(turn.id, "in walnut", seen=tab_a),
    ):
        with pytest.raises(StaleConversation):
            action()
    # The same message from a tab that shows the chosen take goes, against it.
    sent = ann.queue(conversation.id, "in oak", seen=ann.conversation(conversation.id).seen)
    assert sent.parent_id == other.id


def test_a_stale_view_is_still_caught_by_its_newest_turn(service, fake):
    ann = service.as_user(ANN)
    conversation = ann.new_conversation()
    tab_a = ann.conversation(conversation.id).seen
    service.turns.reject(conversation.id, "a refused one", [], StudioError("no"))  # the tip stays None
    with pytest.raises(StaleConversation):
        ann.queue(conversation.id, "hello", seen=tab_a)


SENDER = """
import sys, threading, time
sys.path.insert(0, {root!r})
from core.config import load_settings
from core.service import StudioService
from core.team.people import User

settings = load_settings({env!r})
svc = StudioService.from_settings(settings, backoff_factor=0.01)
person = svc.as_user(User(email="ann@example.com", name="Ann"))
for round_, start in enumerate({starts!r}, start=1):
    while time.time() < start:
        time.sleep(0.001)
    words = [f"process {{sys.argv[1]}} round {{round_}} #{{n}}" for n in range(10)]
    threads = [threading.Thread(target=person.submit, args=({conversation!r}, w, [])) for w in words]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
deadline = time.time() + 60
while svc.runner.held and time.time() < deadline:
    time.sleep(0.05)
svc.close()
"""


def test_twenty_sends_at_once_from_two_real_processes_keep_one_line(settings, fake, tmp_path):
    """The issue's run as it was reported: two server processes, 10 sends each at the same
    moment, in 3 rounds, while the answers of earlier sends land."""
    import subprocess
    import sys

    from tests.conftest import API_KEY, ROOT

    fake.during_call = lambda body: time.sleep(0.05)
    service = StudioService.from_settings(settings, backoff_factor=0.01)
    conversation = service.as_user(ANN).new_conversation()
    assert service.send(conversation.id, "round 0").ok
    env = {
        "COMETAPI_KEY": API_KEY,
        "COMETAPI_BASE_URL": settings.base_url,
        "DATABASE_URL": settings.database_url,
        "STUDIO_READ_TIMEOUT_S": "10",
    }
    now = time.time() + 4  # both processes are up by then
    starts = [now, now + 1.5, now + 3.0]
    script = tmp_path / "sender.py"
    script.write_text(SENDER.format(root=str(ROOT), env=env, starts=starts, conversation=conversation.id))
    processes = [subprocess.Popen([sys.executable, str(script), str(n)], cwd=ROOT) for n in (1, 2)]
    for process in processes:
        assert process.wait(timeout=120) == 0
    wait_for(lambda: not service.conversation(conversation.id).in_flight)
    final = service.conversation(conversation.id)
    answered = [e for e in final.exchanges if e.replayable]
    assert len(answered) >= 2 and len([t for t in final.turns if t.role == "user"]) == 61
    for before, after in itertools.pairwise(answered):
        assert after.request.parent_id == before.reply.id  # one line: no fork
    assert final.tip_id == answered[-1].reply.id  # and the tip is its newest answer
    assert service.send(conversation.id, "the next one").ok
    assert user_texts(fake.requests[-1]) == [e.request.text for e in answered] + ["the next one"]
