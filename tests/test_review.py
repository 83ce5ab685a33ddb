"""Review in the core: comments, statuses, the inbox and the brand kit, for two people, an
admin, a demo visitor and a share-link reader, on SQLite and PostgreSQL. Whoever may not read
a conversation learns nothing of its comments or status either."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image
from sqlalchemy import select

from core.errors import Forbidden, InvalidInput, NotFound
from core.review.rules import Status, mentioned
from core.storage.schema import ImageRow, utcnow
from core.team.people import User, visitor
from core.values import TurnStatus
from tests.fake_gemini import image_bytes
from tests.test_access import wait_until

ANN = User(email="ann@example.com", name="Ann Lee")
BOB = User(email="bob@example.com", name="Bob")
CAROL = User(email="carol@example.com", name="Carol")
ADMIN = User(email="boss@example.com", name="Boss", is_admin=True)
VISITOR = visitor("ab" * 20)


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


@pytest.fixture
def people(service):
    found = [service.as_user(u) for u in (ANN, BOB, CAROL, ADMIN)]
    for ws in found:
        ws.review.remember_me()
    return found


def two_versions(service, ann):  # type: ignore[no-untyped-def]
    mine = ann.new_conversation()
    assert service.send(mine.id, "a poster with our logo").ok
    assert service.send(mine.id, "make it gold").ok
    tree = ann.versions.tree(mine.id)
    return mine, [v.reply_id for v in tree.versions]


def test_people_who_may_not_read_get_does_not_exist_through_every_verb(service, fake, people):
    ann, bob, _carol, admin = people
    mine, (v1, v2) = two_versions(service, ann)
    said = ann.review.comment(mine.id, v1, "our first try")
    verbs = [
        lambda: bob.review.comments(mine.id),
        lambda: bob.review.comment(mine.id, v1, "hello"),
        lambda: bob.review.edit_comment(said.id, "mine now"),
        lambda: bob.review.delete_comment(said.id),
        lambda: bob.review.statuses(mine.id),
        lambda: bob.review.set_status(mine.id, v1, "approved"),
        lambda: bob.review.mention_choices(mine.id),
    ]
    for verb in verbs:
        with pytest.raises(NotFound) as raised:
            verb()
        assert "our first try" not in raised.value.message and "Ann" not in raised.value.message
    assert ann.review.comments(mine.id)[v1][0].body == "our first try"
    assert bob.review.inbox() == [] and bob.review.unread() == 0
    # An admin reads everything and may set status; a comment is theirs to write too.
    assert admin.review.set_status(mine.id, v2, "in review")
    assert ann.review.statuses(mine.id) == {v2: Status.IN_REVIEW}


def test_team_members_comment_authors_edit_and_delete_only_their_own(service, fake, people):
    ann, bob, carol, _admin = people
    mine, (v1, v2) = two_versions(service, ann)
    ann.share(mine.id, True)
    literal = "**not bold** -> :material/home: <b>x</b>"
    said = bob.review.comment(mine.id, v2, literal)
    assert ann.review.comments(mine.id)[v2][0].body == literal  # kept exactly as typed
    with pytest.raises(Forbidden):
        carol.review.edit_comment(said.id, "carol's words")
    with pytest.raises(Forbidden):
        ann.review.delete_comment(said.id)  # not even the owner deletes another's words
    bob.review.edit_comment(said.id, "bigger logo")
    changed = ann.review.comments(mine.id)[v2][0]
    assert changed.body == "bigger logo" and changed.edited_at is not None
    with pytest.raises(InvalidInput):
        bob.review.comment(mine.id, v2, "   ")
    with pytest.raises(NotFound):  # a request is not a version; nor is another conversation's answer
        bob.review.comment(mine.id, v1 - 1, "on the prompt")
    bob.review.delete_comment(said.id)
    assert ann.review.comments(mine.id) == {}
    # Unshared: Bob's verbs say "does not exist" again, at once.
    ann.share(mine.id, False)
    with pytest.raises(NotFound):
        bob.review.comment(mine.id, v1, "still here?")


def test_demo_visitors_have_no_review_and_no_kit(service, fake):
    guest = service.as_user(VISITOR)
    own = guest.new_conversation()
    assert service.send(own.id, "a visitor's cat").ok
    reply = guest.versions.tree(own.id).versions[0].reply_id
    assert not guest.review.enabled
    with pytest.raises(Forbidden):
        guest.review.comment(own.id, reply, "hello")
    with pytest.raises(Forbidden):
        guest.review.set_status(own.id, reply, "approved")
    with pytest.raises(Forbidden):
        guest.review.kit()
    with pytest.raises(Forbidden):
        guest.review.add_to_kit(image_bytes(), "logo.png", "Logo")
    with pytest.raises(Forbidden):
        guest.review.attach([1])
    assert guest.review.comments(own.id) == {} and guest.review.inbox() == [] and guest.review.unread() == 0


def test_a_share_link_reader_comments_until_the_link_is_revoked(service, fake, people):
    ann, bob, _carol, _admin = people
    mine, (_v1, v2) = two_versions(service, ann)
    token = ann.create_link(mine.id)
    with pytest.raises(NotFound):
        bob.review.comment(mine.id, v2, "without the link")
    bob.review.comment(mine.id, v2, "through the link", token=token)
    assert [c.body for c in bob.review.comments(mine.id, token=token)[v2]] == ["through the link"]
    ann.revoke_link(mine.id)
    with pytest.raises(NotFound):
        bob.review.comment(mine.id, v2, "after revoking", token=token)
    with pytest.raises(NotFound):
        bob.review.comments(mine.id, token=token)


def test_status_is_set_by_the_owner_or_an_admin_and_approved_shows_in_the_gallery(service, fake, people):
    ann, bob, carol, admin = people
    mine, (v1, v2) = two_versions(service, ann)
    ann.share(mine.id, True)
    assert ann.review.statuses(mine.id) == {}  # draft by default
    with pytest.raises(Forbidden):
        bob.review.set_status(mine.id, v2, "approved")
    bob.review.comment(mine.id, v2, "@ann make the logo bigger")
    assert ann.review.set_status(mine.id, v2, "approved")
    assert not ann.review.set_status(mine.id, v2, Status.APPROVED)  # no change, no news
    assert ann.review.set_status(mine.id, v1, "approved")  # several approved versions
    with pytest.raises(InvalidInput):
        ann.review.set_status(mine.id, v1, "perfect")
    assert bob.review.statuses(mine.id) == {v1: Status.APPROVED, v2: Status.APPROVED}
    approved = bob.gallery(approved_only=True)
    assert {i.reply_id for i in approved} == {v1, v2} and {i.status for i in approved} == {"approved"}
    ann.review.set_status(mine.id, v1, "draft")
    assert [i.reply_id for i in bob.gallery(approved_only=True)] == [v2]
    assert {i.reply_id: i.status for i in bob.gallery()}[v1] == "draft"
    # Bob commented, so Bob hears of status changes; Carol did not.
    news = bob.review.inbox()
    assert [(e.kind, e.detail) for e in news][:3] == [
        ("status", "v1: draft"),
        ("status", "v1: approved"),
        ("status", "v2: approved"),
    ]
    assert carol.review.inbox() == []
    actions = [(e.action, e.detail) for e in admin.audit_log()]
    assert ("status", "v2: approved") in actions and ("status", "v1: draft") in actions
    # The trash: nobody sets status there.
    ann.delete(mine.id)
    with pytest.raises(Forbidden):
        admin.review.set_status(mine.id, v2, "rejected")


def test_mentions_by_email_or_name_reach_the_inbox_with_an_unread_count(service, fake, people):
    ann, bob, carol, _admin = people
    mine, (v1, v2) = two_versions(service, ann)
    ann.share(mine.id, True)
    choices = {m.email for m in bob.review.mention_choices(mine.id)}
    assert {"ann@example.com", "carol@example.com"} <= choices and "bob@example.com" not in choices
    bob.review.comment(mine.id, v2, "@ann make the logo bigger")
    bob.review.comment(mine.id, v1, "cc @carol@example.com and @Ann.Lee")
    ann_news = ann.review.inbox()
    assert [(e.kind, e.actor, e.detail) for e in ann_news] == [
        ("mention", "bob@example.com", "cc @carol@example.com and @Ann.Lee"),
        ("mention", "bob@example.com", "@ann make the logo bigger"),
    ]
    assert ann.review.unread() == 2 and carol.review.unread() == 1
    ann.review.mark_read([ann_news[-1].id])
    assert ann.review.unread() == 1
    assert bob.review.mark_read([ann_news[0].id]) == 0  # nobody marks another's inbox
    assert ann.review.unread() == 1
    ann.review.mark_read()
    assert ann.review.unread() == 0 and all(e.read for e in ann.review.inbox())
    # A comment on Ann's conversation without a mention still reaches her, as a comment.
    carol.review.comment(mine.id, v2, "love it")
    assert [(e.kind, e.detail) for e in ann.review.inbox(unread_only=True)] == [("comment", "love it")]
    # Made private: the entries of a conversation Bob and Carol may no longer read drop out.
    ann.share(mine.id, False)
    assert carol.review.unread() == 0 and carol.review.inbox() == []


def test_mention_parsing():
    people = {"ann@example.com": "Ann Lee", "bob@example.com": "Bob"}
    assert mentioned("@ann and @bob.", people) == ["ann@example.com", "bob@example.com"]
    assert mentioned("@ann.lee, @Ann again", people) == ["ann@example.com"]
    assert mentioned("mail me at x@ann.com", people) == []  # an address in words is not a mention
    assert mentioned("@new@example.org", people) == ["new@example.org"]
    assert mentioned("@nobody", people) == []


def photo(size: tuple[int, int] = (3000, 2000)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_the_brand_kit_checks_like_an_upload_stores_once_and_goes_with_a_message(service, fake, people):
    ann, bob, _carol, admin = people
    item, note = bob.review.add_to_kit(photo(), "logo.jpg", "  Logo ", "brand, Logo, brand")
    assert item.name == "Logo" and item.tags == ("brand", "logo")
    assert note and "2048" in note  # sized for the model like an upload
    info = service.images.info(item.image_hash)
    assert max(info.width, info.height) == 2048 and info.original_hash
    with pytest.raises(InvalidInput, match="already in the brand kit"):
        ann.review.add_to_kit(photo(), "again.jpg", "Logo again")
    with pytest.raises(InvalidInput):
        ann.review.add_to_kit(b"not an image", "notes.txt", "Notes")
    assert [i.name for i in ann.review.kit()] == ["Logo"]
    assert [i.name for i in ann.review.kit("brand")] == ["Logo"] and ann.review.kit("shoe") == []

    mine = ann.new_conversation()
    hashes = ann.review.attach([item.id])
    assert ann.review.kit_hashes(hashes) == {item.image_hash}
    turn, error = ann.submit(mine.id, "put our logo on a mug", hashes)
    assert error is None
    wait_until(lambda: service.store.turn(turn.id).status == TurnStatus.OK)
    sent = [p for p in fake.requests[-1]["contents"][-1]["parts"] if "inlineData" in p or "inline_data" in p]
    assert len(sent) == 1
    uses = bob.review.kit_uses(item.id)
    assert uses == []  # Ann's private conversation: Bob learns nothing of it
    assert [(u.conversation_id, u.turns) for u in ann.review.kit_uses(item.id)] == [(mine.id, 1)]

    # Counted against the model's image limit like any attachment.
    limit = service.catalog.get(mine.model).max_input_images
    too_many = [ann.upload(image_bytes(colour=(n, 1, 1)), f"{n}.png").image.hash for n in range(limit)]
    _turn, refused = ann.submit(mine.id, "too many", too_many + hashes)
    assert refused is not None and str(limit) in refused.message

    # Retired by its owner or an admin only; conversations keep their copy.
    with pytest.raises(Forbidden):
        ann.review.retire(item.id)
    admin.review.retire(item.id)
    with pytest.raises(InvalidInput):
        bob.review.retire(item.id)  # already retired
    assert ann.review.kit() == [] and [i.name for i in ann.review.kit(retired=True)] == ["Logo"]
    with pytest.raises(InvalidInput, match="retired"):
        ann.review.attach([item.id])
    assert ann.review.kit_hashes(hashes) == set()
    # Carol never uploaded it and reads no conversation that holds it: once retired, its hash
    # alone gives her nothing (while it was in the kit, anyone signed in could attach it).
    carol = people[2]
    hers = carol.new_conversation()
    _kept, refused = carol.submit(hers.id, "with the old logo", hashes)
    assert refused is not None and "not one you can use" in refused.message
    assert ann.download(mine.id, item.image_hash)[0]
    assert service.send(mine.id, "now in red").ok  # the kept copy replays
    actions = [(e.actor, e.action, e.detail) for e in admin.audit_log()]
    assert ("bob@example.com", "kit added", "Logo") in actions
    assert ("boss@example.com", "kit retired", "Logo") in actions


def test_deleting_a_conversation_forever_keeps_the_kit_images(service, fake, people):
    ann, _bob, _carol, _admin = people
    item, _note = ann.review.add_to_kit(photo(), "logo.jpg", "Logo")
    original = service.images.info(item.image_hash).original_hash
    mine = ann.new_conversation()
    assert service.send(mine.id, "with the logo", ann.review.attach([item.id])).ok
    with service.store.db.write() as db:  # as if added long ago, past the purge's grace period
        for row in db.scalars(select(ImageRow)):
            row.created_at = utcnow() - dt.timedelta(days=3)
    ann.delete(mine.id)
    ann.delete_forever(mine.id)
    assert service.images.data(item.image_hash) and service.images.data(original)


def test_export_carries_each_versions_status_and_comments(service, fake, people):
    import json
    import zipfile

    ann, bob, _carol, _admin = people
    mine, (_v1, v2) = two_versions(service, ann)
    ann.share(mine.id, True)
    bob.review.comment(mine.id, v2, "bigger logo\n-> and *gold*")
    ann.review.set_status(mine.id, v2, "approved")
    archive = zipfile.ZipFile(io.BytesIO(bob.versions.export(mine.id)))
    log = json.loads(archive.read("prompts.json"))["versions"]
    assert [(v["status"], [c["words"] for c in v["comments"]]) for v in log] == [
        ("draft", []),
        ("approved", ["bigger logo\n-> and *gold*"]),
    ]
    assert log[1]["comments"][0]["author"] == "bob@example.com"
    markdown = archive.read("prompts.md").decode()
    assert "Status: approved" in markdown and "  > bigger logo\n  > -> and *gold*" in markdown


def test_prompt_presets_fill_their_placeholders_and_retire_by_their_owner_or_an_admin(service, fake, people):
    ann, bob, _carol, admin = people
    look = ann.review.add_preset("Packshot", "soft top light, white sweep, {product}, {ratio}; {product} centred")
    assert look.placeholders == ["product", "ratio"]
    assert [p.name for p in bob.review.presets()] == ["Packshot"]  # shared with the team
    assert (
        bob.review.fill_preset(look.id, {"product": "the red mug", "ratio": "4:5"})
        == "soft top light, white sweep, the red mug, 4:5; the red mug centred"
    )
    with pytest.raises(InvalidInput, match=r"\{ratio\}"):
        bob.review.fill_preset(look.id, {"product": "the red mug", "ratio": " "})
    with pytest.raises(InvalidInput):
        ann.review.add_preset("Empty", "   ")
    with pytest.raises(Forbidden):
        bob.review.retire_preset(look.id)
    admin.review.retire_preset(look.id)
    assert ann.review.presets() == []
    with pytest.raises(NotFound):
        ann.review.fill_preset(look.id, {"product": "x", "ratio": "1:1"})
    guest = service.as_user(VISITOR)
    with pytest.raises(Forbidden):
        guest.review.presets()
    actions = [(e.action, e.detail) for e in admin.audit_log()]
    assert ("preset added", "Packshot") in actions and ("preset retired", str(look.id)) in actions
