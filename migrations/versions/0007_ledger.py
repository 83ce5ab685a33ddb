"""The ledger of calls: every HTTP attempt (and each reservation before one), with tokens,
cost and outcome; and each answer's cost on its turn.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

REPORT = (
    "person",
    "at",
    "model",
    "conversation_id",
    "cost_micro",
    "estimate_micro",
    "history_micro",
    "may_be_billed",
    "outcome",
    "attempt",
)


def upgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("cost_micro", sa.BigInteger(), nullable=True))
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("image_size", sa.String(10), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("may_be_billed", sa.Boolean(), nullable=False),
        sa.Column("estimate_micro", sa.BigInteger(), nullable=False),
        sa.Column("cost_micro", sa.BigInteger(), nullable=True),
        sa.Column("history_micro", sa.BigInteger(), nullable=True),
        sa.Column("prompt_text_tokens", sa.Integer(), nullable=True),
        sa.Column("prompt_image_tokens", sa.Integer(), nullable=True),
        sa.Column("output_text_tokens", sa.Integer(), nullable=True),
        sa.Column("output_image_tokens", sa.Integer(), nullable=True),
        sa.Column("thinking_tokens", sa.Integer(), nullable=True),
        sa.Column("history_bytes", sa.Integer(), nullable=True),
        sa.Column("new_bytes", sa.Integer(), nullable=True),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ledger_open", "ledger", ["outcome"])
    # One person's calls by time, and covering the Usage page's grouped scans; the same led by
    # time (the team's month, spend by day) and by conversation (its total). See core.storage.schema.
    op.create_index("ix_ledger_report", "ledger", list(REPORT))
    op.create_index("ix_ledger_time", "ledger", ["at", *(c for c in REPORT if c != "at")])
    op.create_index(
        "ix_ledger_conversation", "ledger", ["conversation_id", *(c for c in REPORT if c != "conversation_id")]
    )
    op.create_index("ix_ledger_turn_id", "ledger", ["turn_id"])


def downgrade() -> None:
    op.drop_table("ledger")
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("cost_micro")
