"""The pure replay builder and the wire part conversion."""

import base64
import dataclasses
import json

import pytest

from core.errors import InvalidSettings, NoImageError, PromptBlocked, TextOnlyAnswer, UnreadableResponse
from core.provider.catalog import load_catalog
from core.provider.wire import generation_config, parse_response, part_from_wire, part_to_wire, request_body
from core.turns.replay import build_contents, plan_replay, turn_size
from core.values import Exchange, GenerationSettings, Part, Turn, TurnStatus, pair_exchanges, path_to

CATALOG = load_catalog()
IMAGES = {"h1": b"\x89PNG-one", "h2": b"\x89PNG-two"}


def b64(h: str) -> str:
    return base64.b64encode(IMAGES[h]).decode()


def turn(id, role, position, status=TurnStatus.OK, parts=None, reply_to=None, parent=None):
    return Turn(
        parent_id=parent,
        id=id,
        conversation_id="c",
        role=role,
        position=position,
        status=status,
        parts=parts or [Part("text", f"t{id}")],
        reply_to=reply_to,
    )


def test_model_part_round_trips_exactly_with_signature_and_unknown_keys():
    raw = {
        "inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(b"\xff\xd8\xffJPEG").decode()},
        "thoughtSignature": "sig/+==" * 1000,
        "videoMetadata": {"fps": 1},
    }
    part, data = part_from_wire(raw)
    assert data == b"\xff\xd8\xffJPEG" and part.kind == "image"
    assert (
        part_to_wire(
            Part(part.kind, part.text, "h", part.mime_type, part.thought, part.signature, part.extra),
            lambda h: raw["inlineData"]["data"],
        )
        == raw
    )


@pytest.mark.parametrize(
    "raw",
    [
        {"text": "hello", "thoughtSignature": "abc"},
        {"text": "draft", "thought": True},
        {"text": "not a thought", "thought": False},
        {"functionCall": {"name": "x", "args": {}}, "thoughtSignature": "s"},
        # Non-canonical base64 (line breaks) cannot be rebuilt from bytes: kept whole.
        {"inlineData": {"mimeType": "image/png", "data": "iVBO\nRw0K"}, "thoughtSignature": "s"},
    ],
)
def test_every_part_shape_replays_verbatim(raw):
    part, _data = part_from_wire(raw)
    assert json.dumps(part_to_wire(part, lambda h: "unused")) == json.dumps(raw)


def test_the_replayed_path_leaves_out_failed_exchanges_with_their_user_message():
    turns = [
        turn(1, "user", 0),
        turn(2, "model", 1, reply_to=1),
        turn(3, "user", 2, TurnStatus.FAILED, parent=2),  # e.g. an HTTP error: no reply stored
        turn(4, "user", 3, TurnStatus.FAILED, parent=2),
        turn(5, "model", 4, TurnStatus.FAILED, reply_to=4),  # text only
        turn(6, "user", 5, TurnStatus.INTERRUPTED, parent=2),
        turn(7, "user", 6, parent=2),
        turn(8, "model", 7, reply_to=7),
        turn(9, "user", 8, TurnStatus.QUEUED, parent=8),
    ]
    exchanges = pair_exchanges(turns)
    history = path_to(exchanges, turns[-1].parent_id)
    assert [(e.request.id, e.reply.id) for e in history] == [(1, 2), (7, 8)]
    contents = build_contents(history, turns[-1], b64)
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]
    assert [c["parts"][0]["text"] for c in contents] == ["t1", "t2", "t7", "t8", "t9"]


def test_snake_case_parts_are_read_as_images_and_replayed_in_their_own_spelling():
    data = base64.b64encode(b"\xff\xd8\xffJPEG").decode()
    raw = {"inline_data": {"mime_type": "image/jpeg", "data": data}, "thought_signature": "sig" * 100}
    part, decoded = part_from_wire(raw)
    assert part.kind == "image" and part.snake and part.signature == "sig" * 100 and decoded == b"\xff\xd8\xffJPEG"
    assert json.dumps(part_to_wire(dataclasses.replace(part, image_hash="h"), lambda h: data)) == json.dumps(raw)
    text = {"text": "Here you go", "thought_signature": "t" * 50}
    part, _ = part_from_wire(text)
    assert part.kind == "text" and part.signature == "t" * 50
    assert json.dumps(part_to_wire(part, b64)) == json.dumps(text)
    reply = parse_response({"candidates": [{"content": {"role": "model", "parts": [raw]}, "finishReason": "STOP"}]})
    assert reply.has_final_image


def test_a_reply_whose_only_images_are_thoughts_is_not_a_result():
    data = base64.b64encode(b"\x89PNG-draft").decode()
    parts = [{"inlineData": {"mimeType": "image/png", "data": data}, "thought": True}, {"text": "done"}]
    with pytest.raises(NoImageError) as raised:
        parse_response({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]})
    assert raised.value.reply is not None  # kept for display


def test_replies_pair_by_id_when_two_tabs_interleave():
    turns = [turn(1, "user", 0), turn(2, "user", 1), turn(3, "model", 2, reply_to=2), turn(4, "model", 3, reply_to=1)]
    assert [(e.request.id, e.reply.id) for e in pair_exchanges(turns)] == [(1, 4), (2, 3)]


def test_budget_drops_oldest_whole_exchanges_first():
    sizes = {"h1": 3_000_000, "h2": 3_000_000}
    history = []
    for i in range(6):
        req = turn(2 * i + 1, "user", 2 * i)
        rep = turn(
            2 * i + 2,
            "model",
            2 * i + 1,
            parts=[Part("image", image_hash="h1", mime_type="image/png", signature="s" * 1000)],
            reply_to=req.id,
        )
        history.append(Exchange(request=req, reply=rep))
    request = turn(99, "user", 50)
    plan = plan_replay(history, request, lambda t: turn_size(t, sizes.__getitem__), limit_bytes=10 * 1024 * 1024)
    assert plan.fits
    # Each exchange weighs 4 MB in base64: two fit under 10 MiB with the new message.
    assert [e.request.id for e in plan.dropped] == [1, 3, 5, 7]
    assert [e.request.id for e in plan.kept] == [9, 11]
    roomy = plan_replay(history, request, lambda t: turn_size(t, sizes.__getitem__), limit_bytes=100 * 1024 * 1024)
    assert not roomy.dropped and roomy.estimated_bytes > 6 * 4_000_000


def test_budget_estimate_is_not_below_the_real_body():
    parts = [
        Part("text", 'ünïcode "quoted" ' * 50, signature="x" * 5000),
        Part("image", image_hash="h1", mime_type="image/png", signature="y" * 7000),
    ]
    request = turn(1, "user", 0, parts=parts)
    plan = plan_replay([], request, lambda t: turn_size(t, lambda h: len(IMAGES[h])), limit_bytes=1 << 30)
    body = request_body(build_contents([], request, b64), CATALOG.default, GenerationSettings())
    assert plan.estimated_bytes >= len(json.dumps(body, ensure_ascii=False).encode())


def test_generation_config_follows_the_model_table():
    flash = CATALOG.get("gemini-3.1-flash-image-preview")
    pro = CATALOG.get("gemini-3-pro-image-preview")
    old = CATALOG.get("gemini-2.5-flash-image")
    cfg = generation_config(flash, GenerationSettings("1:8", "512", True, thinking_level="high"))
    assert cfg == {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": "1:8", "imageSize": "512"},
        "thinkingConfig": {"thinkingLevel": "high", "includeThoughts": True},
    }
    with pytest.raises(InvalidSettings):
        generation_config(pro, GenerationSettings("1:8", "1K"))
    with pytest.raises(InvalidSettings):
        generation_config(pro, GenerationSettings("1:1", "512"))
    assert "thinkingConfig" not in generation_config(pro, GenerationSettings(thinking_level="high"))
    assert generation_config(old, GenerationSettings("16:9", "4K"))["imageConfig"] == {"aspectRatio": "16:9"}
    assert request_body([], flash, GenerationSettings(grounding=True))["tools"] == [{"google_search": {}}]
    assert old.is_retired() and old not in CATALOG.offered()


def test_catalog_can_be_extended_without_code(tmp_path):
    extra = tmp_path / "models.toml"
    extra.write_text(
        '[models."gemini-4-image"]\nlabel = "Next"\naspect_ratios = ["1:1"]\nimage_sizes = ["8K"]\n'
        "max_input_images = 20\n"
    )
    catalog = load_catalog(extra)
    assert catalog.get("gemini-4-image").image_sizes == ("8K",)
    assert catalog.default_id == "gemini-3.1-flash-image"


def _payload(parts, finish="STOP", **extra):
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish}], **extra}


def test_response_outcomes_each_have_their_own_error():
    image = {"inlineData": {"mimeType": "image/png", "data": "aGk="}, "thoughtSignature": "s"}
    reply = parse_response(
        _payload(
            [{"text": "t", "thought": True}, image],
            usageMetadata={"totalTokenCount": 3},
            modelVersion="m",
            responseId="r",
        )
    )
    assert reply.has_final_image and reply.usage == {"totalTokenCount": 3} and reply.text == ""
    with pytest.raises(PromptBlocked, match="SAFETY"):
        parse_response({"promptFeedback": {"blockReason": "SAFETY"}})
    with pytest.raises(NoImageError, match="without drawing"):
        parse_response({"candidates": [{"content": {}, "finishReason": "NO_IMAGE"}]})
    with pytest.raises(NoImageError, match="safety filter") as caught:
        parse_response(_payload([{"text": "I can't draw that."}], "IMAGE_SAFETY"))
    assert "I can't draw that." in caught.value.message and caught.value.reply is not None
    with pytest.raises(TextOnlyAnswer, match="words only"):
        parse_response(_payload([{"text": "Here is a poem."}]))
    with pytest.raises(NoImageError):
        parse_response({"candidates": []})
    with pytest.raises(UnreadableResponse):
        parse_response(["not", "an", "object"])


def test_stored_weights_match_the_value_weights(service, fake):
    """The meter's SQL weights and the pure weights agree, and neither is below the real body."""
    conversation = service.new_conversation()
    service.send(conversation.id, 'ünïcode "quotes" prompt')
    service.send(conversation.id, "second")
    full = service.store.conversation(conversation.id)
    weights = service.store.turn_weights({t.id for t in service.store.conversation(conversation.id).turns})
    infos = {
        p.image_hash: service.images.info(p.image_hash).size_bytes for t in full.turns for p in t.parts if p.image_hash
    }
    for turn in full.turns:
        pure = turn_size(turn, infos.__getitem__)
        assert abs(weights[turn.id] - pure) <= 0.01 * pure + 64
        real = len(
            json.dumps(
                {
                    "role": turn.role,
                    "parts": [
                        part_to_wire(p, lambda h: base64.b64encode(service.images.data(h)).decode()) for p in turn.parts
                    ],
                },
                ensure_ascii=False,
            ).encode()
        )
        assert weights[turn.id] >= real


def test_display_copies_carry_no_signatures(service, fake):
    conversation = service.new_conversation()
    service.send(conversation.id, "a cat")
    shown = service.conversation(conversation.id)
    assert all(p.signature is None for t in shown.turns for p in t.parts)
    assert any(p.signature for t in service.store.conversation(conversation.id).turns for p in t.parts)


@pytest.mark.parametrize(
    "text, model, expected",
    [
        ("4K, 16:9", "gemini-3.1-flash-image-preview", {"image_size": "4K", "aspect_ratio": "16:9"}),
        ("make it 2k please", "gemini-3.1-flash-image-preview", {"image_size": "2K"}),
        ("tiny 512px thumbnail at 1:8", "gemini-3.1-flash-image-preview", {"image_size": "512", "aspect_ratio": "1:8"}),
        ("1:8 banner in 512px", "gemini-3-pro-image-preview", {}),  # not offered by this model
        ("meet at 10:30, page 4 of 5, version 1.4k", "gemini-3.1-flash-image-preview", {}),
        ("4K 16:9", "gemini-2.5-flash-image", {"aspect_ratio": "16:9"}),  # 2.5 has no size setting
    ],
)
def test_sizes_and_ratios_typed_in_a_message(text, model, expected):
    from core.provider.catalog import settings_in_text

    assert settings_in_text(CATALOG.get(model), text) == expected


def test_a_typed_size_and_ratio_reach_the_request_and_stay(service, fake):
    conversation = service.new_conversation()
    service.send(conversation.id, "a red bicycle on a beach")
    service.send(conversation.id, "4K, 16:9")
    service.send(conversation.id, "add a bell")
    configs = [r["generationConfig"]["imageConfig"] for r in fake.requests]
    assert configs == [
        {"aspectRatio": "1:1", "imageSize": "1K"},
        {"aspectRatio": "16:9", "imageSize": "4K"},
        {"aspectRatio": "16:9", "imageSize": "4K"},
    ]
    assert service.conversation(conversation.id).settings.image_size == "4K"


def test_user_images_from_left_out_exchanges_are_carried_into_the_first_kept_turn():
    photo = Part("image", image_hash="h1", mime_type="image/png")
    again = Part("image", image_hash="h2", mime_type="image/png")
    history = [
        Exchange(
            request=turn(1, "user", 0, parts=[Part("text", "my product"), photo]), reply=turn(2, "model", 1, reply_to=1)
        ),
        Exchange(
            request=turn(3, "user", 2, parts=[Part("text", "and this"), again]), reply=turn(4, "model", 3, reply_to=3)
        ),
        Exchange(
            request=turn(5, "user", 4, parts=[Part("text", "with h2 again"), again]),
            reply=turn(6, "model", 5, reply_to=5),
        ),
        Exchange(request=turn(7, "user", 6), reply=turn(8, "model", 7, reply_to=7)),
    ]
    request = turn(9, "user", 8)

    def weigh(t):
        return 1000 if t.role == "model" else 100

    plan = plan_replay(history, request, weigh, limit_bytes=1024 + 100 + 2 * 1100 + 500, weigh_part=lambda p: 200)
    assert [e.request.id for e in plan.kept] == [5, 7]
    assert [p.image_hash for p in plan.carried] == ["h1"]  # h2 is still sent by turn 5
    contents = build_contents(plan.kept, request, b64, plan.carried)
    assert contents[0]["role"] == "user"
    assert contents[0]["parts"][0] == {"inlineData": {"mimeType": "image/png", "data": b64("h1")}}
    assert contents[0]["parts"][1:] == [
        {"text": "with h2 again"},
        {"inlineData": {"mimeType": "image/png", "data": b64("h2")}},
    ]
    assert plan.estimated_bytes <= plan.limit_bytes
    tight = plan_replay(history, request, weigh, limit_bytes=1024 + 100 + 1100 + 100, weigh_part=lambda p: 200)
    assert [e.request.id for e in tight.kept] == [7] and tight.carried == []  # no room: references go last
    assert tight.estimated_bytes <= tight.limit_bytes
