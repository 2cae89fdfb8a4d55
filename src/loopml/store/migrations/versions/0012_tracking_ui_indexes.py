"""Indexes on the param and tag keys: the runs page's column chooser lists an experiment's distinct keys
with a loose index scan over them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_params_key", "params", ["key"])
    op.create_index("ix_tags_key", "tags", ["key"])


def downgrade() -> None:
    op.drop_index("ix_tags_key", table_name="tags")
    op.drop_index("ix_params_key", table_name="params")
