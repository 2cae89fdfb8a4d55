"""Promotion decisions: each gate decision on a challenger, with its evidence.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_decisions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("challenger_version", sa.Integer, nullable=False),
        sa.Column("champion_version", sa.Integer, nullable=True),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("metric", sa.String(256), nullable=False),
        sa.Column("champion_score", sa.Float(precision=53), nullable=True),
        sa.Column("challenger_score", sa.Float(precision=53), nullable=True),
        sa.Column("p_value", sa.Float(precision=53), nullable=True),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("trigger", sa.Text, nullable=True),
        sa.Column("dataset_version", sa.Text, nullable=True),
        sa.Column("pipeline_run_id", sa.String(32), nullable=True),
        sa.Column("policy", sa.String(256), nullable=True),
        sa.Column("alias", sa.String(256), nullable=True),
        sa.Column("alias_moved", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_index("ix_model_decisions_model_created", "model_decisions", ["model", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_model_decisions_model_created", table_name="model_decisions")
    op.drop_table("model_decisions")
