"""Uploads: what a person may drop in, and what the studio does with each."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from core.errors import InvalidInput
from core.media.images import make_preview, prepare_upload, sniff_mime
from core.turns.rules import MAX_PROMPT_CHARS
from core.values import TurnStatus
from tests.fake_gemini import image_bytes


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims a huge canvas: a decompression bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "data, name, message",
    [
        (b"%PDF-1.7 not an image at all", "photo.png", "not a PNG, JPEG, WebP, GIF or HEIC"),
        (b"", "empty.png", r"empty \(0 bytes\)"),
        (image_bytes((64, 64))[:60], "truncated.png", "could not be read"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, "corrupt.png", "could not be read"),
        (png_header_only(20_000, 20_000), "bomb.png", "too many pixels"),
    ],
)
def test_unusable_files_are_refused_with_a_clear_message(data, name, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        prepare_upload(data, name)
    assert name in caught.value.message or "pixels" in caught.value.message


def test_files_over_the_cap_are_refused():
    with pytest.raises(InvalidInput, match="limit is 1 MB"):
        prepare_upload(image_bytes((64, 64)) + b"\x00" * 1_100_000, "big.png", max_bytes=1_048_576)


def test_heic_from_a_phone_is_converted():
    heic = encode(Image.new("RGB", (40, 30), (10, 200, 30)), "HEIF")
    assert sniff_mime(heic) == "image/heic"
    prepared = prepare_upload(heic, "IMG_0001.HEIC")
    assert prepared.mime_type == "image/jpeg" and (prepared.width, prepared.height) == (40, 30)


def test_animated_gif_uses_its_first_frame_and_says_so():
    frames = [Image.new("RGB", (20, 20), (i * 80, 0, 0)) for i in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    prepared = prepare_upload(gif.getvalue(), "anim.gif")
    assert prepared.mime_type == "image/png" and "first frame" in prepared.note


@pytest.mark.parametrize("mode, fmt", [("CMYK", "JPEG"), ("I;16", "PNG"), ("P", "PNG"), ("LA", "PNG")])
def test_unusual_colour_modes_become_plain_rgb(mode, fmt):
    image = Image.new(mode, (16, 16))
    if mode == "I;16":
        image = Image.frombytes("I;16", (16, 16), bytes(range(256)) * 2)
    prepared = prepare_upload(encode(image, fmt), f"odd.{fmt.lower()}")
    decoded = Image.open(io.BytesIO(prepared.data))
    assert decoded.mode in ("RGB", "RGBA", "L") and decoded.size == (16, 16)
    if mode == "CMYK":  # a photo stays a photo: RGB JPEG
        assert prepared.mime_type == "image/jpeg" and decoded.mode == "RGB"


def test_plain_images_are_kept_byte_for_byte():
    jpeg = image_bytes((30, 20), fmt="JPEG")
    assert prepare_upload(jpeg, "x.jpg").data == jpeg


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    prepared = prepare_upload(encode(image, "JPEG", exif=exif), "sideways.jpg")
    assert (prepared.width, prepared.height) == (20, 40)


def test_previews_are_at_most_1460_wide_and_keep_transparency():
    wide = make_preview(encode(Image.new("RGB", (4096, 2304)), "JPEG"))
    assert wide[1] == "image/jpeg" and Image.open(io.BytesIO(wide[0])).size == (1460, 821)
    clear = make_preview(encode(Image.new("RGBA", (100, 100), (0, 0, 0, 0)), "PNG"))
    assert clear[1] == "image/png"


def test_more_images_than_the_model_accepts_is_refused_before_sending(service, fake):
    conversation = service.new_conversation("gemini-3-pro-image")
    hashes = [service.images.add_upload(image_bytes((8, 8), (i, 0, 0)), f"{i}.png").image.hash for i in range(15)]
    with pytest.raises(InvalidInput, match="at most 14 images"):
        service.turns.start(conversation.id, "collage", hashes)
    assert service.turns.start(conversation.id, "collage", hashes[:14]).status == TurnStatus.QUEUED
    assert fake.requests == []


def test_empty_and_over_long_prompts(service, fake):
    conversation = service.new_conversation()
    with pytest.raises(InvalidInput, match="Type a prompt or attach an image"):
        service.turns.start(conversation.id, "   \n ")
    with pytest.raises(InvalidInput, match="at most"):
        service.turns.start(conversation.id, "x" * 100_000)
    turn = service.turns.reject(conversation.id, "x" * 100_000, [], InvalidInput("too long"))
    assert turn.status == TurnStatus.FAILED and len(turn.parts[0].text) == 100_000
    assert len("y" * MAX_PROMPT_CHARS) == MAX_PROMPT_CHARS and service.send(conversation.id, "y" * MAX_PROMPT_CHARS).ok


def _phone_photo(size=(6000, 4000)) -> bytes:
    """A 6000x4000 JPEG with GPS and camera EXIF, as a phone takes it."""
    small = Image.frombytes("RGB", (60, 40), bytes((i * 7) % 256 for i in range(60 * 40 * 3)))
    image = small.resize(size, Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    exif[0x0112] = 6  # rotated: the picture is upright only once the orientation is applied
    gps = exif.get_ifd(0x8825)
    gps[2] = (52.0, 22.0, 1.0)  # latitude
    gps[4] = (4.0, 54.0, 1.0)  # longitude
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=92, exif=exif)
    return buf.getvalue()


def test_a_phone_photo_is_sent_at_the_models_size_without_its_location_and_kept_full_size():
    photo = _phone_photo()
    prepared = prepare_upload(photo, "IMG_2041.JPG", max_bytes=40 * 1_048_576)
    # Orientation applied first (6 = rotate 90), then downscaled to the long side the model uses.
    assert (prepared.width, prepared.height) == (1365, 2048) and prepared.mime_type == "image/jpeg"
    assert len(prepared.data) < len(photo) / 3
    sent = Image.open(io.BytesIO(prepared.data))
    assert not sent.getexif() and 0x8825 not in sent.getexif()  # no GPS, no camera data upstream
    assert "location (GPS)" in prepared.note and "4000×6000" in prepared.note  # the upright size is named
    original = Image.open(io.BytesIO(prepared.original))
    assert original.size == (4000, 6000) and not original.getexif()  # full size, upright, clean


def test_a_phone_photo_through_the_service_weighs_what_the_model_needs(service, fake):
    photo = _phone_photo()
    upload = service.images.add_upload(photo, "IMG_2041.JPG")
    conversation = service.new_conversation()
    assert service.send(conversation.id, "put this on a beach", [upload.image.hash]).ok
    assert fake.body_sizes[-1] < 0.6 * len(photo) * 4 / 3  # measured: the request, not the file
    data, mime = service.images.download(upload.image.hash)
    assert mime == "image/jpeg" and Image.open(io.BytesIO(data)).size == (4000, 6000)


def test_an_uploads_note_is_kept_with_it_and_read_back_after_a_restart(settings, fake):
    from core.service import StudioService

    first = StudioService.from_settings(settings)
    upload = first.images.add_upload(_phone_photo((3000, 2000)), "IMG_2041.JPG")
    assert "IMG_2041.JPG" in upload.note  # the toast names the file
    again = StudioService.from_settings(settings)  # another process: nothing of the first's memory
    kept = again.images.info(upload.image.hash)
    assert kept is not None and kept.note is not None
    assert "2000×3000" in kept.note and "1365×2048" in kept.note and "location (GPS)" in kept.note
    assert "IMG_2041" not in kept.note  # a file's name is the person's; the bytes are shared by content
    plain = again.images.add_upload(image_bytes((40, 30), fmt="PNG"), "small.png")
    assert again.images.info(plain.image.hash).note is None  # nothing done to it, nothing said
