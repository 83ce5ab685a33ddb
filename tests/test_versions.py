"""Versions and branches: each request replays exactly the exchanges on its branch, from the
start to the version it edits (the strict fake checks every model part and signature)."""

from __future__ import annotations

import dataclasses
import io
import json
import random
import time
import zipfile

import pytest
from PIL import Image

from core.media import marks as marking
from core.team.people import LOCAL_EMAIL, User
from core.values import TurnStatus

ME = User(email=LOCAL_EMAIL, name="you", is_admin=True)


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def sent(fake) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    """The last request's user words, and its model turns as JSON (to compare with what was issued)."""
    contents = fake.requests[-1]["contents"]
    users = [p.get("text", "") for c in contents if c["role"] == "user" for p in c["parts"] if "text" in p]
    models = [json.dumps(c, sort_keys=True) for c in contents if c["role"] == "model"]
    return users, models


def issued(fake, *indexes: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [json.dumps(fake.issued[i], sort_keys=True) for i in indexes]


def test_a_tree_of_four_branches_replays_exactly_its_own_path(service, fake):
    c = service.new_conversation()
    v1 = service.send(c.id, "a bicycle").reply
    v2 = service.send(c.id, "make it blue").reply
    service.send(c.id, "add a bell")
    assert sent(fake) == (["a bicycle", "make it blue", "add a bell"], issued(fake, 0, 1))
    # Branch B from the first version.
    service.turns.branch(v1.id)
    service.send(c.id, "make it green")
    assert sent(fake) == (["a bicycle", "make it green"], issued(fake, 0))
    # Branch C from the second.
    service.turns.branch(v2.id)
    v5 = service.send(c.id, "add a basket").reply
    assert sent(fake) == (["a bicycle", "make it blue", "add a basket"], issued(fake, 0, 1))
    # Branch D: another take of the very first answer, then on from it.
    take = service.regenerate(v1.id)
    assert sent(fake) == (["a bicycle"], [])
    service.send(c.id, "make it red")
    assert sent(fake) == (["a bicycle", "make it red"], issued(fake, 5))
    # Back to C, and on there: nothing from the other branches.
    service.turns.branch(v5.id)
    service.send(c.id, "at night")
    assert sent(fake) == (["a bicycle", "make it blue", "add a basket", "at night"], issued(fake, 0, 1, 4))
    tree = service.as_user(ME).versions.tree(c.id)
    assert len(tree.versions) == 8
    assert [v.prompt for v in tree.path()] == ["a bicycle", "make it blue", "add a basket", "at night"]
    assert {v.prompt for v in tree.siblings(v1.id)} == {"a bicycle"} and len(tree.siblings(v1.id)) == 2
    assert take.reply is not None and tree.by_reply[take.reply.id].parent_id is None
    # The chat shows the current branch only.
    shown = [e.request.text for e in service.conversation(c.id).shown]
    assert shown == ["a bicycle", "make it blue", "add a basket", "at night"]


def test_edit_and_resend_an_answered_prompt_makes_a_sibling_branch(service, fake):
    c = service.new_conversation()
    service.send(c.id, "a bicycle")
    second = service.send(c.id, "make it blue")
    service.send(c.id, "add a bell")
    turn = service.queue_resend(second.request.id, "make it yellow")
    deadline = time.time() + 20
    while service.store.turn(turn.id).status.in_flight and time.time() < deadline:
        time.sleep(0.02)
    assert sent(fake) == (["a bicycle", "make it yellow"], issued(fake, 0))
    after = service.conversation(c.id)
    assert service.store.turn(second.request.id).status == TurnStatus.OK  # the old branch stays
    assert [e.request.text for e in after.path] == ["a bicycle", "make it yellow"]


def test_variations_land_out_of_order_as_siblings_and_the_chosen_one_is_replayed(service, fake):
    c = service.new_conversation()
    v1 = service.send(c.id, "a bicycle").reply
    rng = random.Random(3)
    fake.during_call = lambda body: time.sleep(rng.uniform(0.05, 0.4))
    takes = service.queue_takes(c.id, "make it blue", takes=3)
    assert len(takes) == 3 and all(t.parent_id == v1.id for t in takes)
    deadline = time.time() + 30
    while any(service.store.turn(t.id).status.in_flight for t in takes) and time.time() < deadline:
        time.sleep(0.02)
    fake.during_call = None
    tree = service.as_user(ME).versions.tree(c.id)
    made = [v for v in tree.versions if v.parent_id == v1.id]
    assert len(made) == 3
    first_landed = min(made, key=lambda v: v.created_at)
    assert tree.tip_id == first_landed.reply_id  # the first to land is current; the others wait beside it
    chosen = next(v for v in made if v.reply_id != tree.tip_id)
    service.turns.branch(chosen.reply_id)
    service.send(c.id, "add a bell")
    index = next(i for i, content in enumerate(fake.issued) if json.dumps(content, sort_keys=True) in sent(fake)[1][1:])
    assert sent(fake)[0] == ["a bicycle", "make it blue", "add a bell"]
    assert sent(fake)[1] == issued(fake, 0, index)
    # Each take is its own row in the ledger: three turns against the limits.
    from sqlalchemy import func, select

    from core.storage.schema import LedgerRow

    with service.store.read() as db:
        assert db.scalar(select(func.count()).where(LedgerRow.turn_id.in_([t.id for t in takes]))) == 3


def test_branching_from_a_version_whose_later_turns_were_left_out_for_size(service, fake):
    fake.signature_bytes = 300_000
    service.settings = dataclasses.replace(service.settings, max_request_mb=1.0)
    c = service.new_conversation()
    v1 = service.send(c.id, "a bicycle").reply
    for n in range(5):
        service.send(c.id, f"edit {n}")
    full = service.turns.meter(service.conversation(c.id))
    assert full.dropped  # the long branch no longer fits whole
    service.turns.branch(v1.id)
    short = service.turns.meter(service.conversation(c.id))
    # The meter works per branch: the short one makes the next request small again.
    assert not short.dropped and short.full_bytes < full.full_bytes / 4
    service.send(c.id, "make it green")
    assert sent(fake) == (["a bicycle", "make it green"], issued(fake, 0))


def test_marked_regions_compare_and_export(service, fake):
    fake.image_size = (200, 120)
    ws = service.as_user(ME)
    c = service.new_conversation()
    v1 = service.send(c.id, "a bicycle").reply
    v2 = service.send(c.id, "make it blue").reply
    image = v2.result_image.image_hash
    turn, error = ws.versions.mark(c.id, image, "", [{"x0": 0.1, "y0": 0.2, "x1": 0.5, "y1": 0.6, "note": "a bell"}])
    box = {"kind": "box", "x0": 0.1, "y0": 0.2, "x1": 0.5, "y1": 0.6, "note": "a bell"}
    assert error is None and turn.marks == [box]
    deadline = time.time() + 20
    while service.store.turn(turn.id).status.in_flight and time.time() < deadline:
        time.sleep(0.02)
    last = fake.requests[-1]["contents"][-1]["parts"]
    assert "Box 1: a bell" in last[0]["text"] and "inlineData" in last[1]
    import base64

    drawn = Image.open(io.BytesIO(base64.b64decode(last[1]["inlineData"]["data"])))
    assert drawn.size == (200, 120) and drawn.convert("RGB").getpixel((20, 60))[0] > 200  # the red box edge
    with pytest.raises(Exception, match="too small"):
        ws.versions.mark(c.id, image, "", [{"x0": 0.1, "y0": 0.1, "x1": 0.101, "y1": 0.5}])

    # A note missing with nothing said for all the marks: refused before anything is queued.
    before = len(service.store.conversation(c.id).turns)
    with pytest.raises(Exception, match="Say what to change in mark 1"):
        ws.versions.mark(c.id, image, "  ", [{"x0": 0.1, "y0": 0.1, "x1": 0.5, "y1": 0.5}])
    assert len(service.store.conversation(c.id).turns) == before

    both = ws.versions.compare(c.id, v1.id, v2.id, 0.5)
    assert Image.open(io.BytesIO(both)).size == (200, 120)

    archive = zipfile.ZipFile(io.BytesIO(ws.versions.export(c.id)))
    names = sorted(archive.namelist())
    assert names == ["001.png", "002.png", "003.png", "prompts.json", "prompts.md"]
    log = json.loads(archive.read("prompts.json"))
    # The person's own words in `prompt` (here the mark's note: nothing was typed for all the
    # marks), the instruction the studio added beside them; version numbers, not turn ids.
    assert [v["prompt"] for v in log["versions"]] == ["a bicycle", "make it blue", "a bell"]
    assert "instruction" not in log["versions"][0]
    assert log["versions"][2]["instruction"].startswith("The second image is the first")
    assert "Box 1: a bell" in log["versions"][2]["instruction"]
    assert [v["made_from"] for v in log["versions"]] == [None, 1, 2]
    assert log["versions"][0]["person"] == LOCAL_EMAIL and log["versions"][0]["cost_usd"] > 0
    assert "## Version 2" in archive.read("prompts.md").decode()

    # The versions the person starred (in the gallery), or a hand-picked set, instead of the branch.
    ws.favourite(v1.id)
    assert [v.reply_id for v in ws.versions.starred(c.id)] == [v1.id]
    starred = [v.reply_id for v in ws.versions.starred(c.id)]
    chosen = zipfile.ZipFile(io.BytesIO(ws.versions.export(c.id, chosen=starred)))
    assert sorted(chosen.namelist()) == ["001.png", "prompts.json", "prompts.md"]
    with pytest.raises(Exception, match="Choose at least one"):
        ws.versions.export(c.id, chosen=[])
    other = service.new_conversation()
    elsewhere = service.send(other.id, "a kite").reply
    with pytest.raises(Exception, match="not part of this conversation"):
        ws.versions.export(c.id, chosen=[elsewhere.id])


def test_brush_strokes_beside_boxes_are_painted_numbered_and_described(service, fake):
    fake.image_size = (200, 100)
    ws = service.as_user(ME)
    c = service.new_conversation()
    image = service.send(c.id, "a street").reply.result_image.image_hash
    line = [[0.6, 0.5], [0.7, 0.5], [0.9, 0.5]]
    stroke = {"kind": "stroke", "points": line, "width": 0.05, "note": "remove this logo"}
    box = {"kind": "box", "x0": 0.05, "y0": 0.1, "x1": 0.3, "y1": 0.9}
    turn, error = ws.versions.mark(c.id, image, "keep the light as it is", [box, stroke])
    assert error is None and [m["kind"] for m in turn.marks] == ["box", "stroke"]
    assert turn.marks[1]["points"] == line and turn.marks[1]["note"] == "remove this logo"
    deadline = time.time() + 20
    while service.store.turn(turn.id).status.in_flight and time.time() < deadline:
        time.sleep(0.02)
    text, drawn = fake.requests[-1]["contents"][-1]["parts"][:2]
    assert text["text"].splitlines()[0] == "keep the light as it is"
    assert "numbered boxes and numbered painted areas" in text["text"]
    assert "Box 1: the change above" in text["text"] and "Painted area 2: remove this logo" in text["text"]
    import base64

    picture = Image.open(io.BytesIO(base64.b64decode(drawn["inlineData"]["data"]))).convert("RGB")
    original = Image.open(io.BytesIO(service.images.download(image)[0])).convert("RGB")
    # Under the stroke the image is tinted blue (mark 2's colour) but still shows through; off it, untouched.
    under, plain = picture.getpixel((175, 50)), original.getpixel((175, 50))
    alpha = 140 / 255
    blended = [p * (1 - alpha) + c * alpha for p, c in zip(plain, marking.COLOURS[1], strict=True)]
    assert all(abs(u - b) <= 3 for u, b in zip(under, blended, strict=True)), (under, plain)
    assert picture.getpixel((120, 10)) == original.getpixel((120, 10))
    # A long drag is thinned, not refused; malformed strokes and too many marks are refused by number.
    long = {"kind": "stroke", "points": [[i / 5000, 0.5] for i in range(5000)], "note": "x"}
    assert len(marking.clean_marks([long])[0]["points"]) == marking.MAX_POINTS
    with pytest.raises(Exception, match="Mark 1 is not a brush stroke"):
        marking.clean_marks([{"kind": "stroke", "points": "everywhere"}])
    with pytest.raises(Exception, match="more than the 12"):
        marking.clean_marks([box] * 13)


def test_export_names_versions_by_number_and_keeps_the_persons_words_for_a_marked_region(service, fake):
    from core.media.marks import file_stem, instruction, own_words

    ws = service.as_user(ME)
    c = service.new_conversation()
    v1 = service.send(c.id, "a red bicycle on a beach").reply
    service.send(c.id, "make it blue")
    ws.versions.branch(v1.id)  # back to version 1: the next one is made from it, not from 2
    image = v1.result_image.image_hash
    box = {"x0": 0.1, "y0": 0.2, "x1": 0.5, "y1": 0.6, "note": "a bell here"}
    turn, error = ws.versions.mark(c.id, image, "Make these gold\nand shiny", [box])
    assert error is None
    deadline = time.time() + 20
    while service.store.turn(turn.id).status.in_flight and time.time() < deadline:
        time.sleep(0.02)
    tree = ws.versions.tree(c.id)
    assert [(v.number, v.made_from) for v in tree.versions] == [(1, None), (2, 1), (3, 1)]
    marked = tree.versions[2]
    assert marked.prompt == "Make these gold\nand shiny"
    assert marked.sent is not None and marked.sent.startswith("Make these gold\nand shiny\nThe second image")
    names = ["v1-a-red-bicycle-on-a-beach", "v2-make-it-blue", "v3-make-these-gold-and-shiny"]
    assert [v.file_name for v in tree.versions] == names
    log = json.loads(zipfile.ZipFile(io.BytesIO(ws.versions.export(c.id))).read("prompts.json"))
    assert [(v["version"], v["made_from"], v["prompt"]) for v in log["versions"]] == [
        (1, None, "a red bicycle on a beach"),
        (3, 1, "Make these gold\nand shiny"),
    ]
    assert "Box 1: a bell here" in log["versions"][1]["instruction"]
    # Words that only look like the studio's are the person's own, kept whole.
    odd = "The second image is the first with numbered boxes drawn on it; change only inside"
    assert own_words(odd, [{**box, "kind": "box"}]) == odd
    marks = [{**box, "kind": "box"}]
    assert own_words(instruction("", marks), marks) == "a bell here"
    assert file_stem("Ünïcode façade: 4K, 16:9!!") == "unicode-facade-4k-16-9"
    assert file_stem("") == ""
