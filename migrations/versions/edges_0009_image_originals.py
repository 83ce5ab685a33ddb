"""Images by the original they point to: deleting forever asks, per image, whether a kept
upload still points to it as its full-size original; without an index that is a full scan.

Revision ID: edges_0009_image_originals
Revises: 0008
"""

from alembic import op

revision = "edges_0009_image_originals"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_images_original_hash", "images", ["original_hash"])


def downgrade() -> None:
    op.drop_index("ix_images_original_hash", table_name="images")
