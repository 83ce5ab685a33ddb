"""Models as of December 2026: the catalog's ids, retirements and sources; STUDIO_DEFAULT_MODEL;
a 404 "model not found" in plain words; a conversation on a retired model is read-only and goes
on, as a new conversation from its latest image, on the successor."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from core.config import load_settings
from core.errors import ModelRetired
from core.provider.catalog import load_catalog
from core.service import StudioService
from core.team.people import User
from core.values import Seed, TurnStatus
from tests.conftest import API_KEY
from tests.test_pages import app_env, sidebar_widget, studio  # noqa: F401

DECEMBER = dt.date(2026, 12, 3)
ANN = User(email="ann@example.com", name="Ann")


def test_the_catalog_as_of_december_2026():
    catalog = load_catalog()
    assert catalog.default_id == "gemini-3.1-flash-image"
    current = {m.id for m in catalog.offered(DECEMBER)}
    assert {"gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-nano-banana-2.1"} <= current
    assert "gemini-3.1-flash-lite-image" in current
    retired = {
        "gemini-3.1-flash-image-preview": (dt.date(2026, 6, 25), "gemini-3.1-flash-image"),
        "gemini-3-pro-image-preview": (dt.date(2026, 6, 25), "gemini-3-pro-image"),
        "gemini-2.5-flash-image": (dt.date(2026, 10, 2), "gemini-3.1-flash-image"),
    }
    for model_id, (when, successor) in retired.items():
        spec = catalog.get(model_id)
        assert spec.retired == when and spec.successor == successor and model_id not in current
        assert catalog.successor(spec, DECEMBER).id == successor  # type: ignore[union-attr]
        assert spec.note  # where it holds (Google shut it; CometAPI may alias the previews)
    assert "alias" in catalog.get("gemini-3-pro-image-preview").note
    # Before its date a model is current, and names no successor to go on to.
    assert catalog.successor(catalog.get("gemini-2.5-flash-image"), dt.date(2026, 9, 1)) is None
    assert catalog.get("gemini-nano-banana-2.1").image_sizes == ("1K", "2K", "4K")  # no 512
    assert catalog.get("gemini-3.1-flash-lite-image").image_sizes == ("1K",)
    assert "512" in catalog.get("gemini-3.1-flash-image").image_sizes
    for spec in catalog.models.values():  # every fact has its source
        assert spec.source, spec.id
        assert spec.prices is not None and spec.prices.source and spec.prices.checked, spec.id


def test_studio_default_model_chooses_the_default_and_is_checked(httpserver, tmp_path, fake):
    env = {
        "COMETAPI_KEY": API_KEY,
        "COMETAPI_BASE_URL": httpserver.url_for("/").rstrip("/"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'studio.db'}",
    }
    svc = StudioService.from_settings(load_settings({**env, "STUDIO_DEFAULT_MODEL": "gemini-3-pro-image"}))
    assert svc.new_conversation().model == "gemini-3-pro-image"
    assert svc.send(svc.new_conversation().id, "a kite").ok
    assert fake.paths[-1].startswith("/v1beta/models/gemini-3-pro-image:generateContent")
    with pytest.raises(ValueError, match=r"STUDIO_DEFAULT_MODEL is 'gemini-4-image'.*Set it to one of: .*gemini-3-pro"):
        StudioService.from_settings(load_settings({**env, "STUDIO_DEFAULT_MODEL": "gemini-4-image"}))
    with pytest.raises(ValueError, match=r"retired on 02 October 2026\. Set it to gemini-3\.1-flash-image"):
        load_catalog(default_model="gemini-2.5-flash-image", today=DECEMBER)
    assert load_catalog(default_model=" gemini-nano-banana-2.1 ").default_id == "gemini-nano-banana-2.1"


def test_a_404_model_not_found_says_which_model_and_what_to_set(service, fake):
    fake.models = {"gemini-3-pro-image"}
    conversation = service.new_conversation("gemini-3.1-flash-image")
    outcome = service.send(conversation.id, "a lantern")
    assert not outcome.ok and outcome.error is not None
    message = outcome.error.message
    assert "“gemini-3.1-flash-image”" in message and "model not found" in message
    assert "STUDIO_DEFAULT_MODEL" in message and "Use another model" in message
    turn = service.store.turn(outcome.request.id)
    assert turn.status == TurnStatus.FAILED and turn.error_kind == "model_not_found"
    assert turn.text == "a lantern"  # the words are kept
    assert len(fake.requests) == 1  # a 404 is never retried


def test_the_new_ids_go_through_the_strict_fake(service, fake):
    lite = service.new_conversation("gemini-3.1-flash-lite-image")
    assert service.send(lite.id, "a sticker").ok
    banana = service.new_conversation("gemini-nano-banana-2.1")
    service.change_settings(banana.id, image_size="4K", aspect_ratio="21:9")
    assert service.send(banana.id, "a panorama").ok
    assert fake.requests[-1]["generationConfig"]["imageConfig"] == {"aspectRatio": "21:9", "imageSize": "4K"}


def retired_conversation(service):  # type: ignore[no-untyped-def]
    """A conversation made on the preview id in May: two answered turns, then the id retired."""
    ann = service.as_user(ANN)
    conversation = ann.new_conversation("gemini-3.1-flash-image")
    service.send(conversation.id, "a red bicycle")
    last = service.send(conversation.id, "make it blue")
    service.store.set_model(conversation.id, "gemini-3.1-flash-image-preview")
    return ann, conversation, last


def test_a_conversation_on_a_retired_model_is_read_only_and_continues_on_its_successor(service, fake):
    ann, conversation, last = retired_conversation(service)
    shown = ann.conversation(conversation.id)
    assert ann.can_change(shown) and not ann.can_send(shown)
    retired = ann.retired(shown)
    assert retired is not None and retired.successor is not None
    assert retired.successor.id == "gemini-3.1-flash-image"
    requests = len(fake.requests)
    turn, error = ann.submit(conversation.id, "add a bell", [])
    assert isinstance(error, ModelRetired) and "retired on 25 June 2026" in error.message
    assert "Continue on Nano Banana 2" in error.message
    assert turn.status == TurnStatus.FAILED and turn.text == "add a bell"  # kept, not sent
    assert len(fake.requests) == requests
    with pytest.raises(ModelRetired):
        ann.queue_regenerate(last.reply.id)
    # Continue on the successor: a new conversation seeded with the latest image.
    seed = ann.switch_model(conversation.id, retired.successor.id)
    assert isinstance(seed, Seed) and seed.model == "gemini-3.1-flash-image"
    assert seed.image_hash == last.reply.result_image.image_hash
    fresh = ann.from_seed(seed)
    sent = ann.queue(fresh.id, "add a bell", [seed.image_hash])
    deadline = time.monotonic() + 20
    while service.store.turn(sent.id).status != TurnStatus.OK:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    assert fake.paths[-1].startswith("/v1beta/models/gemini-3.1-flash-image:generateContent")


def test_the_page_opens_a_retired_conversation_read_only_with_continue(app_env, settings, fake):  # noqa: F811
    svc = StudioService.from_settings(settings)
    conversation = svc.new_conversation("gemini-3.1-flash-image")
    svc.send(conversation.id, "a red bicycle")
    last = svc.send(conversation.id, "make it blue")
    svc.store.set_model(conversation.id, "gemini-3.1-flash-image-preview")
    at = studio(session=conversation.id)
    assert not at.exception
    assert not at.chat_input  # read-only: nothing to type into
    assert any("was retired on 25 June 2026" in info.value for info in at.info)
    assert not [b for b in at.button if b.label in ("Another take", "Retry")]
    go = next(b for b in at.button if b.label.startswith("Continue on"))
    assert go.label == "Continue on Nano Banana 2 (Gemini 3.1 Flash Image)"
    go.click().run()
    assert not at.exception and "session" not in at.query_params  # a new conversation, nothing created yet
    assert at.chat_input and "Continuing from" in " ".join(c.value for c in at.caption)
    assert sidebar_widget(at.selectbox, "Model").value == "gemini-3.1-flash-image"
    assert len(svc.conversations()) == 1
    del last
