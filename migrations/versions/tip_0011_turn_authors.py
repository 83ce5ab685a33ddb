"""Who made each turn: a copy keeps the people who made its turns (Bob's copy of Ann's
conversation credits Ann's turns to Ann). Existing turns are credited to their conversation's
owner, the only person who could send in it.

Revision ID: tip_0011_turn_authors
Revises: review_0010
"""

import sqlalchemy as sa
from alembic import op

revision = "tip_0011_turn_authors"
down_revision = "review_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("turns")}
    if "author" not in columns:
        with op.batch_alter_table("turns") as batch:
            batch.add_column(sa.Column("author", sa.String(200), nullable=True))
    turns = sa.table("turns", sa.column("author", sa.String), sa.column("conversation_id", sa.String))
    conversations = sa.table("conversations", sa.column("id", sa.String), sa.column("owner", sa.String))
    owner = sa.select(conversations.c.owner).where(conversations.c.id == turns.c.conversation_id).scalar_subquery()
    op.get_bind().execute(turns.update().where(turns.c.author.is_(None)).values(author=owner))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("author")
