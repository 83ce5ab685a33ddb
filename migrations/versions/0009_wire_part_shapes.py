"""Parts kept as received (`parts.wire`), and the images such parts carried shown at last.

Before this revision a model part the structured columns could not give back exactly (image
keys in another order, `data` before `mimeType` as proxies that sort keys send it, extra keys) was
kept whole in `extra` as kind `other`: it replayed exactly but its image was never shown, counted
as a result, in the Gallery, the version strip or Export. Such parts now keep the part in `wire`
(the image's base64 left out when re-encoding the bytes gives it back), and say what they show
in the usual columns: the image goes to the image table (its preview is made lazily, when first
shown), so old answers show their pictures after the upgrade and replay byte for byte as before.

Revision ID: 0009_wire_part_shapes
Revises: tip_0011_turn_authors
"""

import base64
import binascii
import datetime as dt
import hashlib
import io

import sqlalchemy as sa
from alembic import op

revision = "0009_wire_part_shapes"
down_revision = "tip_0011_turn_authors"
branch_labels = None
depends_on = None

# Frozen copy of core/provider/fields.py's reading at the time of this revision.
INLINE_KEYS = ("inlineData", "inline_data")
MIME_KEYS = ("mimeType", "mime_type")


def _decode(data):  # type: ignore[no-untyped-def]
    if not isinstance(data, str) or not data:
        return None
    text = "".join(data.split())
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True) or None
    except (binascii.Error, ValueError):
        return None


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _size(data: bytes) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError, SyntaxError):  # Pillow's ways of saying it cannot read it
        return 0, 0


def _convert(raw):  # type: ignore[no-untyped-def]
    """(column values for the part, image row or None) for a part kept whole in `extra`."""
    flag = raw.get("thought") if isinstance(raw, dict) else None
    thought = flag if isinstance(flag, bool) else None
    if isinstance(raw, dict):
        for key in INLINE_KEYS:
            inline = raw.get(key)
            data = _decode(inline.get("data")) if isinstance(inline, dict) else None
            if data is None:
                continue
            declared = next((inline[m] for m in MIME_KEYS if isinstance(inline.get(m), str)), None)
            mime = _sniff(data) or (declared or "")[:50] or "application/octet-stream"
            image_hash = hashlib.sha256(data).hexdigest()
            template, at = raw, None
            if base64.b64encode(data).decode("ascii") == inline.get("data"):
                template = {k: ({**v, "data": None} if k == key else v) for k, v in raw.items()}
                at = key
            width, height = _size(data)
            image = {
                "hash": image_hash,
                "mime_type": mime,
                "width": width,
                "height": height,
                "size_bytes": len(data),
                "data": data,
                "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            }
            values = {
                "kind": "image",
                "image_hash": image_hash,
                "mime_type": (declared or "")[:50] or None,
                "thought": thought,
                "wire": {"part": template, "inline": at},
                "extra": None,
            }
            return values, image
        if isinstance(raw.get("text"), str):
            values = {"kind": "text", "text": raw["text"], "thought": thought}
            return {**values, "wire": {"part": raw, "inline": None}, "extra": None}, None
    return {"kind": "other", "thought": thought, "wire": {"part": raw, "inline": None}, "extra": None}, None


def upgrade() -> None:
    with op.batch_alter_table("parts") as batch:
        batch.add_column(sa.Column("wire", sa.JSON(), nullable=True))
    bind = op.get_bind()
    parts = sa.table(
        "parts",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("text", sa.Text),
        sa.column("thought", sa.Boolean),
        sa.column("mime_type", sa.String),
        sa.column("image_hash", sa.String),
        sa.column("extra", sa.JSON),
        sa.column("wire", sa.JSON),
    )
    images = sa.table(
        "images",
        sa.column("hash", sa.String),
        sa.column("mime_type", sa.String),
        sa.column("width", sa.Integer),
        sa.column("height", sa.Integer),
        sa.column("size_bytes", sa.Integer),
        sa.column("data", sa.LargeBinary),
        sa.column("created_at", sa.DateTime),
    )
    ids = [row[0] for row in bind.execute(sa.select(parts.c.id).where(parts.c.kind == "other"))]
    # A few at a time: each may hold a whole image in base64.
    for start in range(0, len(ids), 20):
        chunk = ids[start : start + 20]
        for part_id, raw in bind.execute(sa.select(parts.c.id, parts.c.extra).where(parts.c.id.in_(chunk))).all():
            values, image = _convert(raw)
            if (
                image is not None
                and bind.scalar(sa.select(images.c.hash).where(images.c.hash == image["hash"])) is None
            ):
                bind.execute(images.insert().values(**image))
            bind.execute(parts.update().where(parts.c.id == part_id).values(**values))


def downgrade() -> None:
    bind = op.get_bind()
    parts = sa.table(
        "parts",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("text", sa.Text),
        sa.column("image_hash", sa.String),
        sa.column("mime_type", sa.String),
        sa.column("extra", sa.JSON),
        sa.column("wire", sa.JSON),
    )
    images = sa.table("images", sa.column("hash", sa.String), sa.column("data", sa.LargeBinary))
    rows = bind.execute(sa.select(parts.c.id, parts.c.image_hash, parts.c.wire).where(parts.c.wire.is_not(None)))
    for part_id, image_hash, wire in rows.all():
        raw = wire.get("part")
        if wire.get("inline") is not None and image_hash is not None:
            data = bind.scalar(sa.select(images.c.data).where(images.c.hash == image_hash))
            encoded = base64.b64encode(data).decode("ascii")
            raw = {k: ({**v, "data": encoded} if k == wire["inline"] else v) for k, v in raw.items()}
        bind.execute(
            parts.update()
            .where(parts.c.id == part_id)
            .values(kind="other", text=None, image_hash=None, mime_type=None, extra=raw)
        )
    with op.batch_alter_table("parts") as batch:
        batch.drop_column("wire")
