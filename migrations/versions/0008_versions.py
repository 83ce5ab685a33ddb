"""Versions: each request names the answer it edits (its parent), and a conversation names its
current version (the tip), so a conversation is a tree of branches rather than one line.

Existing conversations become a single branch: each request's parent is the newest answer that
was replayed before it, and the tip is the newest answer replayed. A turn also keeps the marks
a person drew on the image it edits.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("marks", sa.JSON(), nullable=True))
        batch.create_index("ix_turns_parent_id", ["parent_id"])
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("tip_id", sa.Integer(), nullable=True))
    bind = op.get_bind()
    turns = sa.table(
        "turns",
        sa.column("id", sa.Integer),
        sa.column("conversation_id", sa.String),
        sa.column("role", sa.String),
        sa.column("position", sa.Integer),
        sa.column("status", sa.String),
        sa.column("reply_to_id", sa.Integer),
        sa.column("parent_id", sa.Integer),
    )
    conversations = sa.table("conversations", sa.column("id", sa.String), sa.column("tip_id", sa.Integer))
    rows = bind.execute(
        sa.select(turns.c.id, turns.c.conversation_id, turns.c.role, turns.c.status, turns.c.reply_to_id).order_by(
            turns.c.conversation_id, turns.c.position
        )
    ).all()
    ok_requests = {r.id for r in rows if r.role == "user" and r.status == "ok"}
    current: dict[str, int | None] = {}
    for row in rows:
        if row.role == "user":
            parent = current.get(row.conversation_id)
            if parent is not None:
                bind.execute(turns.update().where(turns.c.id == row.id).values(parent_id=parent))
        elif row.status == "ok" and row.reply_to_id in ok_requests:
            current[row.conversation_id] = row.id
    for conversation_id, tip in current.items():
        bind.execute(conversations.update().where(conversations.c.id == conversation_id).values(tip_id=tip))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("tip_id")
    with op.batch_alter_table("turns") as batch:
        batch.drop_index("ix_turns_parent_id")
        batch.drop_column("marks")
        batch.drop_column("parent_id")
