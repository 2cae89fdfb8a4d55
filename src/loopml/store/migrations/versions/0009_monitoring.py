"""Monitoring: feedback labels, alerts (one firing per rule and model), report records, reference profiles.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_FIRING = sa.text("state = 'firing'")


def upgrade() -> None:
    op.create_table(
        "monitor_feedback",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("row", sa.Integer, primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("predicted_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_monitor_feedback_model_predicted", "monitor_feedback", ["model", "predicted_at"])
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("rule", sa.String(256), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("threshold", sa.Float(precision=53), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("window", sa.String(64), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("report_uri", sa.Text, nullable=True),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("resolved_at", sa.BigInteger, nullable=True),
        sa.Column("occurrences", sa.Integer, nullable=False),
    )
    op.create_index("ix_monitor_alerts_model_started", "monitor_alerts", ["model", "started_at"])
    op.create_index("ix_monitor_alerts_state", "monitor_alerts", ["state"])
    op.create_index("ix_monitor_alerts_rule", "monitor_alerts", ["rule"])
    op.create_index(
        "uq_monitor_alerts_firing",
        "monitor_alerts",
        ["rule", "model"],
        unique=True,
        sqlite_where=_FIRING,
        postgresql_where=_FIRING,
    )
    op.create_table(
        "monitor_reports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
    )
    op.create_index("ix_monitor_reports_model_created", "monitor_reports", ["model", "created_at"])
    op.create_table(
        "monitor_profiles",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("n_rows", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("monitor_profiles")
    op.drop_index("ix_monitor_reports_model_created", table_name="monitor_reports")
    op.drop_table("monitor_reports")
    for name in (
        "uq_monitor_alerts_firing",
        "ix_monitor_alerts_rule",
        "ix_monitor_alerts_state",
        "ix_monitor_alerts_model_started",
    ):
        op.drop_index(name, table_name="monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_index("ix_monitor_feedback_model_predicted", table_name="monitor_feedback")
    op.drop_table("monitor_feedback")
