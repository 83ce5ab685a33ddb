"""A public demo safe to open to strangers: conversations an admin features as examples, and
visitors with the network address they came from (per-address limits, retention).

Revision ID: demo_0013_featured_visitors
Revises: 0009_flow_waiting
"""

import sqlalchemy as sa
from alembic import op

revision = "demo_0013_featured_visitors"
down_revision = "0009_flow_waiting"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "featured",
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("featured_by", sa.String(200), nullable=False),
        sa.Column("featured_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "visitors",
        sa.Column("person", sa.String(200), primary_key=True),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_visitors_address", "visitors", ["address", "first_seen"])
    op.create_index("ix_visitors_last_seen", "visitors", ["last_seen"])


def downgrade() -> None:
    op.drop_index("ix_visitors_last_seen", "visitors")
    op.drop_index("ix_visitors_address", "visitors")
    op.drop_table("visitors")
    op.drop_table("featured")
