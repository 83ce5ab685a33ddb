"""A prompt with a lone half of a surrogate pair (possible from any API caller): refused with a
plain message, the rest of the words kept, never an uncaught UnicodeEncodeError."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.team.people import LOCAL_EMAIL, User
from core.values import TurnStatus

ME = User(email=LOCAL_EMAIL, name="you", is_admin=True)


@pytest.fixture
def db_url(both_db_url):
    return both_db_url


def test_a_lone_surrogate_is_refused_with_a_message_and_the_rest_is_kept(service, fake):
    ws = service.as_user(ME)
    conversation = service.new_conversation()
    turn, error = ws.submit(conversation.id, "a red \ud800 bicycle on a beach", [])
    assert isinstance(error, InvalidInput) and "surrogate" in error.message and "character 7" in error.message
    assert fake.requests == []  # nothing sent
    kept = service.store.turn(turn.id)
    assert kept.status == TurnStatus.FAILED and kept.text == "a red \ufffd bicycle on a beach"
    assert service.store.conversation(conversation.id).title.startswith("a red")
    # Straight into the core, too: a clear refusal, nothing stored.
    with pytest.raises(InvalidInput, match="surrogate"):
        service.send(conversation.id, "\udfff")
    # Retry sends the kept words.
    retried = service.retry(turn.id)
    assert retried.ok and fake.requests[-1]["contents"][-1]["parts"][0]["text"] == "a red \ufffd bicycle on a beach"


def test_a_pair_given_as_two_halves_is_the_character_it_means(service, fake):
    conversation = service.new_conversation()
    outcome = service.send(conversation.id, "a \ud83d\udeb2 on a beach")
    assert outcome.ok and fake.requests[-1]["contents"][-1]["parts"][0]["text"] == "a 🚲 on a beach"


def test_an_edit_with_a_lone_surrogate_is_refused_and_the_old_turn_stays(service, fake):
    conversation = service.new_conversation()
    first = service.send(conversation.id, "a bicycle")
    with pytest.raises(InvalidInput, match="surrogate"):
        service.queue_resend(first.request.id, "a \udc00 bicycle")
    turns = service.store.conversation(conversation.id).turns
    assert len(turns) == 2 and turns[0].status == TurnStatus.OK and len(fake.requests) == 1
