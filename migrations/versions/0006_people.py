"""People: who may read a conversation, the trash, share links, the audit log, favourites.

Existing conversations stay private to their owner; ones with no owner (made before people
existed) belong to the embedded studio's local person.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LOCAL_EMAIL = "you@localhost"


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("visibility", sa.String(10), nullable=False, server_default="private"))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("share_token", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_conversations_share_token", ["share_token"])
        batch.create_index("ix_conversations_visibility", ["visibility", "updated_at"])
    conversations = sa.table("conversations", sa.column("owner", sa.String))
    op.get_bind().execute(conversations.update().where(conversations.c.owner.is_(None)).values(owner=LOCAL_EMAIL))
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    # The gallery: every result, newest first, and each person's favourites.
    op.create_index("ix_turns_results", "turns", ["role", "status", "created_at"])
    op.create_table(
        "favourites",
        sa.Column("person", sa.String(200), primary_key=True),
        sa.Column("turn_id", sa.Integer(), sa.ForeignKey("turns.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_favourites_turn_id", "favourites", ["turn_id"])


def downgrade() -> None:
    op.drop_table("favourites")
    op.drop_index("ix_turns_results", "turns")
    op.drop_table("audit")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_visibility")
        batch.drop_constraint("uq_conversations_share_token", type_="unique")
        for column in ("share_token", "deleted_at", "visibility"):
            batch.drop_column(column)
