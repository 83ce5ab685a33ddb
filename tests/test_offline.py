"""The built-in offline demo model, through the real client, replay and store."""

import io
import json

from PIL import Image

from core.config import load_settings
from core.errors import BadRequestError
from core.provider.offline import answer
from core.service import StudioService


def _close(a, b, tolerance=12):
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def test_no_key_runs_offline_and_edits_the_previous_image(db_url):
    service = StudioService.from_settings(load_settings({"DATABASE_URL": db_url}))
    assert service.offline
    conversation = service.new_conversation()
    first = service.send(conversation.id, "a red bicycle on a beach")
    second = service.send(conversation.id, "make it blue")
    assert first.ok and second.ok
    one = Image.open(io.BytesIO(service.images.data(first.reply.result_image.image_hash))).convert("RGB")
    two = Image.open(io.BytesIO(service.images.data(second.reply.result_image.image_hash))).convert("RGB")
    assert one.size == two.size == (1024, 1024)
    # The edit starts from the first image: the sun is where it was; the subject is now blue.
    assert _close(one.getpixel((900, 200)), two.getpixel((900, 200)))
    assert _close(one.getpixel((512, 614)), (214, 48, 49)) and _close(two.getpixel((512, 614)), (9, 132, 227))
    assert first.reply.thoughts and first.reply.result_image.signature


def test_sizes_and_ratios_follow_the_request(db_url):
    service = StudioService.from_settings(load_settings({"DATABASE_URL": db_url}))
    from core.values import GenerationSettings

    conversation = service.new_conversation(settings=GenerationSettings("16:9", "2K"))
    outcome = service.send(conversation.id, "wide")
    info = service.images.info(outcome.reply.result_image.image_hash)
    assert abs(info.width / info.height - 16 / 9) < 0.02 and info.width * info.height > 3_500_000


def test_offline_model_checks_signatures_like_gemini_3():
    status, first = answer({"contents": [{"role": "user", "parts": [{"text": "a cat"}]}]})
    assert status == 200
    model_turn = first["candidates"][0]["content"]
    follow_up = {"role": "user", "parts": [{"text": "make it blue"}]}
    ok, _ = answer({"contents": [{"role": "user", "parts": [{"text": "a cat"}]}, model_turn, follow_up]})
    assert ok == 200
    tampered = json.loads(json.dumps(model_turn))
    del tampered["parts"][1]["thoughtSignature"]
    status, error = answer({"contents": [{"role": "user", "parts": [{"text": "a cat"}]}, tampered, follow_up]})
    assert status == 400
    assert (
        "Image part is missing a thought_signature in content position 2, part position 2" in error["error"]["message"]
    )


def test_client_reports_the_offline_models_400_as_a_bad_request(db_url):
    service = StudioService.from_settings(load_settings({"DATABASE_URL": db_url}))
    body = {"contents": [{"role": "model", "parts": [{"text": "x"}]}]}
    try:
        service.client.generate("gemini-3.1-flash-image-preview", body)
    except BadRequestError as error:
        assert "user turn" in error.message
    else:
        raise AssertionError("the offline model accepted a request not ending in a user turn")
