"""Indexes for the audit log's actor and action filters (newest first, so the id comes second).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_actor", "audit_events", ["actor", "id"])
    op.create_index("ix_audit_action", "audit_events", ["action", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_action", table_name="audit_events")
    op.drop_index("ix_audit_actor", table_name="audit_events")
