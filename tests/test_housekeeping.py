"""Housekeeping at the edges: what deleting forever (and the trash's 30 days) keeps, and how the
clean-up runs beside the lease heartbeat and across replicas. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import threading
import time

import pytest
from PIL import Image
from sqlalchemy import update

from core.storage.schema import ConversationRow, ImageRow, utcnow
from core.team.people import User
from core.values import TurnStatus
from tests.fake_gemini import image_bytes

ANN = User(email="ann@example.com", name="Ann")
BOB = User(email="bob@example.com", name="Bob")


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def _done(service, turn):
    deadline = time.monotonic() + 20
    while service.store.turn(turn.id).status.in_flight:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return service.store.turn(turn.id)


def _age_everything(service, days: int = 2) -> None:
    """Old enough that no tab can still hold them for a message not sent yet."""
    with service.store.write() as db:
        db.execute(update(ImageRow).values(created_at=utcnow() - dt.timedelta(days=days)))


def test_emptying_one_persons_trash_keeps_everyones_full_size_originals(service, fake):
    ann, bob = service.as_user(ANN), service.as_user(BOB)
    service.images.long_side = 64  # so a modest photo is sent downscaled, its original kept beside it
    photo = ann.upload(image_bytes((300, 200), (10, 120, 200)), "photo.png").image
    assert photo.original_hash and photo.width == 64
    mine = ann.new_conversation()
    turn, problem = ann.submit(mine.id, "make the sky purple", [photo.hash])
    assert problem is None and _done(service, turn).status.value == "ok"
    # Bob has his own work, deletes it, and empties his trash; so does the 30-day purge.
    his = bob.new_conversation()
    _done(service, bob.submit(his.id, "a lighthouse", [])[0])
    _age_everything(service)
    bob.delete(his.id)
    bob.delete_forever(his.id)
    gone = bob.new_conversation()
    bob.delete(gone.id)
    with service.store.write() as db:
        old = utcnow() - dt.timedelta(days=31)
        db.execute(update(ConversationRow).where(ConversationRow.id == gone.id).values(deleted_at=old))
    assert ann.purge_expired() == 1

    # Ann's Original download is still the full-size picture.
    data, mime = ann.download(mine.id, photo.hash)
    assert mime == "image/png" and Image.open(io.BytesIO(data)).size == (300, 200)
    # Mark a region draws on the original, and is sent.
    marked, problem = ann.versions.mark(
        mine.id, photo.hash, "make it red", [{"kind": "box", "x0": 0.1, "y0": 0.1, "x1": 0.4, "y1": 0.4}]
    )
    assert problem is None, problem
    assert _done(service, marked).status.value == "ok"


def test_deleting_forever_drops_an_original_with_the_last_upload_that_points_to_it(service, fake):
    ann = service.as_user(ANN)
    service.images.long_side = 64
    photo = ann.upload(image_bytes((300, 200), (200, 120, 10)), "photo.png").image
    mine = ann.new_conversation()
    _done(service, ann.submit(mine.id, "brighter", [photo.hash])[0])
    _age_everything(service)
    ann.delete(mine.id)
    ann.delete_forever(mine.id)
    assert service.images.store.info(photo.hash) is None
    assert service.images.store.info(photo.original_hash) is None


def test_a_slow_purge_never_delays_a_lease_renewal(settings, fake, monkeypatch):
    from core.service import StudioService
    from core.team.sharing import SharingStore

    purging = threading.Event()
    release = threading.Event()

    def slow_expired(self, now=None):  # a purge that takes longer than a whole lease
        purging.set()
        release.wait(20)
        return []

    monkeypatch.setattr(SharingStore, "expired", slow_expired)
    answer = threading.Event()
    fake.during_call = lambda body: answer.wait(20)
    svc = StudioService.from_settings(dataclasses.replace(settings, lease_s=3.0), backoff_factor=0.01)
    turn = svc.queue(svc.new_conversation().id, "a slow render")
    assert purging.wait(10)
    try:
        deadline = time.monotonic() + 6.5  # over two leases, the purge still going
        while time.monotonic() < deadline:
            now = utcnow()
            held = svc.store.turn(turn.id)
            assert held.status == TurnStatus.RUNNING or held.status == TurnStatus.QUEUED
            assert held.lease_until is not None and held.lease_until > now, "the lease lapsed during a purge"
            time.sleep(0.1)
    finally:
        release.set()
        answer.set()
    assert _done(svc, turn).status == TurnStatus.OK


def test_two_replicas_purging_the_same_conversations_both_succeed(settings, fake, service):
    from core.service import StudioService
    from core.storage.schema import AuditRow

    other = StudioService.from_settings(settings, backoff_factor=0.01)  # a second replica
    ann = service.as_user(ANN)
    old = [ann.new_conversation() for _ in range(3)]
    _done(service, ann.submit(old[0].id, "a kept sketch", [])[0])
    for conversation in old:
        ann.delete(conversation.id)
    with service.store.write() as db:
        db.execute(update(ConversationRow).values(deleted_at=utcnow() - dt.timedelta(days=31)))
    # Replica A listed the trash, then replica B purged all of it before A got to work.
    stale = service.sharing.expired()
    assert other.housekeeper.run_once().purged == 3
    service.sharing.expired = lambda now=None: stale  # type: ignore[method-assign]
    assert service.housekeeper.run_once().purged == 0  # found done: no error, nothing twice
    # And both at once, on fresh expired conversations.
    again = [ann.new_conversation() for _ in range(4)]
    for conversation in again:
        ann.delete(conversation.id)
    with service.store.write() as db:
        db.execute(update(ConversationRow).values(deleted_at=utcnow() - dt.timedelta(days=31)))
    del service.sharing.expired
    results: list[object] = []
    barrier = threading.Barrier(2)

    def run(svc) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            results.append(svc.housekeeper.run_once().purged)
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in (service, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(isinstance(r, int) for r in results) and sum(results) == 4, results  # type: ignore[arg-type]
    assert ann.conversations("trash") == []
    with service.store.read() as db:
        forever = db.query(AuditRow).filter(AuditRow.action == "deleted forever").count()
    assert forever == 7  # each conversation once


def test_housekeeping_sweeps_unused_images_but_keeps_originals_and_fresh_uploads(service, fake):
    service.images.long_side = 64
    kept = service.as_user(ANN).upload(image_bytes((300, 200), (1, 2, 3)), "kept.png").image
    _done(service, service.as_user(ANN).submit(service.as_user(ANN).new_conversation().id, "x", [kept.hash])[0])
    stray = service.images.add_upload(image_bytes((30, 20), (9, 9, 9)), "never-sent.png").image
    _age_everything(service)
    fresh = service.images.add_upload(image_bytes((300, 200), (4, 5, 6)), "fresh.png").image
    assert service.housekeeper.run_once().images == 1
    assert service.images.store.info(stray.hash) is None
    for image in (kept.hash, kept.original_hash, fresh.hash, fresh.original_hash):
        assert service.images.store.info(image) is not None
