"""Retrain policies, their cycles, and the lock that lets one retrain per model run at a time.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retrain_policies",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_index("ix_retrain_policies_model", "retrain_policies", ["model"])
    op.create_table(
        "retrain_cycles",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("policy", sa.String(256), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("triggers", sa.Text, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("ended_at", sa.BigInteger, nullable=True),
        sa.Column("dataset_version", sa.Text, nullable=True),
        sa.Column("pipeline_run_id", sa.String(32), nullable=True),
        sa.Column("challenger_version", sa.Integer, nullable=True),
        sa.Column("decision_id", sa.String(32), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_index("ix_retrain_cycles_policy_started", "retrain_cycles", ["policy", "started_at"])
    op.create_index("ix_retrain_cycles_model_started", "retrain_cycles", ["model", "started_at"])
    op.create_table(
        "retrain_locks",
        sa.Column("model", sa.String(256), primary_key=True),
        sa.Column("cycle_id", sa.String(32), nullable=False),
        sa.Column("acquired_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("retrain_locks")
    op.drop_index("ix_retrain_cycles_model_started", table_name="retrain_cycles")
    op.drop_index("ix_retrain_cycles_policy_started", table_name="retrain_cycles")
    op.drop_table("retrain_cycles")
    op.drop_index("ix_retrain_policies_model", table_name="retrain_policies")
    op.drop_table("retrain_policies")
