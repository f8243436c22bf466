"""mass-send tasks and their recipients

Revision ID: 0006
Revises: 0006r
Create Date: 2026-11-24

Follows the conversation records' revision 0006r (which also branches from 0005), so the
history keeps a single head for ``alembic upgrade head``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0006r"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mass_tasks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("advisor_id", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("material", sa.Text, nullable=False),
        sa.Column("selector", sa.Text, nullable=False),
        sa.Column("skip_recent", sa.SmallInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("start_at", sa.Float, nullable=False),
        sa.Column("total", sa.Integer),
        sa.Column("batch", sa.Integer, nullable=False, server_default="0"),
        sa.Column("published", sa.Integer, nullable=False, server_default="0"),
        sa.Column("owner", sa.String(64)),
        sa.Column("lease_until", sa.Float, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
    )
    op.create_index("ix_mass_tasks_advisor_id", "mass_tasks", ["advisor_id"])
    op.create_index("ix_mass_tasks_state", "mass_tasks", ["state"])
    op.create_table(
        "mass_recipients",
        sa.Column(
            "task_id",
            sa.String(32),
            sa.ForeignKey("mass_tasks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("customer_id", sa.String(160), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False, unique=True),
        sa.Column("external_id", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("detail", sa.String(256)),
        sa.Column("batch", sa.Integer),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mass_recipients")
    op.drop_index("ix_mass_tasks_state", "mass_tasks")
    op.drop_index("ix_mass_tasks_advisor_id", "mass_tasks")
    op.drop_table("mass_tasks")
