"""Odd shapes in the fields the studio reads (issue 22, item 10): a usageMetadata or a
groundingMetadata that is a string or a list, counts as strings, a finish reason that is an
object. The answer is stored, shown, costed and replayed exactly; nothing raises, on the send,
on the page, or on the next turn."""

from __future__ import annotations

import datetime as dt

import pytest

from core.service import StudioService
from core.team.people import LOCAL_EMAIL, User
from tests.test_pages import all_text, app_env, studio  # noqa: F401

ODD = {
    "usage as a string": ({"usage": "1300 tokens"}, {}),
    "usage as a list": ({"usage": [{"promptTokenCount": 10}]}, {}),
    "counts as strings and junk": (
        {
            "usage": {
                "promptTokenCount": "10",
                "candidatesTokenCount": "abc",
                "totalTokenCount": 1300,
                "promptTokensDetails": "IMAGE",
                "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": "x"}, 7],
                "thoughtsTokenCount": [3],
            }
        },
        {},
    ),
    "a count too large for the ledger": ({"usage": {"promptTokenCount": 10**30, "totalTokenCount": -(2**63)}}, {}),
    "grounding as a list": ({}, {"groundingMetadata": [{"webSearchQueries": ["x"]}]}),
    "grounding with odd insides": (
        {},
        {"groundingMetadata": {"webSearchQueries": "weather", "searchEntryPoint": ["<b>x</b>"]}},
    ),
    "finish reason as an object": ({}, {"finishReason": {"reason": "STOP"}}),
}


@pytest.mark.parametrize("case", list(ODD))
def test_an_odd_field_is_ignored_and_the_answer_is_kept_shown_and_replayed(case, app_env, fake, settings):  # noqa: F811
    options, candidate = ODD[case]
    if "usage" in options:
        fake.usage = options["usage"]
    fake.candidate_extra = candidate
    svc = StudioService.from_settings(settings)
    try:
        conversation = svc.new_conversation()
        first = svc.send(conversation.id, "a lighthouse at dusk")
        assert first.ok, first
        assert first.reply.result_image is not None
        at = studio(session=conversation.id)  # the page draws the stored answer
        assert not at.exception, at.exception
        assert "Result 1" in all_text(at)
        second = svc.send(conversation.id, "now at night")  # the strict fake checks the replay
        assert second.ok, second
        assert fake.requests[-1]["contents"][1] == fake.issued[0]
        report = svc.as_user(User(email=LOCAL_EMAIL, name="you", is_admin=True)).usage(dt.datetime(2000, 1, 1))
        assert report is not None  # the Usage page's figures read the same stored answers
    finally:
        svc.close()
