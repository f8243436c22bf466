"""statistics rollup refreshed in the background: the queue of record changes it has not seen

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Until 0007 every records write recomputed the rollup rows it touched in its own transaction,
which cost more than the rest of the webhook path (bench/results/2026-11-22-hotpath.md). From
0008 a write only appends what changed to `stats_pending`, in the same transaction; a background
job (and every statistics query, before it reads) folds the queue into the rollup.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_pending",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("advisor_id", sa.String(64)),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stats_pending")
