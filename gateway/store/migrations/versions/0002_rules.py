"""word lists, keyword rules and the rules revision counter

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "word_lists",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "keyword_rules",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    revisions = op.create_table(
        "rules_revision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
    )
    op.bulk_insert(revisions, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    op.drop_table("rules_revision")
    op.drop_table("keyword_rules")
    op.drop_table("word_lists")
