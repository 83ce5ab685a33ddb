"""Review: comments and status on versions, each person's inbox, the team's brand kit, and the
people seen signed in (for @mentions).

Revision ID: review_0010
Revises: edges_0009_image_originals
"""

import sqlalchemy as sa
from alembic import op

revision = "review_0010"
down_revision = "edges_0009_image_originals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("reply_id", sa.Integer(), sa.ForeignKey("turns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("author_name", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("edited_at", sa.DateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_comments_conversation", "comments", ["conversation_id", "reply_id", "created_at"])
    op.create_index("ix_comments_author", "comments", ["author", "conversation_id"])
    op.create_index("ix_comments_reply_id", "comments", ["reply_id"])
    op.create_table(
        "version_status",
        sa.Column("reply_id", sa.Integer(), sa.ForeignKey("turns.id", ondelete="CASCADE"), primary_key=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_version_status_conversation_id", "version_status", ["conversation_id"])
    op.create_index("ix_version_status_status", "version_status", ["status"])
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("reply_id", sa.Integer(), sa.ForeignKey("turns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("comment_id", sa.Integer(), sa.ForeignKey("comments.id", ondelete="CASCADE"), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_inbox_person", "inbox", ["person", "at"])
    op.create_index("ix_inbox_unread", "inbox", ["person", "read_at"])
    op.create_index("ix_inbox_conversation_id", "inbox", ["conversation_id"])
    op.create_index("ix_inbox_reply_id", "inbox", ["reply_id"])
    op.create_index("ix_inbox_comment_id", "inbox", ["comment_id"])
    op.create_table(
        "kit_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("image_hash", sa.String(64), sa.ForeignKey("images.hash"), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.Column("retired_by", sa.String(200), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_kit_items_image_hash", "kit_items", ["image_hash"])
    op.create_table(
        "people",
        sa.Column("email", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("people")
    op.drop_table("kit_items")
    op.drop_table("inbox")
    op.drop_table("version_status")
    op.drop_table("comments")
