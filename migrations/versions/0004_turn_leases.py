"""Turn leases for many processes, stored weights, ids never reused, the right indexes.

- `turns`: lease_owner, lease_until, started_at, finished_at (a turn's life across processes);
  weight (request bytes, measured once here and then whenever a turn is written); rebuilt on
  SQLite with AUTOINCREMENT so a deleted turn's id is never handed out again.
- `parts.snake`: parts received in snake_case are replayed in it.
- Turns left `pending` by the old single-process studio can have no live holder: interrupted.
- Indexes: turns.reply_to_id (a delete cascades through it), in-flight turns by lease; the
  single-column ones that duplicate a unique constraint's leading column are dropped.

Revision ID: 0004
Revises: 0003
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INTERRUPTED = "The studio stopped while this turn was being made. Your words and images are kept; retry it."
# Frozen copies of core/turns/replay.py's units at the time of this revision: a later change of the
# planner comes with its own revision that measures again.
CONTENT_OVERHEAD = 64
PART_OVERHEAD = 96


def _part_weight(kind, text, signature, mime, extra, image_size) -> int:  # type: ignore[no-untyped-def]
    size = PART_OVERHEAD
    extra_len = len(json.dumps(extra, ensure_ascii=False).encode()) if extra else 0
    if kind == "other":
        return size + extra_len
    if kind == "text" and text is not None:
        size += len(json.dumps(text, ensure_ascii=False).encode())
    if image_size is not None:
        size += 4 * ((image_size + 2) // 3) + len(mime or "")
    if signature is not None:
        size += len(signature)
    return size + extra_len


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    with op.batch_alter_table(
        "turns", recreate="always" if sqlite else "auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(100), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("started_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("finished_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("weight", sa.Integer(), nullable=True))
        batch.drop_index("ix_turns_conversation_id")
        batch.create_index("ix_turns_reply_to_id", ["reply_to_id"])
        batch.create_index("ix_turns_in_flight", ["status", "lease_until"])
    with op.batch_alter_table("parts") as batch:
        batch.add_column(sa.Column("snake", sa.Boolean(), nullable=True))
        batch.drop_index("ix_parts_turn_id")

    turns = sa.table(
        "turns",
        sa.column("id", sa.Integer),
        sa.column("role", sa.String),
        sa.column("status", sa.String),
        sa.column("error_kind", sa.String),
        sa.column("error_message", sa.Text),
        sa.column("weight", sa.Integer),
    )
    bind.execute(
        turns.update()
        .where(turns.c.status == "pending")
        .values(status="interrupted", error_kind="interrupted", error_message=INTERRUPTED)
    )
    # Weights, turn by turn, without holding every signature in memory at once.
    parts = sa.table(
        "parts",
        sa.column("turn_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("text", sa.Text),
        sa.column("signature", sa.Text),
        sa.column("mime_type", sa.String),
        sa.column("extra", sa.JSON),
        sa.column("image_hash", sa.String),
    )
    images = sa.table("images", sa.column("hash", sa.String), sa.column("size_bytes", sa.Integer))
    ids = [row[0] for row in bind.execute(sa.select(turns.c.id))]
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        weights = dict.fromkeys(chunk, CONTENT_OVERHEAD)
        query = (
            sa.select(parts, images.c.size_bytes)
            .select_from(parts.outerjoin(images, images.c.hash == parts.c.image_hash))
            .where(parts.c.turn_id.in_(chunk))
        )
        for row in bind.execute(query):
            weights[row.turn_id] += _part_weight(
                row.kind, row.text, row.signature, row.mime_type, row.extra, row.size_bytes
            )
        for turn_id, weight in weights.items():
            bind.execute(turns.update().where(turns.c.id == turn_id).values(weight=weight))


def downgrade() -> None:
    with op.batch_alter_table("parts") as batch:
        batch.create_index("ix_parts_turn_id", ["turn_id"])
        batch.drop_column("snake")
    with op.batch_alter_table("turns") as batch:
        batch.drop_index("ix_turns_in_flight")
        batch.drop_index("ix_turns_reply_to_id")
        batch.create_index("ix_turns_conversation_id", ["conversation_id"])
        for column in ("weight", "finished_at", "started_at", "lease_until", "lease_owner"):
            batch.drop_column(column)
