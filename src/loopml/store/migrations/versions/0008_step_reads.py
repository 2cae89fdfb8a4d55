"""Step runs record what they read (cache validity) and why a cached run was not reused; runs their trigger.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("step_runs") as batch:
        batch.add_column(sa.Column("reads", sa.Text(), nullable=True))
        batch.add_column(sa.Column("miss_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.add_column(sa.Column("trigger", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.drop_column("trigger")
    with op.batch_alter_table("step_runs") as batch:
        batch.drop_column("miss_reason")
        batch.drop_column("reads")
