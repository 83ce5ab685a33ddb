"""Conversations, turns, parts and images stored once by content hash.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_conversations_owner", "conversations", ["owner"])
    op.create_index("ix_conversations_updated_at", "conversations", ["updated_at"])
    op.create_table(
        "images",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("mime_type", sa.String(50), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reply_to_id", sa.Integer(), sa.ForeignKey("turns.id", ondelete="CASCADE"), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("error_kind", sa.String(30), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("finish_reason", sa.String(40), nullable=True),
        sa.Column("usage", sa.JSON(), nullable=True),
        sa.Column("model_version", sa.String(100), nullable=True),
        sa.Column("response_id", sa.String(100), nullable=True),
        sa.Column("grounding", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("conversation_id", "position", name="uq_turn_position"),
    )
    op.create_index("ix_turns_conversation_id", "turns", ["conversation_id"])
    op.create_table(
        "parts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("turn_id", sa.Integer(), sa.ForeignKey("turns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("thought", sa.Boolean(), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("mime_type", sa.String(50), nullable=True),
        sa.Column("image_hash", sa.String(64), sa.ForeignKey("images.hash"), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.UniqueConstraint("turn_id", "position", name="uq_part_position"),
    )
    op.create_index("ix_parts_turn_id", "parts", ["turn_id"])
    op.create_index("ix_parts_image_hash", "parts", ["image_hash"])


def downgrade() -> None:
    op.drop_table("parts")
    op.drop_table("turns")
    op.drop_table("images")
    op.drop_table("conversations")
