"""Calls to the offline demo model cost nothing: they are never billed. Rows written before
this revision were priced as real calls, so after a team set COMETAPI_KEY they ate into the real
limits and showed as spent. Mark every call the offline model answered (its modelVersion is
"offline-demo") as offline, and zero what offline rows cost, reserve and may have billed.

Revision ID: edges_0012_offline_ledger
Revises: 0009_wire_part_shapes
"""

import sqlalchemy as sa
from alembic import op

revision = "edges_0012_offline_ledger"
down_revision = "0009_wire_part_shapes"
branch_labels = None
depends_on = None

OFFLINE_MODEL_VERSION = "offline-demo"

ledger = sa.table(
    "ledger",
    sa.column("turn_id", sa.Integer),
    sa.column("offline", sa.Boolean),
    sa.column("may_be_billed", sa.Boolean),
    sa.column("estimate_micro", sa.BigInteger),
    sa.column("cost_micro", sa.BigInteger),
    sa.column("history_micro", sa.BigInteger),
)
turns = sa.table(
    "turns",
    sa.column("reply_to_id", sa.Integer),
    sa.column("model_version", sa.String),
    sa.column("cost_micro", sa.BigInteger),
)


def upgrade() -> None:
    answered_offline = sa.select(turns.c.reply_to_id).where(
        turns.c.model_version == OFFLINE_MODEL_VERSION, turns.c.reply_to_id.is_not(None)
    )
    op.execute(ledger.update().where(ledger.c.turn_id.in_(answered_offline)).values(offline=True))
    op.execute(
        ledger.update()
        .where(ledger.c.offline.is_(True))
        .values(
            may_be_billed=False,
            estimate_micro=0,
            cost_micro=sa.case((ledger.c.cost_micro.is_(None), None), else_=0),
            history_micro=sa.case((ledger.c.history_micro.is_(None), None), else_=0),
        )
    )
    op.execute(
        turns.update()
        .where(turns.c.model_version == OFFLINE_MODEL_VERSION, turns.c.cost_micro.is_not(None))
        .values(cost_micro=0)
    )


def downgrade() -> None:
    pass  # what an offline call would have cost is not kept; it was never billed
