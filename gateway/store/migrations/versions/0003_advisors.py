"""advisors, groups, customers, bindings, scenes, advisor settings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "advisors",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("nickname", sa.String(64), nullable=False),
        sa.Column("avatar_url", sa.String(1024)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("welcome", sa.Text),
        sa.Column("offline_reply", sa.Text),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("bound_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.CheckConstraint("bound_count >= 0 AND bound_count <= capacity", name="ck_capacity"),
    )
    op.create_table(
        "advisor_groups",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column(
            "group_id",
            sa.String(64),
            sa.ForeignKey("advisor_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "advisor_id",
            sa.String(64),
            sa.ForeignKey("advisors.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_group_members_advisor", "group_members", ["advisor_id"])
    op.create_table(
        "customers",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("union_id", sa.String(128)),
        sa.Column("nickname", sa.String(128)),
        sa.Column("remark", sa.String(256)),
        sa.Column("region", sa.String(64)),
        sa.Column("tags", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "customer_handles",
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("external_id", sa.String(128), primary_key=True),
        sa.Column(
            "customer_id",
            sa.String(160),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_index("ix_customer_handles_customer", "customer_handles", ["customer_id"])
    op.create_table(
        "bindings",
        sa.Column(
            "customer_id",
            sa.String(160),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "advisor_id",
            sa.String(64),
            sa.ForeignKey("advisors.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("scene", sa.String(64)),
        sa.Column("bound_at", sa.Float, nullable=False),
    )
    op.create_index("ix_bindings_advisor", "bindings", ["advisor_id", "bound_at"])
    op.create_table(
        "scenes",
        sa.Column("value", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "offline_replies",
        sa.Column("customer_id", sa.String(160), primary_key=True),
        sa.Column("advisor_id", sa.String(64), primary_key=True),
        sa.Column("sent_at", sa.Float, nullable=False),
    )
    settings = op.create_table(
        "advisor_settings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
    )
    op.bulk_insert(settings, [{"id": 1, "doc": "{}", "revision": 0}])


def downgrade() -> None:
    for table in (
        "advisor_settings",
        "offline_replies",
        "scenes",
        "bindings",
        "customer_handles",
        "customers",
        "group_members",
        "advisor_groups",
        "advisors",
    ):
        op.drop_table(table)
