"""Feature store: versioned feature definitions and the record of every materialisation.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_definitions",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("spec_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
    )
    op.create_index("ix_feature_definitions_name", "feature_definitions", ["name"])
    op.create_table(
        "feature_materializations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("view", sa.String(128), nullable=False),
        sa.Column("view_version", sa.Integer, nullable=False),
        sa.Column("online_store", sa.Text, nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("ended_at", sa.BigInteger, nullable=True),
        sa.Column("rows_read", sa.BigInteger, nullable=False),
        sa.Column("entities_written", sa.BigInteger, nullable=False),
        sa.Column("newest_event_ms", sa.BigInteger, nullable=True),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_index("ix_feature_materializations_view_started", "feature_materializations", ["view", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_feature_materializations_view_started", table_name="feature_materializations")
    op.drop_table("feature_materializations")
    op.drop_index("ix_feature_definitions_name", table_name="feature_definitions")
    op.drop_table("feature_definitions")
