"""Prompt presets: named snippets with {placeholders}, shared with the team.

Revision ID: review_0015
Revises: links_0014_upload_notes
"""

import sqlalchemy as sa
from alembic import op

revision = "review_0015"
down_revision = "links_0014_upload_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "presets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("presets")
