"""Messages typed ahead: a message sent while the tab's own turn is being made waits in the
database, in order, and goes when that turn lands (it survives a restart).

Revision ID: 0009_flow_waiting
Revises: edges_0012_offline_ledger
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_flow_waiting"
down_revision = "edges_0012_offline_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waiting_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("after_turn_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("image_hashes", sa.JSON(), nullable=False),
        sa.Column("takes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_waiting_messages_conversation_id", "waiting_messages", ["conversation_id"])
    op.create_index("ix_waiting_messages_after_turn_id", "waiting_messages", ["after_turn_id"])
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("typed_ahead", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("typed_ahead")
    op.drop_index("ix_waiting_messages_after_turn_id", "waiting_messages")
    op.drop_index("ix_waiting_messages_conversation_id", "waiting_messages")
    op.drop_table("waiting_messages")
