"""Whose work is whose, in the core: two people and an admin, every verb, on SQLite and
PostgreSQL. Someone who may not read a conversation learns nothing of it."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from sqlalchemy import update

from core.errors import Forbidden, NotFound
from core.storage.schema import ConversationRow, utcnow
from core.team.people import Mode, PeoplePolicy, Refusal, User, identify
from core.values import TurnStatus
from tests.fake_gemini import image_bytes

ANN = User(email="ann@example.com", name="Ann")
BOB = User(email="bob@example.com", name="Bob")
ADMIN = User(email="boss@example.com", name="Boss", is_admin=True)


def wait_until(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


@pytest.fixture
def people(service):
    return service.as_user(ANN), service.as_user(BOB), service.as_user(ADMIN)


def test_a_private_conversation_is_invisible_to_another_person_by_every_verb(service, fake, people):
    ann, bob, admin = people
    mine = ann.new_conversation()
    sent = ann.queue(mine.id, "Ann's secret product")
    wait_until(lambda: service.store.turn(sent.id).status == TurnStatus.OK)
    reply = service.store.reply_to(sent.id)
    image = reply.result_image.image_hash
    not_found = [
        lambda: bob.conversation(mine.id),
        lambda: bob.watch(mine.id, set()),
        lambda: bob.queue(mine.id, "hijack"),
        lambda: bob.queue_retry(sent.id),
        lambda: bob.queue_regenerate(reply.id),
        lambda: bob.cancel(sent.id),
        lambda: bob.rename(mine.id, "mine now"),
        lambda: bob.change_settings(mine.id, aspect_ratio="16:9"),
        lambda: bob.share(mine.id, True),
        lambda: bob.create_link(mine.id),
        lambda: bob.copy(mine.id),
        lambda: bob.delete(mine.id),
        lambda: bob.restore(mine.id),
        lambda: bob.download(mine.id, image),
        lambda: bob.continue_from(mine.id, image),
    ]
    for verb in not_found:
        with pytest.raises(NotFound) as raised:
            verb()
        assert "Ann" not in raised.value.message and "secret" not in raised.value.message
    assert bob.conversations("mine") == [] and bob.conversations("team") == []
    # Knowing an image's hash gives nothing: only a readable conversation that holds it serves it.
    other = bob.new_conversation()
    with pytest.raises(NotFound):
        bob.download(other.id, image)
    # The admin can open everything, read-only.
    assert admin.conversation(mine.id).title == "Ann's secret product"
    with pytest.raises(Forbidden):
        admin.queue(mine.id, "an admin does not write in Ann's work")
    assert len(fake.requests) == 1


def test_sharing_with_the_team_lets_others_read_and_copy_and_go_on_exactly(service, fake, people):
    ann, bob, _admin = people
    mine = ann.new_conversation()
    assert service.send(mine.id, "a red bicycle").ok
    assert service.send(mine.id, "make it blue").ok
    ann.share(mine.id, True)
    assert [s.id for s in bob.conversations("team")] == [mine.id]
    shown = bob.conversation(mine.id)
    assert len(shown.exchanges) == 2
    with pytest.raises(Forbidden):  # read-only for Bob
        bob.queue(mine.id, "add a bell")
    copy_id = bob.copy(mine.id)
    assert [s.id for s in bob.conversations("mine")] == [copy_id]
    added = bob.queue(copy_id, "add a bell")
    wait_until(lambda: service.store.turn(added.id).status == TurnStatus.OK)
    last = fake.requests[-1]["contents"]
    assert [c["role"] for c in last] == ["user", "model", "user", "model", "user"]
    # The copy replays Ann's exchanges exactly, signatures and all: the strict fake accepted them.
    assert [json.dumps(c) for c in last if c["role"] == "model"] == [json.dumps(c) for c in fake.issued[:2]]
    ann.share(mine.id, False)
    with pytest.raises(NotFound):
        bob.conversation(mine.id)
    assert bob.conversation(copy_id)  # the copy is Bob's own


def test_a_share_link_opens_read_only_for_signed_in_colleagues_until_revoked(service, fake, people):
    ann, bob, _admin = people
    mine = ann.new_conversation()
    assert service.send(mine.id, "a lighthouse").ok
    token = ann.create_link(mine.id)
    assert bob.by_link(token) == mine.id
    assert bob.conversation(mine.id, token=token).title == "a lighthouse"
    with pytest.raises(NotFound):
        bob.conversation(mine.id)  # without the link: nothing
    with pytest.raises(NotFound):  # a link lets a colleague read and copy, never write
        bob.queue(mine.id, "not through a link")
    copy_id = bob.copy(mine.id, token=token)
    assert bob.conversation(copy_id).turns
    ann.revoke_link(mine.id)
    with pytest.raises(NotFound):
        bob.by_link(token)
    with pytest.raises(NotFound):
        bob.conversation(mine.id, token=token)


def test_trash_instead_of_loss_restore_delete_forever_and_the_audit_log(service, fake, people):
    ann, bob, admin = people
    mine = ann.new_conversation()
    assert service.send(mine.id, "a cathedral").ok
    ann.share(mine.id, True)
    ann.delete(mine.id)
    assert ann.conversations("mine") == [] and [s.id for s in ann.conversations("trash")] == [mine.id]
    with pytest.raises(NotFound):
        bob.conversation(mine.id)  # shared, but in the trash: only its owner and admins
    assert bob.conversations("team") == []
    ann.restore(mine.id)
    assert [s.id for s in ann.conversations("mine")] == [mine.id]
    ann.delete(mine.id)
    admin.restore(mine.id)  # admins can restore anything
    ann.delete(mine.id)
    with pytest.raises(NotFound):
        bob.delete_forever(mine.id)
    ann.delete_forever(mine.id)
    with pytest.raises(NotFound):
        ann.conversation(mine.id)
    actions = [(e.actor, e.action) for e in admin.audit_log()]
    assert ("ann@example.com", "deleted forever") in actions and ("boss@example.com", "restored") in actions
    assert ("ann@example.com", "shared") in actions
    with pytest.raises(Forbidden):
        ann.audit_log()


def test_nothing_is_purged_while_a_turn_in_it_is_running(service, fake, people):
    ann, _bob, _admin = people
    mine = ann.new_conversation()
    turn = service.turns.start(mine.id, "still being made")  # queued, held by this process
    ann.delete(mine.id)
    with pytest.raises(Exception, match="still being made"):
        ann.delete_forever(mine.id)
    assert service.store.turn(turn.id)


def test_who_is_who_in_each_mode():
    local = identify(PeoplePolicy(mode=Mode.LOCAL), None, None)
    assert isinstance(local, User) and local.name == "you"
    proxy = PeoplePolicy(mode=Mode.PROXY, user_header="X-Forwarded-Email", allowed_domains=frozenset({"example.com"}))
    person = identify(proxy, None, {"x-forwarded-email": "Ann@Example.com", "X-Forwarded-User": "Ann A."})
    assert isinstance(person, User) and person.key == "ann@example.com" and person.name == "Ann A."
    assert isinstance(identify(proxy, None, {}), Refusal)
    assert isinstance(identify(proxy, None, {"X-Forwarded-Email": "eve@evil.example"}), Refusal)
    oidc = PeoplePolicy(
        mode=Mode.OIDC, admins=frozenset({"boss@example.com"}), allowed_domains=frozenset({"example.com"})
    )
    signed_out = identify(oidc, {"is_logged_in": False}, None)
    assert isinstance(signed_out, Refusal) and signed_out.can_sign_in
    boss = identify(oidc, {"is_logged_in": True, "email": "boss@example.com", "name": "Boss"}, None)
    assert isinstance(boss, User) and boss.is_admin
    refused = identify(oidc, {"is_logged_in": True, "email": "x@other.org"}, None)
    assert isinstance(refused, Refusal) and "other.org" in refused.message


def test_a_demo_without_sign_in_tells_visitors_apart_by_their_browsers_key():
    demo = PeoplePolicy(mode=Mode.LOCAL, demo=True)
    assert isinstance(identify(demo, None, None), Refusal)  # until the browser has said who it is
    one, two = ("a1" * 24), ("b2" * 24)
    first, again, other = (
        identify(demo, None, None, one),
        identify(demo, None, None, one),
        identify(demo, None, None, two),
    )
    assert isinstance(first, User) and isinstance(other, User)
    assert first == again and first.key != other.key and not first.is_admin
    assert one not in first.key and first.key.endswith("@visitor.demo")  # only a digest is kept
    for forged in ("", "short", "zz" * 24, "you@localhost"):
        assert isinstance(identify(demo, None, None, forged), Refusal)


def test_the_gallery_shows_what_each_person_may_see_with_their_own_favourites(service, fake, people):
    ann, bob, admin = people
    private = ann.new_conversation()
    shared = ann.new_conversation()
    assert service.send(private.id, "Ann's private idea").ok
    assert service.send(shared.id, "a team poster").ok
    ann.share(shared.id, True)
    assert [i.prompt for i in ann.gallery()] == ["a team poster", "Ann's private idea"]  # newest first
    assert [i.prompt for i in bob.gallery()] == ["a team poster"]  # never another's private work
    assert len(admin.gallery()) == 2
    poster = bob.gallery()[0]
    assert bob.favourite(poster.reply_id) is True
    assert [i.prompt for i in bob.gallery(favourites_only=True)] == ["a team poster"]
    assert ann.gallery(favourites_only=True) == []  # favourites are each person's own
    with pytest.raises(NotFound):
        bob.favourite(ann.gallery(search="private")[0].reply_id)
    assert [i.prompt for i in ann.gallery(search="POSTER")] == ["a team poster"]
    ann.delete(shared.id)
    assert bob.gallery() == []  # the trash is nobody's gallery


def test_the_trash_keeps_thirty_days_then_purges_but_never_a_running_turn(service, fake, people):
    ann, _bob, _admin = people
    old, busy = ann.new_conversation(), ann.new_conversation()
    assert service.send(old.id, "an old idea").ok
    service.turns.start(busy.id, "still being made")
    ann.delete(old.id)
    ann.delete(busy.id)
    with service.store.write() as db:  # both were deleted 31 days ago
        db.execute(update(ConversationRow).values(deleted_at=utcnow() - dt.timedelta(days=31)))
    assert ann.purge_expired() == 1
    assert [s.id for s in ann.conversations("trash")] == [busy.id]


def test_conversations_filter_by_person_model_and_date(service, fake, people):
    ann, bob, _admin = people
    for who, title in ((ann, "Ann's"), (bob, "Bob's")):
        conversation = who.new_conversation()
        who.rename(conversation.id, title)
        who.share(conversation.id, True)
    admin_view = service.as_user(User(email="carol@example.com", name="Carol"))
    assert {s.title for s in admin_view.conversations("team")} == {"Ann's", "Bob's"}
    assert [s.title for s in admin_view.conversations("team", person="BOB@example.com")] == ["Bob's"]
    tomorrow = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)
    assert admin_view.conversations("team", since=tomorrow) == []
    assert admin_view.conversations("team", model="no-such-model") == []


def test_deleting_forever_also_drops_images_nothing_refers_to(service, fake, people):
    from core.storage.schema import ImageRow

    ann, _bob, _admin = people
    gone, kept = ann.new_conversation(), ann.new_conversation()
    only_here = service.send(gone.id, "only in the deleted one").reply.result_image.image_hash
    shared = service.images.add_upload(image_bytes((18, 18), (5, 6, 7)), "shared.png").image.hash
    service.send(gone.id, "uses the shared photo", [shared])
    service.send(kept.id, "uses it too", [shared])
    with service.store.write() as db:  # old enough that no tab can still hold them for a draft
        db.execute(update(ImageRow).values(created_at=utcnow() - dt.timedelta(days=2)))
    ann.delete(gone.id)
    ann.delete_forever(gone.id)
    assert service.images.store.info(only_here) is None
    assert service.images.store.info(shared) is not None  # still in the other conversation


def test_a_proxy_header_names_someone_only_once_and_only_one_address():
    proxy = PeoplePolicy(
        mode=Mode.PROXY,
        user_header="X-Forwarded-Email",
        allowed_domains=frozenset({"example.com"}),
        admins=frozenset({"ann@example.com"}),
    )
    one = identify(proxy, None, {"X-Forwarded-Email": ["ann@example.com"]})
    assert isinstance(one, User) and one.key == "ann@example.com" and one.is_admin
    # A proxy that adds its header beside the client's: two copies name nobody, whichever is first.
    for copies in (["ann@example.com", "bob@example.com"], ["bob@example.com", "ann@example.com"]):
        assert isinstance(identify(proxy, None, {"X-Forwarded-Email": copies}), Refusal)
    # The same name in another case is the same header, repeated.
    twice = {"X-Forwarded-Email": "ann@example.com", "x-forwarded-email": "bob@example.com"}
    assert isinstance(identify(proxy, None, twice), Refusal)
    for value in (
        "evil@evil.org, x@example.com",  # comma-joined: passed the domain check before
        "x@example.com,evil@evil.org",
        "Ann <ann@example.com>",
        "ann@example.com; bob@example.com",
        "ann@@example.com",
        "ann example@example.com",
        "ann@example.com\r\nX-Admin: 1",
        "",
        "   ",
    ):
        assert isinstance(identify(proxy, None, {"X-Forwarded-Email": [value]}), Refusal), value
    # The display name header is taken only when it occurs once.
    named = identify(proxy, None, {"X-Forwarded-Email": "bob@example.com", "X-Forwarded-User": ["Ann", "Bob"]})
    assert isinstance(named, User) and named.name == "bob"


def test_a_proxy_secret_header_is_required_when_configured():
    from core.config import load_settings
    from core.team.people import policy_from

    settings = load_settings(
        {
            "STUDIO_TRUSTED_USER_HEADER": "X-Forwarded-Email",
            "STUDIO_TRUSTED_PROXY_SECRET": "s3cret-from-the-proxy",
            "STUDIO_TRUSTED_PROXY_SECRET_HEADER": "X-Proxy-Auth",
        }
    )
    assert "s3cret" not in repr(settings)
    policy = policy_from(settings, auth_configured=False)
    assert "s3cret" not in repr(policy)
    email = {"X-Forwarded-Email": ["ann@example.com"]}
    assert isinstance(identify(policy, None, email), Refusal)  # straight to the port: no secret
    assert isinstance(identify(policy, None, {**email, "X-Proxy-Auth": ["wrong"]}), Refusal)
    both = {**email, "X-Proxy-Auth": ["s3cret-from-the-proxy", "s3cret-from-the-proxy"]}
    assert isinstance(identify(policy, None, both), Refusal)
    through = identify(policy, None, {**email, "x-proxy-auth": ["s3cret-from-the-proxy"]})
    assert isinstance(through, User) and through.key == "ann@example.com"
    without = policy_from(load_settings({"STUDIO_TRUSTED_USER_HEADER": "X-Forwarded-Email"}), auth_configured=False)
    assert isinstance(identify(without, None, email), User)  # no secret configured: the header alone
