"""Image helpers: sniff the real type, check uploads, make display previews, hash content."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InvalidInput

try:  # Phone photos: HEIC/HEIF decode through pillow-heif when it is installed.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - pillow-heif is in requirements.txt
    HEIF_SUPPORTED = False

EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/heic": "heic",
    "image/heif": "heif",
}
MAX_PIXELS = 50_000_000
PREVIEW_MAX_WIDTH = 1460
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def sniff_mime(data: bytes) -> str | None:
    """The type the bytes really are, whatever a filename or a declared type says."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"):
            return "image/heic"
        if brand in (b"mif1", b"msf1", b"heif"):
            return "image/heif"
    return None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, kw_only=True)
class PreparedImage:
    data: bytes
    mime_type: str
    width: int
    height: int
    note: str | None = None
    # The same note without the file's name, kept with the stored image and shown at the turn
    # (the bytes are shared by content; a file's name is the person's own).
    kept_note: str | None = None
    # The full-size picture (upright, metadata removed) when what is sent is smaller: for Download.
    original: bytes | None = None


# The long side the model works at: larger uploads cost request bytes and add nothing.
DEFAULT_LONG_SIDE = 2048


def _open(data: bytes, label: str = "This file") -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInput(
            f"{label} has too many pixels (over {MAX_PIXELS // 1_000_000} megapixels). Resize it and try again."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(
            f"{label} could not be read as an image: it may be truncated or corrupt ({exc.__class__.__name__})."
        ) from None
    return image


def _has_metadata(image: Image.Image) -> bool:
    # EXIF carries GPS, camera and owner; XMP and comments can too. None of it goes upstream.
    info = image.info
    return bool(image.getexif()) or any(k in info for k in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "icc_text"))


def _encode(image: Image.Image, photo: bool) -> tuple[bytes, str]:
    buf = io.BytesIO()
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if photo and not has_alpha:
        image.convert("RGB").save(buf, format="JPEG", quality=90, optimize=True)
        return buf.getvalue(), "image/jpeg"
    image.save(buf, format="PNG")
    return buf.getvalue(), "image/png"


def prepare_upload(
    data: bytes, filename: str = "image", max_bytes: int = 20 * 1024 * 1024, long_side: int = DEFAULT_LONG_SIDE
) -> PreparedImage:
    """Check an uploaded file and return bytes fit to send: decodable, an allowed type, under the
    caps, upright, no longer on its long side than the model uses, and with no metadata (EXIF,
    GPS, XMP). Bytes are kept as they came when they already are all that."""
    label = filename or "image"
    if not data:
        raise InvalidInput(f"{label} is empty (0 bytes).")
    if len(data) > max_bytes:
        raise InvalidInput(f"{label} is {len(data) / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.0f} MB.")
    mime = sniff_mime(data)
    if mime is None:
        raise InvalidInput(f"{label} is not a PNG, JPEG, WebP, GIF or HEIC image.")
    if mime in ("image/heic", "image/heif") and not HEIF_SUPPORTED:
        raise InvalidInput(f"{label} is HEIC; export it as JPEG or PNG and try again.")
    image = _open(data, label)
    notes: list[str] = []
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        image.seek(0)
        notes.append(f"{SUBJECT} is animated ({frames} frames); only its first frame is used.")
    rotated = image.getexif().get(0x0112, 1) not in (0, 1)
    metadata = _has_metadata(image)
    too_big = max(image.width, image.height) > long_side
    needs_convert = (
        mime not in ("image/png", "image/jpeg", "image/webp")
        or rotated
        or frames > 1
        or metadata
        or too_big
        or image.mode not in ("RGB", "RGBA", "L")
    )
    if not needs_convert:
        return PreparedImage(data=data, mime_type=mime, width=image.width, height=image.height)
    upright = _normalise_mode(ImageOps.exif_transpose(image) if rotated else image)
    photo = mime in ("image/jpeg", "image/heic", "image/heif", "image/webp")
    if 0x8825 in image.getexif():
        notes.append(f"{SUBJECT}: its location (GPS) and camera data were removed.")
    elif metadata and not rotated:
        notes.append(f"{SUBJECT}: its camera data (EXIF) was removed.")
    if not too_big:
        out, out_mime = _encode(upright, photo)
        note, kept = _said(notes, label)
        return PreparedImage(
            data=out, mime_type=out_mime, width=upright.width, height=upright.height, note=note, kept_note=kept
        )
    scale = long_side / max(upright.width, upright.height)
    size = (max(1, round(upright.width * scale)), max(1, round(upright.height * scale)))
    sent = upright.resize(size, Image.Resampling.LANCZOS)
    # Big photos go as JPEG whatever they came as: a 2048 px PNG photo would weigh several MB.
    out, out_mime = _encode(sent, photo or upright.mode == "RGB")
    original, _ = _encode(upright, photo)
    notes.append(
        f"{SUBJECT} was {upright.width}×{upright.height} ({len(data) / 1_048_576:.1f} MB); it is sent at "
        f"{size[0]}×{size[1]} ({len(out) / 1_048_576:.1f} MB), the size the model works at. "
        "The full-size picture is kept for Download."
    )
    note, kept = _said(notes, label)
    return PreparedImage(
        data=out, mime_type=out_mime, width=size[0], height=size[1], note=note, kept_note=kept, original=original
    )


SUBJECT = "\x00"  # where a note names the file: its name in the toast, "This image" where kept


def _said(notes: list[str], label: str) -> tuple[str | None, str | None]:
    if not notes:
        return None, None
    joined = " ".join(notes)
    return joined.replace(SUBJECT, label), joined.replace(SUBJECT, "This image")


def _normalise_mode(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale down to 8 bits rather than clip to white.
        return image.point(lambda v: v / 256).convert("L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        return image.convert("RGBA")
    if image.mode in ("LA", "PA"):
        return image.convert("RGBA")
    return image.convert("RGB")


def describe(data: bytes) -> tuple[str, int, int]:
    """Type and size of image bytes that are already trusted (from the model or the store)."""
    mime = sniff_mime(data) or "application/octet-stream"
    try:
        with Image.open(io.BytesIO(data)) as image:
            return mime, image.width, image.height
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return mime, 0, 0


def make_preview(data: bytes, max_width: int = PREVIEW_MAX_WIDTH) -> tuple[bytes, str]:
    """A display copy at most `max_width` wide, made once when the image arrives, so reruns
    never re-encode full-resolution images. JPEG unless the image has transparency."""
    image = _open(data)
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    image = ImageOps.exif_transpose(image) or image
    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    buf = io.BytesIO()
    if has_alpha:
        image.convert("RGBA").save(buf, format="PNG")
        return buf.getvalue(), "image/png"
    _normalise_mode(image).convert("RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue(), "image/jpeg"
