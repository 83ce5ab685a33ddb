"""What was done to an upload on its way in ("sent at 2048×1365", "location removed"), kept with
the stored image and shown at the turn that carries it, not only in a toast.

Revision ID: links_0014_upload_notes
Revises: demo_0013_featured_visitors
"""

import sqlalchemy as sa
from alembic import op

revision = "links_0014_upload_notes"
down_revision = "demo_0013_featured_visitors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("upload_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("upload_note")
