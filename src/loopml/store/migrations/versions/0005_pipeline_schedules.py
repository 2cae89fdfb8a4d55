"""Pipeline schedules: run a ``MODULE:PIPELINE`` on a cron expression and/or on new dataset versions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-13
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_schedules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("cron", sa.String(128), nullable=True),
        sa.Column("on_dataset", sa.String(256), nullable=True),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("last_run_at", sa.BigInteger, nullable=True),
        sa.Column("last_run_id", sa.String(32), nullable=True),
        sa.Column("last_status", sa.String(16), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("last_dataset_version", sa.Integer, nullable=True),
        sa.Column("next_run_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pipeline_schedules")
