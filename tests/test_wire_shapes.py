"""Every image the service returns is shown, whatever the key order, spelling or extra keys of
its part, and every answer still replays byte for byte (the strict fake compares model turns
order-sensitively): storage for replay and reading for display are separate concerns."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import zipfile

import pytest
from sqlalchemy import text

from core.provider.wire import part_from_wire, part_to_wire
from core.storage.database import make_engine, migrate
from core.team.people import LOCAL_EMAIL, User
from tests.fake_gemini import image_bytes

ME = User(email=LOCAL_EMAIL, name="you", is_admin=True)
JPEG = image_bytes((48, 32), (20, 160, 220), fmt="JPEG")
DATA = base64.b64encode(JPEG).decode()
SIG = "CiQB" + "x/y+Z" * 200
WRAPPED = "\n".join(DATA[i : i + 76] for i in range(0, len(DATA), 76))
DRAFT = base64.b64encode(image_bytes((8, 8))).decode()


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def shapes() -> dict[str, list[dict]]:
    """Answers' parts, in the shapes real services and proxies send."""
    return {
        "canonical": [{"inlineData": {"mimeType": "image/jpeg", "data": DATA}, "thoughtSignature": SIG}],
        "data first (sorted keys)": [{"inlineData": {"data": DATA, "mimeType": "image/jpeg"}, "thoughtSignature": SIG}],
        "signature first": [{"thoughtSignature": SIG, "inlineData": {"mimeType": "image/jpeg", "data": DATA}}],
        "snake, data first": [{"inline_data": {"data": DATA, "mime_type": "image/jpeg"}, "thought_signature": SIG}],
        "mixed spelling": [{"inline_data": {"mimeType": "image/jpeg", "data": DATA}, "thoughtSignature": SIG}],
        "extra keys inside and around": [
            {
                "partMetadata": {"x": 1},
                "inlineData": {"displayName": "out.jpg", "data": DATA, "mimeType": "image/jpeg"},
                "thoughtSignature": SIG,
                "videoMetadata": None,
            }
        ],
        "no mime type": [{"inlineData": {"data": DATA}, "thoughtSignature": SIG}],
        "line-wrapped base64": [{"inlineData": {"mimeType": "image/jpeg", "data": WRAPPED}}],
        # A Gemini 3 Pro Image answer as recorded from the live API through a key-sorting proxy.
        "gemini 3 pro image, signed text + signed jpeg": [
            {"text": "Here is the lighthouse at dusk.", "thoughtSignature": SIG[:300]},
            {"inlineData": {"data": DATA, "mimeType": "image/jpeg"}, "thoughtSignature": SIG},
        ],
        "thought draft before, sorted keys": [
            {"text": "Sketching the scene", "thought": True},
            {"inlineData": {"data": DRAFT, "mimeType": "image/png"}, "thought": True},
            {"thoughtSignature": SIG, "text": "Done."},
            {"inlineData": {"data": DATA, "mimeType": "image/jpeg"}, "thoughtSignature": SIG},
        ],
    }


@pytest.mark.parametrize("name", list(shapes()))
def test_every_image_shape_is_shown_counted_in_the_gallery_and_replayed_exactly(service, fake, name):
    parts = shapes()[name]
    content = {"role": "model", "parts": parts}
    fake.then(fake.custom(content))
    ws = service.as_user(ME)
    conversation = service.new_conversation()
    outcome = service.send(conversation.id, "a lighthouse")
    assert outcome.ok, outcome.error
    image = outcome.reply.result_image
    assert image is not None and service.images.data(image.image_hash) == JPEG  # shown: the very bytes
    assert service.images.preview(image.image_hash) is not None
    shown = service.conversation(conversation.id)
    assert shown.latest_image.image_hash == image.image_hash
    if any(p.get("text") == "Here is the lighthouse at dusk." for p in parts):
        assert shown.turns[-1].text == "Here is the lighthouse at dusk."
    # Counted as a result: in the Gallery, the version strip, the conversation list and Export.
    assert [g.image_hash for g in ws.gallery()] == [image.image_hash]
    tree = ws.versions.tree(conversation.id)
    assert [v.image_hash for v in tree.versions] == [image.image_hash]
    assert service.store.conversations()[0].thumbnail_hash == image.image_hash
    archive = zipfile.ZipFile(io.BytesIO(ws.versions.export(conversation.id)))
    assert archive.read("001.jpg") == JPEG
    # Replayed exactly: the strict fake accepts only the very content it issued, keys in order.
    assert service.send(conversation.id, "at night").ok
    assert json.dumps(fake.requests[-1]["contents"][1]) == json.dumps(content)


def test_parts_round_trip_exactly_and_show_what_they_carry():
    for parts in shapes().values():
        for raw in parts:
            part, data = part_from_wire(raw)
            if data is not None:
                part = part.__class__(**{**part.__dict__, "image_hash": "h"})
            assert json.dumps(part_to_wire(part, lambda _h, d=data: base64.b64encode(d).decode())) == json.dumps(raw)
            if "inlineData" in raw or "inline_data" in raw:
                assert part.kind == "image" and data is not None
    # A part whose "image" is not base64 at all is kept whole and is no image.
    odd = {"inlineData": {"data": "not base64 at all!", "mimeType": "image/png"}}
    part, data = part_from_wire(odd)
    assert data is None and part.kind == "other" and part_to_wire(part, str) == odd


def test_stored_answers_recorded_as_no_image_show_after_the_upgrade_and_replay_exactly(db_url, fake, settings):
    """Before revision 0009 a data-first image part was kept whole in `extra`, as kind "other"."""
    engine = make_engine(db_url)
    migrate(engine, "0008")
    now = dt.datetime(2026, 11, 1)
    raw_text = {"text": "Here it is", "thoughtSignature": SIG[:100]}
    raw_image = {"inlineData": {"data": DATA, "mimeType": "image/jpeg"}, "thoughtSignature": SIG}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO conversations (id, title, model, settings, created_at, updated_at, owner, visibility) "
                "VALUES ('c1', 'old one', 'gemini-3-pro-image', '{}', :t, :t, :o, 'private')"
            ),
            {"t": now, "o": LOCAL_EMAIL},
        )
        for position, role in enumerate(["user", "model"]):
            conn.execute(
                text(
                    "INSERT INTO turns (conversation_id, role, position, status, settings, created_at, reply_to_id) "
                    "VALUES ('c1', :r, :p, 'ok', '{}', :t, (SELECT max(id) FROM turns WHERE conversation_id = 'c1'))"
                ),
                {"t": now, "p": position, "r": role},
            )
        request_id, reply_id = [r[0] for r in conn.execute(text("SELECT id FROM turns ORDER BY id"))]
        conn.execute(text("UPDATE turns SET reply_to_id = NULL WHERE id = :i"), {"i": request_id})
        conn.execute(text("UPDATE conversations SET tip_id = :i"), {"i": reply_id})
        conn.execute(
            text("INSERT INTO parts (turn_id, position, kind, text) VALUES (:i, 0, 'text', 'a lighthouse')"),
            {"i": request_id},
        )
        conn.execute(
            text("INSERT INTO parts (turn_id, position, kind, text, signature) VALUES (:i, 0, 'text', :t, :s)"),
            {"i": reply_id, "t": raw_text["text"], "s": raw_text["thoughtSignature"]},
        )
        conn.execute(
            text("INSERT INTO parts (turn_id, position, kind, extra) VALUES (:i, 1, 'other', :e)"),
            {"i": reply_id, "e": json.dumps(raw_image)},
        )
    engine.dispose()
    from core.service import StudioService

    service = StudioService.from_settings(settings, backoff_factor=0.01)
    try:
        ws = service.as_user(ME)
        reply = service.store.turn(reply_id)
        assert reply.result_image is not None and service.images.data(reply.result_image.image_hash) == JPEG
        assert service.images.preview(reply.result_image.image_hash) is not None  # made when first shown
        assert [g.reply_id for g in ws.gallery()] == [reply_id]
        assert [v.image_hash for v in ws.versions.tree("c1").versions] == [reply.result_image.image_hash]
        content = {"role": "model", "parts": [raw_text, raw_image]}
        fake.issued.append(content)  # what the service had sent back then
        assert service.send("c1", "at night").ok
        assert json.dumps(fake.requests[-1]["contents"][1]) == json.dumps(content)
    finally:
        service.close()
        service.store.engine.dispose()
