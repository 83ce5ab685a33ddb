"""Display previews for images, made once on arrival so reruns never re-encode full images.

Images stored before this revision get their preview lazily, the first time they are shown.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("preview", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("preview_mime", sa.String(50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("preview_mime")
        batch.drop_column("preview")
