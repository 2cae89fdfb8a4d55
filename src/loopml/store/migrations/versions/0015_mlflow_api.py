"""MLflow compatibility: soft deletion of experiments and runs, registered-model tags, MLflow model ids of
model versions, run dataset inputs.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="active"))
        batch.add_column(sa.Column("deleted_at", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("updated_at", sa.BigInteger, nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("lifecycle_stage", sa.String(16), nullable=False, server_default="active"))
        batch.add_column(sa.Column("deleted_at", sa.BigInteger, nullable=True))
    with op.batch_alter_table("registered_models") as batch:
        batch.add_column(sa.Column("tags", sa.Text, nullable=False, server_default="{}"))
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("mlflow_model_id", sa.String(64), nullable=True))
    op.create_table(
        "run_inputs",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(500), primary_key=True),
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("source_type", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("schema", sa.Text, nullable=True),
        sa.Column("profile", sa.Text, nullable=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_inputs")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("mlflow_model_id")
    with op.batch_alter_table("registered_models") as batch:
        batch.drop_column("tags")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("lifecycle_stage")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("deleted_at")
        batch.drop_column("lifecycle_stage")
