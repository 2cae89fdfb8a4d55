"""Pipelines: one row per pipeline run and one per step run (status, cache key, artifacts, logs).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("pipeline", sa.String(256), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("resumed_from", sa.String(32), nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_index("ix_pipeline_runs_pipeline_start", "pipeline_runs", ["pipeline", "start_time"])
    op.create_index("ix_pipeline_runs_start", "pipeline_runs", ["start_time"])
    op.create_table(
        "step_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "pipeline_run_id", sa.String(32), sa.ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("upstream", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=True),
        sa.Column("cache_hit", sa.Boolean, nullable=False),
        sa.Column("reused_from", sa.String(32), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=True),
        sa.Column("end_time", sa.BigInteger, nullable=True),
        sa.Column("duration_ms", sa.BigInteger, nullable=True),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("logs", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("traceback", sa.Text, nullable=True),
        sa.UniqueConstraint("pipeline_run_id", "name", name="uq_step_run_name"),
    )
    op.create_index("ix_step_runs_cache_key", "step_runs", ["cache_key"])


def downgrade() -> None:
    op.drop_index("ix_step_runs_cache_key", table_name="step_runs")
    op.drop_table("step_runs")
    op.drop_index("ix_pipeline_runs_start", table_name="pipeline_runs")
    op.drop_index("ix_pipeline_runs_pipeline_start", table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
