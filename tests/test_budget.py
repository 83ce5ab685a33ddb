"""The context budget: the next request is kept under the route's limit on purpose."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from core.errors import InvalidInput
from core.service import StudioService
from core.values import TurnStatus
from tests.fake_gemini import image_bytes


def small_budget(settings, mb: float) -> StudioService:
    return StudioService.from_settings(dataclasses.replace(settings, max_request_mb=mb), backoff_factor=0.01)


def test_oldest_whole_exchanges_are_dropped_to_stay_under_the_limit(settings, fake):
    fake.signature_bytes = 40_000  # each answer weighs about 80 KB with its two signatures
    service = small_budget(settings, 0.3)  # about 315 KB
    conversation = service.new_conversation()
    dropped_seen = []
    for n in range(8):
        outcome = service.send(conversation.id, f"edit {n}")
        assert outcome.ok, outcome.error
        dropped_seen.append(outcome.dropped_positions)
    limit = service.settings.max_request_bytes
    assert max(fake.body_sizes) <= limit
    last = fake.requests[-1]["contents"]
    assert last[0]["role"] == "user" and [c["role"] for c in last] == ["user", "model"] * ((len(last) - 1) // 2) + [
        "user"
    ]
    users = [c["parts"][0]["text"] for c in last if c["role"] == "user"]
    assert users[-1] == "edit 7" and users[0] != "edit 0"  # the oldest went first
    assert users == [f"edit {n}" for n in range(8 - len(users), 8)]  # and only whole, contiguous exchanges
    kept_models = [json.dumps(c) for c in last if c["role"] == "model"]
    assert kept_models == [json.dumps(c) for c in fake.issued[8 - len(users) : 7]]  # still byte-exact
    assert dropped_seen[0] == [] and dropped_seen[-1]  # the user is told which turns were left out
    plan = service.turns.meter(service.conversation(conversation.id))
    assert plan.dropped and plan.estimated_bytes <= limit and plan.full_bytes > limit


def test_a_message_too_large_on_its_own_fails_before_sending_and_keeps_the_words(settings, fake):
    service = small_budget(settings, 0.05)
    conversation = service.new_conversation()
    big = service.images.add_upload(image_bytes((300, 300), noise=True), "noise.png").image.hash
    with pytest.raises(InvalidInput) as refused:  # checked before anything is queued or sent
        service.send(conversation.id, "use this huge photo", [big])
    assert "one request carries at most 0.05 MB" in refused.value.message
    assert fake.requests == [] and service.conversation(conversation.id).turns == []
    service.turns.reject(conversation.id, "use this huge photo", [big], refused.value)  # what the page does
    turn = service.conversation(conversation.id).turns[0]
    assert turn.status == TurnStatus.FAILED and turn.parts[0].text == "use this huge photo"
    assert [p.image_hash for p in turn.parts if p.image_hash] == [big]


def test_the_users_own_photo_stays_in_context_when_its_turn_is_dropped(settings, fake):
    fake.signature_bytes = 40_000
    service = small_budget(settings, 0.3)
    conversation = service.new_conversation()
    photo = image_bytes((40, 40), (10, 20, 30))
    upload = service.images.add_upload(photo, "product.png").image.hash
    assert service.send(conversation.id, "my product on a table", [upload]).ok
    for n in range(6):
        assert service.send(conversation.id, f"edit {n}").ok
    last = fake.requests[-1]["contents"]
    users = [c["parts"][-1].get("text") for c in last if c["role"] == "user"]
    assert "my product on a table" not in users  # its exchange was left out for size...
    first = last[0]["parts"][0]["inlineData"]
    assert base64.b64decode(first["data"]) == photo  # ...but the product photo still goes first
    assert max(fake.body_sizes) <= service.settings.max_request_bytes
    plan = service.turns.meter(service.conversation(conversation.id, visible=1))  # the display copy sees it too
    assert [p.image_hash for p in plan.carried] == [upload]
