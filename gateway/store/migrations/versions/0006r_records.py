"""conversation records (30-day history of inbound and outbound messages, masked)

Revision ID: 0006r
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0006r"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("message_id", sa.String(160), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("customer", sa.String(128), nullable=False),
        sa.Column("advisor_id", sa.String(64)),
        sa.Column("sender", sa.String(80)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("at", sa.Float, nullable=False),
        sa.UniqueConstraint("direction", "message_id", name="uq_records_message"),
    )
    op.create_index("ix_records_customer", "records", ["platform", "account", "customer", "at"])
    op.create_index("ix_records_advisor", "records", ["advisor_id", "at"])
    op.create_index("ix_records_at", "records", ["at"])


def downgrade() -> None:
    op.drop_table("records")
