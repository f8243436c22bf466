"""outbound requests (idempotency), reply windows and proactive touches

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbound_requests",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("receipt", sa.Text),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_outbound_requests_expires_at", "outbound_requests", ["expires_at"])
    op.create_table(
        "outbound_windows",
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("customer", sa.String(128), primary_key=True),
        sa.Column("last_action_at", sa.Float, nullable=False),
        sa.Column("count_since", sa.Float, nullable=False),
        sa.Column("replies", sa.Integer, nullable=False),
    )
    op.create_index("ix_outbound_windows_last_action_at", "outbound_windows", ["last_action_at"])
    op.create_table(
        "outbound_touches",
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("customer", sa.String(128), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("touches", sa.Integer, nullable=False),
        sa.Column("touch_started_at", sa.Float, nullable=False),
        sa.Column("touch_messages", sa.Integer, nullable=False),
    )
    op.create_index("ix_outbound_touches_month", "outbound_touches", ["month"])


def downgrade() -> None:
    op.drop_index("ix_outbound_touches_month", "outbound_touches")
    op.drop_table("outbound_touches")
    op.drop_index("ix_outbound_windows_last_action_at", "outbound_windows")
    op.drop_table("outbound_windows")
    op.drop_index("ix_outbound_requests_expires_at", "outbound_requests")
    op.drop_table("outbound_requests")
