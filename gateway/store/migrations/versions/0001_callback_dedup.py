"""callback dedup table

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_dedup",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_callback_dedup_expires_at", "callback_dedup", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_callback_dedup_expires_at", "callback_dedup")
    op.drop_table("callback_dedup")
