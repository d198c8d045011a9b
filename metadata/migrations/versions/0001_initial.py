"""Initial schema: runs, executions, artifacts, events, content fingerprints.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Self-contained on purpose: it must keep creating this exact schema after
``metadata/tables.py`` moves on, so it spells the types out instead of
importing them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "headrace_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("started_at", _DATETIME, nullable=False),
        sa.Column("ended_at", _DATETIME),
        sa.Column("pipeline_file", sa.Text()),
        sa.Column("root", sa.Text()),
        sa.Column("spec", _LONG_TEXT),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer()),
    )
    op.create_index("ix_headrace_runs_pipeline_started", "headrace_runs", ["pipeline", "started_at"])

    op.create_table(
        "headrace_executions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("headrace_runs.id"), nullable=False),
        sa.Column("component", sa.String(255), nullable=False),
        sa.Column("component_type", sa.String(255), nullable=False),
        sa.Column("component_version", sa.String(255), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("parameters", _LONG_TEXT),
        sa.Column("cache_key", sa.String(128)),
        sa.Column("cache_inputs", _LONG_TEXT),
        sa.Column("reason", sa.Text()),
        sa.Column("cached_from", sa.Integer(), sa.ForeignKey("headrace_executions.id")),
        sa.Column("started_at", _DATETIME),
        sa.Column("ended_at", _DATETIME),
        sa.Column("error", _LONG_TEXT),
        sa.Column("log_uri", sa.Text()),
        sa.Column("metrics", _LONG_TEXT),
    )
    op.create_index("ix_headrace_executions_run_id", "headrace_executions", ["run_id"])
    op.create_index("ix_headrace_executions_cache_key", "headrace_executions", ["cache_key"])
    op.create_index("ix_headrace_executions_component", "headrace_executions", ["component"])

    op.create_table(
        "headrace_artifacts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("uri_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("properties", _LONG_TEXT),
        sa.Column("fingerprint", sa.String(255)),
        sa.Column("created_at", _DATETIME, nullable=False),
    )
    op.create_index("ix_headrace_artifacts_type", "headrace_artifacts", ["type"])
    op.create_index("ix_headrace_artifacts_uri_hash", "headrace_artifacts", ["uri_hash"])

    op.create_table(
        "headrace_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.Integer(), sa.ForeignKey("headrace_executions.id"), nullable=False),
        sa.Column("artifact_id", sa.Integer(), sa.ForeignKey("headrace_artifacts.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.UniqueConstraint("execution_id", "kind", "name", "artifact_id", name="uq_headrace_events"),
    )
    op.create_index("ix_headrace_events_artifact", "headrace_events", ["artifact_id", "kind"])

    op.create_table(
        "headrace_content_fingerprints",
        sa.Column("uri_hash", sa.String(64), primary_key=True),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "headrace_content_fingerprints",
        "headrace_events",
        "headrace_artifacts",
        "headrace_executions",
        "headrace_runs",
    ):
        op.drop_table(table)
