"""MLflow 3 logged models: the model, its files (content-addressed blobs), and the runs that output it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logged_models",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("experiment_id", sa.String(32), sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("source_run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("model_type", sa.String(256), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_message", sa.Text, nullable=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="active"),
        sa.Column("deleted_at", sa.BigInteger, nullable=True),
        sa.Index("ix_logged_models_experiment_created", "experiment_id", "created_at"),
        sa.Index("ix_logged_models_source_run", "source_run_id"),
    )
    op.create_table(
        "logged_model_artifacts",
        sa.Column("model_id", sa.String(64), sa.ForeignKey("logged_models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "run_model_outputs",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model_id", sa.String(64), sa.ForeignKey("logged_models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("step", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_model_outputs")
    op.drop_table("logged_model_artifacts")
    op.drop_table("logged_models")
