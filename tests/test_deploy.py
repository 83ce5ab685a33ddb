"""Deploys lose nothing: a draining process finishes its calls and hands back what it has not
started; a queue-only web process leaves turns to workers; `python -m core.worker` drains on
SIGTERM. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from core.service import StudioService
from core.values import TurnStatus
from tests.conftest import API_KEY, ROOT


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_drain_finishes_the_call_out_and_another_process_runs_what_waited(settings, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    leaving = StudioService.from_settings(settings, backoff_factor=0.01, workers=1)
    first, second = leaving.new_conversation().id, leaving.new_conversation().id
    running = leaving.queue(first, "a slow lighthouse")
    waiting = leaving.queue(second, "a harbour at dawn")  # behind the only worker
    wait_for(lambda: len(fake.requests) == 1)

    report: list = []
    drainer = threading.Thread(target=lambda: report.append(leaving.runner.drain(20)))
    drainer.start()
    # What had not started goes back to the shared queue at once, held by nobody.
    wait_for(lambda: leaving.store.turn(waiting.id).lease_owner is None)
    assert leaving.store.turn(waiting.id).status == TurnStatus.QUEUED
    assert leaving.draining
    # A message sent to the draining process meanwhile waits for another process too.
    third = leaving.new_conversation().id
    late = leaving.queue(third, "a boat at noon")
    assert leaving.store.turn(late.id).lease_owner is None

    release.set()
    drainer.join(20)
    assert report and report[0].finished == 1 and report[0].left == 0 and report[0].released == 1
    assert leaving.store.turn(running.id).status == TurnStatus.OK
    leaving.close()

    staying = StudioService.from_settings(settings, backoff_factor=0.01)
    wait_for(lambda: staying.store.turn(waiting.id).status == TurnStatus.OK)
    wait_for(lambda: staying.store.turn(late.id).status == TurnStatus.OK)
    # Every turn went to the service exactly once.
    assert len(fake.requests) == 3


def test_a_drain_that_runs_out_of_time_leaves_the_call_to_the_lease_rules(settings, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    short = dataclasses.replace(settings, lease_s=2.0)
    leaving = StudioService.from_settings(short, backoff_factor=0.01)
    turn = leaving.queue(leaving.new_conversation().id, "a slow lighthouse")
    wait_for(lambda: len(fake.requests) == 1)
    report = leaving.runner.drain(0.3)
    assert report.left == 1 and report.finished == 0
    # The heartbeat still holds it: nothing is interrupted while the process lives.
    time.sleep(2.5)
    assert leaving.store.turn(turn.id).status == TurnStatus.RUNNING
    leaving.runner._stop.set()  # the SIGKILL after the grace period: no more heartbeats
    other = StudioService.from_settings(short, backoff_factor=0.01)
    wait_for(lambda: (other.runner.beat(), other.store.turn(turn.id).status)[1] == TurnStatus.INTERRUPTED, 10)
    release.set()
    assert len(fake.requests) == 1


def test_a_queue_only_web_process_leaves_its_turns_to_a_worker(settings, fake):
    web = StudioService.from_settings(dataclasses.replace(settings, run_turns=False), backoff_factor=0.01)
    worker = StudioService.from_settings(dataclasses.replace(settings, worker_poll_s=0.2), backoff_factor=0.01)
    conversation = web.new_conversation()
    turn = web.queue(conversation.id, "a red bicycle on a beach")
    wait_for(lambda: web.store.turn(turn.id).status == TurnStatus.OK)
    assert web.runner.held == set() and len(fake.requests) == 1
    # The next message edits that result, as ever: the worker replays the whole branch.
    second = web.queue(conversation.id, "make it blue", seen=web.conversation(conversation.id).version)
    wait_for(lambda: web.store.turn(second.id).status == TurnStatus.OK)
    assert [c["role"] for c in fake.requests[-1]["contents"]] == ["user", "model", "user"]
    worker.close()


def test_waiting_turns_outlive_a_lease_while_a_worker_lives(settings, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    short = dataclasses.replace(settings, lease_s=1.0, worker_poll_s=0.2)
    web = StudioService.from_settings(dataclasses.replace(short, run_turns=False), backoff_factor=0.01)
    worker = StudioService.from_settings(short, backoff_factor=0.01, workers=1)
    busy = web.queue(web.new_conversation().id, "first")
    wait_for(lambda: len(fake.requests) == 1)
    behind = web.queue(web.new_conversation().id, "second")
    time.sleep(3)  # three leases: the worker keeps the waiting turn alive
    worker.runner.beat()
    assert web.store.turn(behind.id).status == TurnStatus.QUEUED
    release.set()
    wait_for(lambda: web.store.turn(behind.id).status == TurnStatus.OK)
    assert web.store.turn(busy.id).status == TurnStatus.OK
    worker.close()


def test_a_worker_wakes_on_notify_on_postgresql(fake, settings, postgres_url):
    pg = dataclasses.replace(settings, database_url=postgres_url)
    web = StudioService.from_settings(dataclasses.replace(pg, run_turns=False), backoff_factor=0.01)
    # A poll this slow would take 30 s: only the notification can wake the worker sooner.
    worker = StudioService.from_settings(dataclasses.replace(pg, worker_poll_s=30), backoff_factor=0.01)
    time.sleep(1)  # the worker's first look found nothing and it listens
    started = time.monotonic()
    turn = web.queue(web.new_conversation().id, "a red bicycle on a beach")
    wait_for(lambda: len(fake.requests) == 1, 10)
    assert time.monotonic() - started < 5
    wait_for(lambda: web.store.turn(turn.id).status == TurnStatus.OK)
    worker.close()


def test_the_worker_entry_drains_on_sigterm(settings, fake, tmp_path):
    started = threading.Event()

    def slow(body) -> None:  # type: ignore[no-untyped-def]
        started.set()
        time.sleep(3)

    fake.during_call = slow
    web = StudioService.from_settings(dataclasses.replace(settings, run_turns=False), backoff_factor=0.01)
    env = {
        **os.environ,
        "COMETAPI_KEY": API_KEY,
        "COMETAPI_BASE_URL": settings.base_url,
        "DATABASE_URL": settings.database_url,
        "STUDIO_DRAIN_S": "30",
        "STUDIO_WORKER_POLL_S": "0.2",
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "core.worker"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        turn = web.queue(web.new_conversation().id, "a slow lighthouse")
        assert started.wait(30), (tmp_path / "worker.log").read_text()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        # Exited only after the answer was stored: ok, one call, no second one.
        assert web.store.turn(turn.id).status == TurnStatus.OK
        assert len(fake.requests) == 1
        assert "drained: 1 call(s) finished" in (tmp_path / "worker.log").read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
