"""A running turn's live progress while its answer streams (STUDIO_STREAM=1): the latest thought
summary and draft image, one row per turn, gone when the turn ends.

Revision ID: stream_0016_turn_progress
Revises: review_0015
"""

import sqlalchemy as sa
from alembic import op

revision = "stream_0016_turn_progress"
down_revision = "review_0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "turn_progress",
        sa.Column("turn_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("thought", sa.Text(), nullable=True),
        sa.Column("draft_hash", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("turn_progress")
