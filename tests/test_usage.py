"""The ledger: a row for every HTTP attempt (ok, failed, retried, timed out, cancelled), with
tokens split by modality and a cost computed from them, never guessed."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from sqlalchemy import select

from core.config import load_settings
from core.money.prices import MICRO, cost_of, dollars
from core.service import StudioService
from core.storage.schema import LedgerRow
from core.values import TurnStatus
from tests.conftest import API_KEY
from tests.fake_gemini import google_error, json_response

PRO = "gemini-3-pro-image"
# A Gemini 3 Pro Image answer's usage, as the service returns it: an edit with one input image.
PRO_USAGE = {
    "promptTokenCount": 1569,
    "candidatesTokenCount": 1120,
    "totalTokenCount": 2917,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}, {"modality": "IMAGE", "tokenCount": 1560}],
    "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
    "thoughtsTokenCount": 228,
}
# Nano Banana (2.5 Flash Image): no details, no thinking.
FLASH_USAGE = {"promptTokenCount": 10, "candidatesTokenCount": 1290, "totalTokenCount": 1300}


def ledger(svc: StudioService) -> list[LedgerRow]:
    with svc.store.read() as db:
        rows = list(db.scalars(select(LedgerRow).order_by(LedgerRow.id)))
        db.expunge_all()
        return rows


def test_an_answer_is_one_row_with_its_tokens_by_modality_and_a_cost_from_them(service, fake):
    fake.usage = PRO_USAGE
    conversation = service.new_conversation(PRO)
    outcome = service.send(conversation.id, "a red bicycle on a beach")
    assert outcome.ok
    [row] = ledger(service)
    assert (row.outcome, row.attempt, row.http_status, row.may_be_billed) == ("ok", 1, 200, True)
    assert (row.prompt_text_tokens, row.prompt_image_tokens) == (9, 1560)
    assert (row.output_text_tokens, row.output_image_tokens, row.thinking_tokens) == (0, 1120, 228)
    # $2/M in, $120/M out for images, $12/M thinking: 9*2 + 1560*2 + 1120*120 + 228*12 micro-dollars.
    expected = 9 * 2 + 1560 * 2 + 1120 * 120 + 228 * 12
    assert row.cost_micro == expected == 140_274
    assert outcome.reply.cost_micro == expected
    assert row.person == "you@localhost" and row.model == PRO and row.image_size == "1K"
    assert row.history_bytes is not None and row.new_bytes and row.new_bytes > 0
    assert service.costs.conversation_total(conversation.id) == (expected, 0)


def test_usage_without_details_or_thinking_prices_the_image_at_its_expected_tokens(service, fake):
    fake.usage = FLASH_USAGE
    # 2.5 Flash Image priced images per answer without details; it was retired on 2 October 2026,
    # so this is a day before, when it still answered.
    old = service.catalog.models["gemini-2.5-flash-image"]
    service.catalog.models[old.id] = dataclasses.replace(old, retired=None)
    conversation = service.new_conversation("gemini-2.5-flash-image")
    assert service.send(conversation.id, "a lighthouse").ok
    [row] = ledger(service)
    assert (row.output_image_tokens, row.output_text_tokens, row.thinking_tokens) == (1290, 0, 0)
    assert row.cost_micro == round(10 * 0.30 + 1290 * 30.0) == 38_703


def test_no_usage_means_an_unknown_cost_never_zero(service, fake):
    fake.usage = None
    conversation = service.new_conversation(PRO)
    outcome = service.send(conversation.id, "a lighthouse")
    assert outcome.ok and outcome.reply.cost_micro is None
    [row] = ledger(service)
    assert row.cost_micro is None and row.may_be_billed and row.estimate_micro > 0
    known, unknown = service.costs.conversation_total(conversation.id)
    assert known == 0 and unknown == row.estimate_micro
    assert dollars(None) == "unknown"


def test_retried_attempts_are_rows_of_their_own_and_not_billed(service, fake):
    busy = json_response({"error": {"message": "slow down"}}, 429, {"Retry-After": "0"})
    fake.then(busy, google_error(503, "UNAVAILABLE", "overloaded"))
    conversation = service.new_conversation()
    assert service.send(conversation.id, "a kite").ok
    rows = ledger(service)
    assert [(r.outcome, r.attempt, r.http_status, r.may_be_billed) for r in rows] == [
        ("ok", 3, 200, True),
        ("retried", 1, 429, False),
        ("retried", 2, 503, False),
    ]
    assert all(r.turn_id == rows[0].turn_id for r in rows)
    assert rows[1].estimate_micro == rows[2].estimate_micro == 0


def test_a_gateway_timeout_is_recorded_as_may_be_billed(service, fake):
    fake.then(google_error(504, "DEADLINE_EXCEEDED", "deadline"))
    conversation = service.new_conversation()
    outcome = service.send(conversation.id, "a kite")
    assert outcome.error is not None and outcome.error.kind == "timeout"
    [row] = ledger(service)
    assert (row.outcome, row.http_status, row.may_be_billed, row.cost_micro) == ("timeout", 504, True, None)
    assert service.costs.conversation_total(conversation.id) == (0, row.estimate_micro)


def test_a_read_timeout_is_recorded_as_may_be_billed(httpserver, fake, db_url):
    settings = load_settings(
        {
            "COMETAPI_KEY": API_KEY,
            "COMETAPI_BASE_URL": httpserver.url_for("/").rstrip("/"),
            "DATABASE_URL": db_url,
            "STUDIO_READ_TIMEOUT_S": "0.5",
        }
    )
    svc = StudioService.from_settings(settings, backoff_factor=0.01)
    fake.during_call = lambda body: time.sleep(1.5)
    outcome = svc.send(svc.new_conversation().id, "a slow one")
    assert outcome.error is not None and outcome.error.kind == "timeout"
    assert "may be billed" in outcome.error.message
    [row] = ledger(svc)
    assert (row.outcome, row.http_status, row.may_be_billed) == ("timeout", None, True)
    assert row.duration_ms is not None and row.duration_ms >= 400


def test_a_refused_request_is_recorded_and_not_billed(service, fake):
    fake.then(google_error(400, "INVALID_ARGUMENT", "bad field"))
    outcome = service.send(service.new_conversation().id, "a kite")
    assert outcome.error is not None
    [row] = ledger(service)
    assert (row.outcome, row.http_status, row.may_be_billed) == ("bad_request", 400, False)


def test_an_answer_without_an_image_is_still_billed_at_its_tokens(service, fake):
    fake.then(
        json_response(
            {
                "candidates": [{"content": {}, "finishReason": "NO_IMAGE"}],
                "usageMetadata": {"promptTokenCount": 400, "candidatesTokenCount": 0, "totalTokenCount": 400},
            }
        )
    )
    conversation = service.new_conversation(PRO)
    outcome = service.send(conversation.id, "a kite")
    assert outcome.error is not None and outcome.error.kind == "no_image"
    [row] = ledger(service)
    assert (row.outcome, row.http_status, row.cost_micro) == ("no_image", 200, 400 * 2)


def test_cancelled_while_queued_releases_its_reservation_and_sends_nothing(service, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    service.runner.close()  # nothing runs: the turn stays queued
    conversation = service.new_conversation()
    turn = service.turns.start(conversation.id, "never sent")
    [row] = ledger(service)
    assert (row.outcome, row.attempt, row.may_be_billed) == ("queued", 0, True)
    service.turns.cancel(turn.id)
    [row] = ledger(service)
    assert (row.outcome, row.may_be_billed) == ("not_sent", False)
    assert fake.requests == []
    release.set()


def test_cancelled_while_running_keeps_the_cost_of_the_answer_that_came_anyway(service, fake):
    fake.usage = PRO_USAGE
    started, release = threading.Event(), threading.Event()

    def slow(body):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(20)

    fake.during_call = slow
    conversation = service.new_conversation(PRO)
    turn = service.queue(conversation.id, "a kite")
    assert started.wait(20)
    assert ledger(service)[0].outcome == "sending"
    assert service.turns.cancel(turn.id) == TurnStatus.RUNNING
    # Closed with the cancel (never left "sending"), counted at its estimate until the answer comes.
    [row] = ledger(service)
    assert (row.outcome, row.may_be_billed, row.cost_micro) == ("cancelled", True, None)
    release.set()
    deadline = time.time() + 20
    while ledger(service)[0].cost_micro is None and time.time() < deadline:
        time.sleep(0.05)
    [row] = ledger(service)
    assert (row.outcome, row.may_be_billed) == ("cancelled", True)
    assert row.cost_micro == 9 * 2 + 1560 * 2 + 1120 * 120 + 228 * 12


def test_a_process_that_dies_mid_call_leaves_the_call_as_interrupted_may_be_billed(service, fake):
    release = threading.Event()
    fake.during_call = lambda body: release.wait(20)
    conversation = service.new_conversation()
    turn = service.queue(conversation.id, "lost with its process")
    deadline = time.time() + 20
    while ledger(service)[0].outcome != "sending" and time.time() < deadline:
        time.sleep(0.05)
    service.runner.close()  # the heartbeat stops, as when the process dies
    with service.store.write() as db:
        from core.storage.schema import TurnRow

        db.get(TurnRow, turn.id).lease_until = TurnRow.created_at  # lapsed long ago
    assert service.life.sweep() == 1
    [row] = ledger(service)
    assert (row.outcome, row.may_be_billed) == ("interrupted", True)
    release.set()


def test_costs_from_recorded_usage_shapes():
    from core.provider.catalog import load_catalog

    catalog = load_catalog()
    flash = catalog.get("gemini-3.1-flash-image").prices
    # 3.1 Flash Image at 4K with text out and thinking, details given.
    usage = {
        "promptTokenCount": 300,
        "candidatesTokenCount": 2620,
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 100}, {"modality": "IMAGE", "tokenCount": 2520}],
        "thoughtsTokenCount": 500,
        "totalTokenCount": 3420,
    }
    cost = cost_of(flash, usage, images_out=1, size="4K", new_tokens=50)
    assert cost.micro == round(300 * 0.5 + 100 * 3.0 + 2520 * 60.0 + 500 * 3.0)
    assert cost.history_micro == round(300 * 0.5 * 250 / 300)  # the prompt less the new message
    assert cost_of(flash, {}, images_out=1, size="4K").micro is None
    assert cost_of(None, usage, images_out=1, size="4K").micro is None
    assert dollars(cost.micro) == "$0.153" and dollars(12_400_000) == "$12.40" and dollars(5) == "<$0.001"
    assert MICRO == 1_000_000


def test_an_operator_file_overrides_only_the_prices(tmp_path):
    from core.provider.catalog import load_catalog

    extra = tmp_path / "models.toml"
    extra.write_text('[models."gemini-3-pro-image".prices]\ninput_text = 1.0\noutput_image = 90.0\n')
    spec = load_catalog(extra).get(PRO)
    assert spec.prices is not None and spec.prices.output_image == 90.0 and spec.prices.input_text == 1.0
    assert spec.image_sizes == ("1K", "2K", "4K")  # the rest of the entry is the shipped one


@pytest.mark.parametrize("size", ["1K", "4K"])
def test_the_estimate_is_dominated_by_the_replayed_history(service, fake, size):
    fake.usage = {**PRO_USAGE, "promptTokenCount": 40_000}
    conversation = service.new_conversation(PRO)
    assert service.send(conversation.id, "first").ok
    conversation = service.change_settings(conversation.id, image_size=size) and service.conversation(conversation.id)
    estimate = service.costs.estimate(conversation, "make it blue", 0)
    assert estimate.history_micro == (40_000 + 1120) * 2
    expected_image = {"1K": 1120, "4K": 2000}[size] * 120
    assert estimate.output_micro >= expected_image
    assert estimate.history_dominates is (estimate.history_micro > estimate.new_micro + estimate.output_micro)
