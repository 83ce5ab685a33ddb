"""Housekeeping at the edges: what deleting forever (and the trash's 30 days) keeps, and how the
clean-up runs beside the lease heartbeat and across replicas. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import time

import pytest
from PIL import Image
from sqlalchemy import update

from core.storage.schema import ConversationRow, ImageRow, utcnow
from core.team.people import User
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
    photo = service.images.add_upload(image_bytes((300, 200), (10, 120, 200)), "photo.png").image
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
    photo = service.images.add_upload(image_bytes((300, 200), (200, 120, 10)), "photo.png").image
    mine = ann.new_conversation()
    _done(service, ann.submit(mine.id, "brighter", [photo.hash])[0])
    _age_everything(service)
    ann.delete(mine.id)
    ann.delete_forever(mine.id)
    assert service.images.store.info(photo.hash) is None
    assert service.images.store.info(photo.original_hash) is None
